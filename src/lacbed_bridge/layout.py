"""The tree under ``results/`` (one place that spells it) and the stored-prediction format.

Every path a workflow rule writes or reads, the figures read and the refine study reads is built
here from the results root (``output.results`` of the config). The methods take the wildcard
values and default to Snakemake's wildcard names, so a rule writes
``RESULTS.checkpoint()`` for ``results/models/{direction}/{model}/seed{seed}/model.pt`` and a
figure writes ``RESULTS.checkpoint("lacbed2edd", "pix2pix", 0)``::

    results/
      variants/<family>/variants.csv, <sample>.cif       crystals of a family (variants rule)
      lacbed/<family>/batch_<b>.csv, <sample>.tif        simulated discs (simulate rule)
      edd/<family>/…, deformation/<family>/…             projected densities (edd rule)
      dataset/dataset.json, manifest.csv, edd.tif, lacbed.tif, deformation.tif,
              splits/<split>.csv                         the stacked dataset (dataset rule)
      models/<direction>/<model>/seed<s>/model.pt, last.pt, train_log.csv, model.json
                                                         image models (train rule)
      models/estimator/seed<s>/model.pt, last.pt, train_log.csv    charge estimator (train_estimator)
      metrics/<direction>/<model>/seed<s>/metrics.json, per_sample.csv, per_group.csv,
              predictions.tif                            test scores and predictions (evaluate rule)
      metrics/estimator/seed<s>/metrics.json, per_sample.csv, per_group.csv   (evaluate_estimator)
      metrics/summary.csv, summary_seeds.csv             per model and seed; over seeds (metrics_summary)
      benchmarks/surrogate.json                          (benchmark_surrogate rule)
      figures/<name>.png, .pdf                           (figures rule)
      refine/summary.json, per_sample.csv, recovered_delta.png, .pdf   (refine_test rule)

Stored predictions (``predictions.tif`` of an evaluation folder): n × C float32 images (C target
kinds per sample, in raw physical units: EDD e/Å², LACBED intensity per unit incident beam), the
metadata naming ``sample_ids`` (row order), ``target_kinds``, ``channels``, ``dataset_hash``,
``checkpoint_sha256``, ``split`` and ``subset``; figures show them without loading a model.

Light to import (NumPy and the TIFF helpers only where predictions are read or written): the
Snakefile, the command-line parser and the figures import it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dataset import DIRECTIONS  # the image-to-image directions: folder names under models/ and metrics/
from .errors import InputError

if TYPE_CHECKING:
    import numpy as np

#: Folder of the charge estimator under models/ and metrics/.
ESTIMATOR = "estimator"
#: The dataset's files (dataset rule outputs) besides the split tables.
DATASET_FILES = ("dataset.json", "manifest.csv", "edd.tif", "lacbed.tif", "deformation.tif")
#: The files a training writes (``last.pt``: the resumable state; ``model.json``: image models only).
MODEL_FILES = ("model.pt", "last.pt", "train_log.csv", "model.json")
#: The files an evaluation writes beside its metrics (the charge estimator's: all but the predictions).
EVALUATION_FILES = ("metrics.json", "per_sample.csv", "per_group.csv", "predictions.tif")
PREDICTIONS = "predictions.tif"
#: The paper figures the figures rule writes, each as PNG and PDF.
FIGURE_NAMES = ("a_predictions", "b_charge_panel", "c_training_curves", "d_speed", "e_metrics")
FIGURE_FORMATS = ("png", "pdf")
#: Models shown first (figures, the refine study): pix2pix, then the U-Net baseline.
MODEL_ORDER = ("pix2pix", "unet")
_SEED_DIR = re.compile(r"^seed(\d+)$")


@dataclass(frozen=True)
class ResultsLayout:
    """Paths under one results root (strings, as Snakemake takes them).

    Arguments left out are Snakemake wildcards (``{family}``, ``{direction}``, ``{model}``,
    ``{seed}``, ``{batch}``), so the same method names a rule's pattern and one concrete file.
    """

    root: str

    def _join(self, *parts: Any) -> str:
        root = str(self.root)
        return "/".join([root.rstrip("/") if root.strip("/") else root, *(str(p) for p in parts)])

    # -- crystals and images of the families -----------------------------------------------------
    def variants(self, family: str = "{family}") -> str:
        """A family's variants table (its CIFs lie beside it)."""
        return self._join("variants", family, "variants.csv")

    def cif(self, family: str = "{family}", sample_id: str = "{sample}") -> str:
        """One crystal's CIF (beside its family's variants table)."""
        return self._join("variants", family, f"{sample_id}.cif")

    def stage_root(self, stage: str) -> str:
        """The per-family folders of one stage's images (``lacbed``, ``edd`` or ``deformation``)."""
        return self._join(stage)

    def stage_dir(self, stage: str, family: str = "{family}") -> str:
        """A family's per-sample images of one stage."""
        return self._join(stage, family)

    def batch_manifest(self, stage: str = "{stage}", family: str = "{family}", batch: str = "{batch}") -> str:
        """One batch job's manifest of a stage (``batch_<b>.csv``, b four digits)."""
        return self._join(stage, family, f"batch_{batch}.csv")

    def sample_image(self, stage: str, family: str, sample_id: str) -> str:
        """One sample's image of a stage (a batch job wrote it; its metadata holds the timings)."""
        return self._join(stage, family, f"{sample_id}.tif")

    # -- the dataset -------------------------------------------------------------------------------
    def dataset_dir(self) -> str:
        """The stacked dataset's folder."""
        return self._join("dataset")

    def dataset_file(self, name: str) -> str:
        """One of :data:`DATASET_FILES`."""
        if name not in DATASET_FILES:
            raise ValueError(f"{name!r} is not a dataset file ({', '.join(DATASET_FILES)})")
        return self._join("dataset", name)

    def split_table(self, split: str) -> str:
        """The split table ``splits/<split>.csv`` (subset per dataset row)."""
        return self._join("dataset", "splits", f"{split}.csv")

    # -- trained models ------------------------------------------------------------------------------
    def model_dir(self, direction: str = "{direction}", model: str = "{model}", seed: Any = "{seed}") -> str:
        """One image model's training folder."""
        return self._join("models", direction, model, f"seed{seed}")

    def model_file(self, name: str, direction: str = "{direction}", model: str = "{model}", seed: Any = "{seed}") -> str:
        """One of :data:`MODEL_FILES` of an image model's training."""
        if name not in MODEL_FILES:
            raise ValueError(f"{name!r} is not a training file ({', '.join(MODEL_FILES)})")
        return self.model_dir(direction, model, seed) + f"/{name}"

    def checkpoint(self, direction: str = "{direction}", model: str = "{model}", seed: Any = "{seed}") -> str:
        """One image model's final checkpoint."""
        return self.model_file("model.pt", direction, model, seed)

    def train_log(self, direction: str = "{direction}", model: str = "{model}", seed: Any = "{seed}") -> str:
        """One image model's per-epoch log."""
        return self.model_file("train_log.csv", direction, model, seed)

    def estimator_dir(self, seed: Any = "{seed}") -> str:
        """One charge estimator's training folder (its ``model.pt``, ``last.pt`` and ``train_log.csv``)."""
        return self._join("models", ESTIMATOR, f"seed{seed}")

    def estimator_file(self, name: str, seed: Any = "{seed}") -> str:
        """One of :data:`MODEL_FILES` of a charge estimator's training."""
        if name not in MODEL_FILES:
            raise ValueError(f"{name!r} is not a training file ({', '.join(MODEL_FILES)})")
        return self.estimator_dir(seed) + f"/{name}"

    # -- scores -----------------------------------------------------------------------------------------
    def metrics_dir(self, direction: str = "{direction}", model: str = "{model}", seed: Any = "{seed}") -> str:
        """One image model's evaluation folder (:data:`EVALUATION_FILES`)."""
        return self._join("metrics", direction, model, f"seed{seed}")

    def evaluation_file(self, name: str, direction: str = "{direction}", model: str = "{model}",
                        seed: Any = "{seed}") -> str:
        """One of :data:`EVALUATION_FILES` of an image model's evaluation."""
        if name not in EVALUATION_FILES:
            raise ValueError(f"{name!r} is not an evaluation file ({', '.join(EVALUATION_FILES)})")
        return self.metrics_dir(direction, model, seed) + f"/{name}"

    def estimator_evaluation_file(self, name: str, seed: Any = "{seed}") -> str:
        """One evaluation file of a charge estimator (``metrics.json``: δ error and interval coverage;
        ``per_sample.csv``, ``per_group.csv``)."""
        if name not in EVALUATION_FILES[:3]:
            raise ValueError(f"{name!r} is not an estimator evaluation file ({', '.join(EVALUATION_FILES[:3])})")
        return self._join("metrics", ESTIMATOR, f"seed{seed}", name)

    def estimator_metrics(self, seed: Any = "{seed}") -> str:
        """The charge estimator's test metrics (δ error and interval coverage)."""
        return self.estimator_evaluation_file("metrics.json", seed)

    def metrics_summary(self) -> str:
        """One row per image model and seed (the training split's rows first)."""
        return self._join("metrics", "summary.csv")

    def metrics_summary_seeds(self) -> str:
        """Mean and spread over seeds per direction and model (beside :meth:`metrics_summary`)."""
        return self._join("metrics", "summary_seeds.csv")

    # -- benchmarks, figures, the refine study -----------------------------------------------
    def benchmark(self, name: str) -> str:
        """A benchmark's JSON (``surrogate``; ``simulator`` when benchmarks/simulator.py wrote it there)."""
        return self._join("benchmarks", f"{name}.json")

    def figure(self, name: str, ext: str) -> str:
        """One paper figure (``png`` or ``pdf``)."""
        return self._join("figures", f"{name}.{ext}")

    def refine_file(self, name: str) -> str:
        """One output of the refine study (``summary.json``, ``per_sample.csv``, ``recovered_delta.png``…)."""
        return self._join("refine", name)


def layout(results: str | os.PathLike[str]) -> ResultsLayout:
    """The layout of one results folder."""
    return ResultsLayout(os.fspath(results))


# ----- trained models found under results/ ----------------------------------------------------------
@dataclass(frozen=True)
class ModelRun:
    """One trained image model folder ``results/models/<direction>/<model>/seed<s>/``."""

    direction: str
    model: str
    seed: int
    path: Path

    @property
    def checkpoint(self) -> Path:
        """The final checkpoint ``model.pt``."""
        return self.path / "model.pt"

    @property
    def train_log(self) -> Path:
        """The per-epoch log ``train_log.csv``."""
        return self.path / "train_log.csv"

    def evaluation(self, results: str | os.PathLike[str]) -> Path:
        """Its evaluation folder under ``results/metrics/``."""
        return Path(layout(results).metrics_dir(self.direction, self.model, self.seed))


def find_model_runs(results: str | os.PathLike[str]) -> list[ModelRun]:
    """Every ``models/<direction>/<model>/seed<s>/`` folder, sorted (direction, model, seed)."""
    root = Path(results) / "models"
    runs: list[ModelRun] = []
    if not root.is_dir():
        return runs
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name in DIRECTIONS):
        for m in sorted(p for p in d.iterdir() if p.is_dir()):
            for s in m.iterdir():
                match = _SEED_DIR.match(s.name)
                if s.is_dir() and match:
                    runs.append(ModelRun(d.name, m.name, int(match.group(1)), s))
    return sorted(runs, key=lambda r: (r.direction, model_rank(r.model), r.seed))


def evaluation_files(results: str | os.PathLike[str], name: str) -> list[tuple[str, str, int, Path]]:
    """Every image model's evaluation file ``name`` present: (direction, model, seed, path), sorted."""
    root = Path(results) / "metrics"
    found = []
    for path in sorted(root.glob(f"*/*/seed*/{name}")) if root.is_dir() else []:
        direction, model, seed_dir = path.parts[-4], path.parts[-3], path.parts[-2]
        match = _SEED_DIR.match(seed_dir)
        if direction in DIRECTIONS and match:
            found.append((direction, model, int(match.group(1)), path))
    return found


def estimator_metric_files(results: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Every charge estimator's ``metrics.json`` present: (seed, path), sorted by seed."""
    root = Path(results) / "metrics" / ESTIMATOR
    found = []
    for path in root.glob("seed*/metrics.json") if root.is_dir() else []:
        match = _SEED_DIR.match(path.parent.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def model_rank(model: str) -> tuple[int, str]:
    """Sort key: pix2pix first, then the U-Net baseline, then anything else by name."""
    return (MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER), model)


def pick_model(runs: Sequence[ModelRun], direction: str, config: Mapping[str, Any] | None = None,
               prefer: str = "pix2pix") -> ModelRun | None:
    """The model shown for ``direction``: ``prefer`` (else the first model present) with a checkpoint,
    its first seed in the config's ``train.seeds`` order (else the lowest seed)."""
    present = [r for r in runs if r.direction == direction and r.checkpoint.is_file()]
    if not present:
        return None
    models = sorted({r.model for r in present}, key=model_rank)
    model = prefer if prefer in models else models[0]
    candidates = [r for r in present if r.model == model]
    seeds = list(((config or {}).get("train") or {}).get("seeds") or [])
    for seed in seeds:
        for run in candidates:
            if run.seed == int(seed):
                return run
    return min(candidates, key=lambda r: r.seed)


# ----- stored predictions ---------------------------------------------------------------------------
def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (ties stored predictions to the checkpoint that made them)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_predictions(out_dir: str | os.PathLike[str], predictions: np.ndarray, sample_ids: Sequence[str],
                      summary: Mapping[str, Any]) -> Path:
    """Write ``predictions`` (n, C, side, side) of ``sample_ids`` with the evaluation's
    ``target_kinds``, ``dataset_hash``, ``split`` and ``subset`` (from ``summary``); atomic."""
    from .io import write_tiff

    n, channels = predictions.shape[:2]
    if n != len(sample_ids):
        raise ValueError(f"{n} predictions for {len(sample_ids)} sample ids")
    meta = {"sample_ids": list(sample_ids), "target_kinds": list(summary.get("target_kinds", [])), "channels": int(channels),
            "units": "raw physical units of each target kind (EDD e/Å², LACBED intensity)",
            "dataset_hash": summary.get("dataset_hash"), "checkpoint_sha256": summary.get("checkpoint_sha256"),
            "split": summary.get("split"), "subset": summary.get("subset")}
    path = Path(out_dir) / PREDICTIONS
    write_tiff(path, predictions.reshape(n * channels, *predictions.shape[-2:]), meta)
    return path


def read_predictions(out_dir: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """``predictions.tif`` of an evaluation folder: (n, C, side, side) float32 and its metadata."""
    from .io import read_tiff

    path = Path(out_dir) / PREDICTIONS
    stack, meta = read_tiff(path)
    channels = int(meta.get("channels", 1))
    if stack.ndim == 2:
        stack = stack[None]
    ids = meta.get("sample_ids")
    if not isinstance(ids, list) or len(ids) * channels != len(stack):
        raise InputError(f"holds {len(stack)} images, its metadata {len(ids or [])} samples × {channels} channels", path=path)
    return stack.reshape(len(ids), channels, *stack.shape[-2:]), meta
