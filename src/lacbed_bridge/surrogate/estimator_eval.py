"""Scoring of the charge estimator on a subset of a split: error and interval coverage.

Per disc: the true value θ, the estimate μ, the calibrated σ and z = (μ − θ)/σ per target.
Aggregate per target (``metrics.json``): ``<t>_rmse`` = RMS(μ − θ); ``<t>_prior_rmse`` = RMS of
θ about the training mean (what always answering the middle of the training data scores; an
estimator that reads nothing scores this); ``<t>_sigma_mean``; ``<t>_coverage68`` and
``<t>_coverage95``: the fraction of discs with |z| < 1 and |z| < 1.96 (a calibrated σ gives 0.68 and
0.95 within the binomial spread √(p(1−p)/n)); ``<t>_rms_z`` (1 when σ is right). The same per space
group in ``per_group.csv``. With ``counts``, every disc is first replaced by a Poisson draw at
that many counts per pixel at its mean intensity (seeded), as a measured disc would be.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_text_atomic
from .estimator import Estimator, load_estimator
from .estimator_train import load_discs, poisson_draws, target_matrix

#: manifest columns kept in ``per_sample.csv`` beside the estimates
ID_COLUMNS = ("sample_id", "family", "spacegroup", "base_id", "charge_state")


def noisy(discs: np.ndarray, counts: float, seed: int) -> np.ndarray:
    """Poisson draws of the discs at ``counts`` per pixel at each disc's mean intensity (raw units kept)."""
    return poisson_draws(discs, counts, np.random.default_rng(seed))


def interval_scores(estimate: np.ndarray, sigma: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``rmse`` of the estimates, ``sigma_mean``, the fractions of truths within ±1σ (``coverage68``)
    and ±1.96σ (``coverage95``), and ``rms_z`` of z = (estimate − truth)/σ; NaN for no discs."""
    estimate, sigma, truth = (np.asarray(a, dtype=np.float64) for a in (estimate, sigma, truth))
    if len(estimate) == 0:
        return dict.fromkeys(("rmse", "sigma_mean", "coverage68", "coverage95", "rms_z"), math.nan)
    z = (estimate - truth) / sigma
    return {"rmse": float(np.sqrt(np.mean((estimate - truth) ** 2))), "sigma_mean": float(np.mean(sigma)),
            "coverage68": float(np.mean(np.abs(z) < 1.0)), "coverage95": float(np.mean(np.abs(z) < 1.959964)),
            "rms_z": float(np.sqrt(np.mean(z**2)))}


def score(estimator: Estimator, discs: np.ndarray, rows: pd.DataFrame, *, path: Path | None = None) -> pd.DataFrame:
    """Per-disc table: ids, and per target the truth, estimate, σ and z."""
    values = estimator.estimate(discs)
    truth = target_matrix(rows, estimator.targets, path or Path("manifest.csv"))
    table = rows[[c for c in ID_COLUMNS if c in rows]].copy()
    for j, name in enumerate(estimator.targets):
        table[name] = truth[:, j]
        table[f"{name}_pred"] = values[name]
        table[f"{name}_sigma"] = values[f"{name}_sigma"]
        table[f"{name}_z"] = (values[name] - truth[:, j]) / values[f"{name}_sigma"]
    return table


def summarise(table: pd.DataFrame, estimator: Estimator) -> dict[str, Any]:
    """The aggregate of :func:`score`'s table (module docstring)."""
    out: dict[str, Any] = {"n": len(table), "kind": "charge-estimator", "targets": list(estimator.targets)}
    for j, name in enumerate(estimator.targets):
        scores = interval_scores(table[f"{name}_pred"], table[f"{name}_sigma"], table[name])
        # always answering the training mean: what an estimator that reads nothing scores
        prior = float(np.sqrt(np.mean((table[name] - estimator.mean[j]) ** 2))) if len(table) else math.nan
        out.update({f"{name}_{key}": value for key, value in scores.items()})
        out[f"{name}_prior_rmse"] = prior
    return out


def evaluate_estimator(checkpoint: str | os.PathLike[str], dataset_dir: str | os.PathLike[str], *, split: str,
                       subset: str = "test", counts: float | None = None, seed: int = 0,
                       device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Score an estimator on ``subset`` of ``split`` (optionally on Poisson draws at ``counts``):
    the per-disc table, the per-space-group table and the aggregate."""
    estimator = load_estimator(checkpoint, device=device)
    discs, rows = load_discs(dataset_dir, split, subset)
    if counts is not None:
        discs = noisy(discs, counts, seed)
    table = score(estimator, discs, rows, path=Path(dataset_dir) / "manifest.csv")
    summary = {**summarise(table, estimator), "split": split, "subset": subset, "counts": counts,
               "checkpoint": str(checkpoint), "calibration": list(estimator.calibration)}
    return table, per_group(table, estimator), summary


def per_group(table: pd.DataFrame, estimator: Estimator) -> pd.DataFrame:
    """:func:`summarise` per space group (white space removed from the symbol)."""
    if "spacegroup" not in table or table.empty:
        return pd.DataFrame(columns=["spacegroup", "n"])
    groups = table["spacegroup"].astype(str).str.replace(" ", "")
    rows = [{"spacegroup": group, **{k: v for k, v in summarise(frame, estimator).items() if k not in ("kind", "targets")}}
            for group, frame in table.groupby(groups, sort=True)]
    return pd.DataFrame(rows)


def write_estimator_evaluation(out_dir: str | os.PathLike[str], table: pd.DataFrame, groups: pd.DataFrame,
                               summary: dict[str, Any]) -> None:
    """``per_sample.csv``, ``per_group.csv`` and ``metrics.json`` (written last: the workflow's output)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "per_sample.csv", table.to_csv(index=False, lineterminator="\n"))
    write_text_atomic(out / "per_group.csv", groups.to_csv(index=False, lineterminator="\n"))
    safe = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in summary.items()}
    write_text_atomic(out / "metrics.json", json.dumps(safe, indent=2, sort_keys=True) + "\n")
