"""Scoring a trained surrogate on a named split (docs/architecture.md §7).

:func:`evaluate_model` runs the generator (``eval()``: no dropout, running batch-norm statistics)
on one subset of one split and returns per-sample metrics on the [0, 1] scale (MSE, SSIM with a
Gaussian window 11 / σ 1.5 / data range 1, PSNR [dB]). :func:`write_evaluation` writes::

    per_sample.csv   sample_id, family, spacegroup, mse, ssim, psnr, the charge columns
                     (base_id, charge_state, delta, charge_r, charge_rms_ratio, delta_pred, delta_error)
                     and, for a two-channel target, mse_<kind>, ssim_<kind>, psnr_<kind> of the second
    per_group.csv    per space group: n, mean and std of mse, ssim, psnr
    metrics.json     direction, model, seed, split, subset, n, mse, ssim, psnr (+ std, checkpoint),
                     n_series, charge_r, charge_rms_ratio, delta_rmse (:mod:`.charge_metrics`), dataset_hash
    predictions.tif  every prediction of the subset in raw physical units, n × C images (C target
                     kinds), sample ids in its metadata (:func:`.stored.read_predictions`); the figures show these

``mse``, ``ssim`` and ``psnr`` score the first target channel (the total EDD, or the LACBED disc);
a second channel (the deformation density) is scored in its own columns. The charge metrics score
the change between charge states of each base crystal (:mod:`.charge_metrics`): on the LACBED for
``edd2lacbed``, on the deformation density (else the total EDD) for ``lacbed2edd``, which also reads
the transfer δ from the prediction.

Aggregates: ``mse`` and ``ssim`` are means over samples; ``psnr`` is 10·log10(1/mean MSE) (the
pooled PSNR that ``torchmetrics.PeakSignalNoiseRatio`` accumulates; finite unless every prediction
is perfect). :func:`write_summary` gathers several runs into ``results/metrics/summary.csv``
(columns ``direction, model, seed, split, n, mse, ssim, psnr, charge_r, charge_rms_ratio, delta_rmse``)
and :func:`aggregate_seeds` gives
mean ± std over seeds.
"""

from __future__ import annotations

import io as _io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from ..dataset.splits import canonical_group
from ..dataset.torch_dataset import PairedImageDataset, denormalise
from ..errors import InputError
from ..io import read_json, write_text_atomic
from .checkpoint import checkpoint_json, generator_from_checkpoint, load_checkpoint
from .config import TrainConfig
from .charge_metrics import aggregate_charge, charge_kind, charge_table
from .metrics import image_metrics, psnr_from_mse
from ..layout import file_sha256, write_predictions
from ..device import resolve_device

SUMMARY_COLUMNS = ("direction", "model", "seed", "split", "n", "mse", "ssim", "psnr", "charge_r", "charge_rms_ratio", "delta_rmse")
#: columns a metrics.json must have (older ones lack the charge metrics)
REQUIRED_COLUMNS = SUMMARY_COLUMNS[:8]
METRICS = ("mse", "ssim", "psnr")
CHARGE_METRICS = ("charge_r", "charge_rms_ratio", "delta_rmse")


@torch.no_grad()
def predict_batches(generator: torch.nn.Module, loader: DataLoader, device: torch.device) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """(prediction, target) per batch, on the CPU, predictions clamped to [0, 1]."""
    generator.eval().to(device)
    for x, y, *_ in loader:
        yield generator(x.to(device)).float().clamp(0.0, 1.0).cpu(), y


@dataclass
class Evaluation:
    """One checkpoint scored on one subset: per-sample metrics, their aggregate, and the
    predictions themselves, (n, C, side, side) float32 in the raw physical units of the C target
    kinds (``summary["target_kinds"]``; the [0, 1] prediction denormalised with the dataset's
    constants), rows in the order of ``per_sample``."""

    per_sample: pd.DataFrame
    summary: dict[str, Any]
    predictions: np.ndarray


def evaluate_model(checkpoint: str | os.PathLike[str], dataset_dir: str | os.PathLike[str],
                   **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-sample metrics and the aggregate of one checkpoint (:func:`evaluate`'s keywords:
    ``split``, ``subset``, ``batch_size``, ``device``), without the predictions."""
    done = evaluate(checkpoint, dataset_dir, **options)
    return done.per_sample, done.summary


def evaluate(
    checkpoint: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str],
    *,
    split: str,
    subset: str = "test",
    batch_size: int = 64,
    device: str = "auto",
) -> Evaluation:
    """Score one checkpoint on ``split``/``subset``: metrics and predictions (:class:`Evaluation`).

    The direction comes from the checkpoint; the dataset must be the one it was trained on (same
    normalisation), else a clear error.
    """
    from ..dataset.integrity import verify_dataset

    ckpt = load_checkpoint(checkpoint)
    data_desc = checkpoint_json(ckpt, "data_json")
    train_desc = checkpoint_json(ckpt, "train_json")
    verify_dataset(dataset_dir, split=split)  # the stacks, manifest and split dataset.json describes
    data = PairedImageDataset(dataset_dir, direction=data_desc["direction"], split=split, subset=subset,
                              input=train_desc.get("input", TrainConfig.input), target=train_desc.get("target", TrainConfig.target))
    if {k: data.info["normalisation"].get(k) for k in data_desc["normalisation"]} != data_desc["normalisation"]:
        raise InputError(
            "the dataset's normalisation differs from the one the model was trained with (another dataset?)",
            path=Path(dataset_dir) / "dataset.json",
            field="normalisation",
        )
    if split == data_desc.get("split") and data_desc.get("split_hash") not in (None, data.split_hash):
        raise InputError(
            f"split {split!r} has other subsets than when the model was trained (split_fractions or seed changed?): "
            "its test samples could be training samples; retrain the model",
            path=Path(dataset_dir) / "splits" / f"{split}.csv",
            field="split_hash",
        )
    generator = generator_from_checkpoint(ckpt)
    loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    kinds = data.target_kinds
    suffixes = ["" if c == 0 else f"_{kind}" for c, kind in enumerate(kinds)]  # first channel: the headline columns
    parts: dict[str, list[torch.Tensor]] = {k + sfx: [] for k in METRICS for sfx in suffixes}
    scored = kinds.index(charge_kind(kinds))
    truths, every = [], []
    for pred, target in predict_batches(generator, loader, resolve_device(device)):
        for c, sfx in enumerate(suffixes):
            for k, v in image_metrics(pred[:, c : c + 1], target[:, c : c + 1]).items():
                parts[k + sfx].append(v)
        truths.append(target[:, scored].numpy())
        every.append(pred.numpy())
    rows = data.rows()
    per_sample = pd.DataFrame({"sample_id": rows["sample_id"]})
    for col in ("family", "spacegroup"):
        if col in rows:
            per_sample[col] = rows[col].to_numpy()
    for k in parts:
        per_sample[k] = torch.cat(parts[k]).numpy().astype(float) if parts[k] else np.zeros(0)
    side = data.side
    predicted = np.concatenate(every) if every else np.zeros((0, len(kinds), side, side), np.float32)  # [0, 1] scale
    charges = charge_table(rows, predicted[:, scored],
                           np.concatenate(truths) if truths else np.zeros((0, side, side)), with_delta=kinds[0] != "lacbed")
    per_sample = pd.concat([per_sample, charges], axis=1)
    extra = {f"{k}{sfx}": float(per_sample[f"{k}{sfx}"].mean()) if len(per_sample) else math.nan
             for sfx in suffixes[1:] for k in ("mse", "ssim")}
    summary = {
        "direction": data_desc["direction"],
        "model": train_desc["model"],
        "seed": int(ckpt["seed"]),
        "split": split,
        "subset": subset,
        "checkpoint": str(ckpt["path"]),
        "target_kinds": list(kinds),
        "charge_kind": kinds[scored],
        "dataset_hash": data.info.get("dataset_hash"),
        "checkpoint_sha256": file_sha256(ckpt["path"]),
        **aggregate(per_sample),
        **extra,
        **aggregate_charge(charges),
    }
    for c, kind in enumerate(kinds):  # in place: the charge table above is computed already
        predicted[:, c] = denormalise(predicted[:, c], data.info["normalisation"][kind])
    return Evaluation(per_sample, summary, predicted.astype(np.float32))


def aggregate(per_sample: pd.DataFrame) -> dict[str, Any]:
    """n, mean MSE/SSIM (+ std), pooled PSNR 10·log10(1/mean MSE) and the std of per-sample PSNR."""
    n = len(per_sample)
    if n == 0:
        return {"n": 0, **{k: math.nan for k in METRICS}}
    mse = float(per_sample["mse"].mean())
    psnr = per_sample["psnr"].to_numpy()
    finite = psnr[np.isfinite(psnr)]
    return {
        "n": n,
        "mse": mse,
        "ssim": float(per_sample["ssim"].mean()),
        "psnr": psnr_from_mse(mse),
        "mse_std": float(per_sample["mse"].std(ddof=0)),
        "ssim_std": float(per_sample["ssim"].std(ddof=0)),
        "psnr_std": float(finite.std()) if len(finite) else math.nan,
    }


def per_group(per_sample: pd.DataFrame) -> pd.DataFrame:
    """Aggregates per space group (white space removed from the symbol)."""
    if "spacegroup" not in per_sample or per_sample.empty:
        return pd.DataFrame(columns=["spacegroup", "n", *METRICS])
    groups = per_sample.assign(spacegroup=per_sample["spacegroup"].map(canonical_group))
    rows = []
    for group, frame in groups.groupby("spacegroup", sort=True):
        agg = aggregate(frame)
        rows.append({"spacegroup": group, **agg})
    return pd.DataFrame(rows)


def _csv_text(frame: pd.DataFrame) -> str:
    buffer = _io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def write_evaluation(out_dir: str | os.PathLike[str], per_sample: pd.DataFrame, summary: Mapping[str, Any],
                     predictions: np.ndarray | None = None) -> None:
    """Write ``per_sample.csv``, ``per_group.csv`` and ``metrics.json`` into ``out_dir``, and with
    ``predictions`` also ``predictions.tif`` (:func:`.stored.read_predictions`), written first so that
    metrics.json, the rule's output, is never there without it."""
    out = Path(out_dir)
    if predictions is not None:
        write_predictions(out, predictions, [str(v) for v in per_sample["sample_id"]], summary)
    write_text_atomic(out / "per_sample.csv", _csv_text(per_sample))
    write_text_atomic(out / "per_group.csv", _csv_text(per_group(per_sample)))
    write_text_atomic(out / "metrics.json", json.dumps({k: _json_safe(v) for k, v in summary.items()}, indent=2, sort_keys=True) + "\n")


def read_metrics(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Read several ``metrics.json`` files (from :func:`write_evaluation`)."""
    out = []
    for p in paths:
        path = Path(p)
        row = read_json(path, missing="metrics file not found")
        missing = [k for k in REQUIRED_COLUMNS if not isinstance(row, dict) or k not in row]
        if missing:
            raise InputError(f"not a metrics.json of `lacbed-bridge evaluate`: missing {missing}", path=path)
        out.append(row)
    return out


def summary_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (direction, model, seed, split) with the columns of :data:`SUMMARY_COLUMNS`
    (charge metrics empty where a metrics file has none)."""
    frame = pd.DataFrame([{k: row.get(k) for k in SUMMARY_COLUMNS} for row in rows], columns=list(SUMMARY_COLUMNS))
    for k in (*METRICS, *CHARGE_METRICS):
        frame[k] = pd.to_numeric(frame[k].replace({"inf": math.inf}), errors="coerce")
    return frame.sort_values(["direction", "model", "split", "seed"], kind="stable").reset_index(drop=True)


def write_summary(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> pd.DataFrame:
    """Write ``summary.csv`` (docs/architecture.md §7 columns ``direction, model, seed, split, n, mse, ssim, psnr``)."""
    frame = summary_frame(rows)
    write_text_atomic(path, _csv_text(frame))
    return frame


def aggregate_seeds(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std (sample std, ddof = 1; 0 for one seed) over seeds per (direction, model, split).

    Columns: direction, model, split, n_seeds, n (test samples per seed, the mean), and
    ``<metric>_mean``, ``<metric>_std`` for mse, ssim, psnr and the charge metrics (NaN-aware).
    """
    rows = []
    for key, frame in summary.groupby(["direction", "model", "split"], sort=True):
        row: dict[str, Any] = dict(zip(("direction", "model", "split"), key))
        row["n_seeds"] = int(frame["seed"].nunique())
        row["n"] = float(frame["n"].mean())
        for k in METRICS:
            values = frame[k].to_numpy(dtype=float)
            row[f"{k}_mean"] = float(values.mean())
            row[f"{k}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        for k in CHARGE_METRICS:
            values = frame[k].to_numpy(dtype=float) if k in frame else np.zeros(0)
            values = values[np.isfinite(values)]
            row[f"{k}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{k}_std"] = float(values.std(ddof=1)) if len(values) > 1 else (0.0 if len(values) else math.nan)
        rows.append(row)
    return pd.DataFrame(rows)
