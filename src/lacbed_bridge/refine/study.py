"""How well and how fast is the charge recovered from a disc: refinement against the surrogate.

On held-back test crystals of a workflow's results that belong to a charge series (the config's
``train.split``, subset test), each clean disc of the dataset becomes a noisy observation,
Poisson(N·I)/N with N counts per unit intensity (seeded per disc). On the same noisy discs:

1. **refinement** (:mod:`.fit`): the crystal's CIF with δ moved 0.5 e towards the middle of the
   family's range and the thickness 10 % off; δ and thickness (or ``free``) are fitted, with the
   intensity scale and background; the beams as the dataset made the disc (its ``sim_pool_size``
   and ``sim_strong_beams_used``);
2. **surrogate**: the trained lacbed2edd model predicts the deformation density (else its first
   target kind) and δ is read by least squares against the true series of the same base crystal
   (:func:`~lacbed_bridge.surrogate.charge_metrics.read_delta`, as the charge metrics do);
3. with a charge estimator (``estimator``, surrogate/estimator.py): its δ ± σ read from the noisy
   disc alone, and the refinement again from that δ (the same start otherwise), with the
   iterations and the time of both fits; and again from the starts that say what any start can
   gain (:data:`FIT_STARTS`): the thickness at the truth with δ at the study's start or the
   estimator's, and everything at the truth (the fit's floor: the steps it takes to confirm a minimum).

:func:`charge_recovery` returns one row per disc and a summary; :func:`write_study` writes
``per_sample.csv`` and ``summary.json``. Used by ``lacbed-bridge refine-test`` (the workflow's
optional ``refine_test`` rule, which then draws the figure ``recovered_delta.png``/``.pdf`` of
them with ``lacbed-bridge refine-figure``: recovered against true δ, both routes, with the
refinement's 2σ bars) and ``benchmarks/refine.py``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..version import __version__


def test_series(results: Path, config: dict[str, Any], manifest: pd.DataFrame) -> pd.DataFrame:
    """Manifest rows of the test subset that belong to a charge series (≥ 2 distinct δ)."""
    from ..dataset.splits import read_split, subset_indices
    from ..layout import layout
    from ..pipeline.settings import WorkflowSettings

    split_name = WorkflowSettings.from_config(config).split
    split = read_split(layout(results).split_table(split_name))
    rows = manifest.iloc[subset_indices(split, "test")]
    return rows.groupby("base_id").filter(lambda g: g["delta"].nunique() >= 2)


def _noisy_discs(dataset: Any, chosen: pd.DataFrame, counts: float, seed: int) -> list[np.ndarray]:
    """Each chosen clean disc of the dataset as a noisy observation, Poisson(N·I)/N with N =
    ``counts`` per unit intensity, seeded ``seed + i`` for the i-th disc."""
    from .fit import poisson_disc

    return [poisson_disc(np.asarray(dataset.stacks["lacbed"][int(r["index"])], dtype=float), counts, seed + i)
            for i, (_, r) in enumerate(chosen.iterrows())]


def _start_model(results: Path, config: dict[str, Any], row: pd.Series, free: str) -> tuple[Any, list[str], float, float]:
    """The refinement's model of one disc: the crystal's CIF with the beams as the dataset made the
    disc (its pool and strong beams), the thickness 10 % above the true one [Å] and δ moved 0.5 e
    towards the middle of the family's range [e per formula unit]; returns (model, free names,
    true δ, true thickness [Å])."""
    from ..crystal.cif import read_cif
    from ..layout import layout
    from ..simulate.run import simulation_settings
    from .model import DiscModel
    from .run import needs_roles, parse_free, roles_for

    truth = read_cif(layout(results).cif(row["family"], row["sample_id"]))
    sim = simulation_settings(config, family=row["family"])
    settings = sim.lacbed
    pool, strong = row.get("sim_pool_size"), row.get("sim_strong_beams_used")
    settings = replace(settings, min_reflection_pool=int(pool) if pd.notna(pool) else settings.min_reflection_pool,
                       min_strong_beams=int(strong) if pd.notna(strong) else settings.min_strong_beams)
    family = next(f for f in config["families"] if f["name"] == row["family"])
    lo, hi = family.get("delta") or [0.0, 1.0]
    true_delta = float(row["delta"])
    true_t = float(settings.thicknesses[sim.thickness_index])
    start_settings = replace(settings, initial_thickness=1.1 * true_t, final_thickness=1.1 * true_t)
    names = parse_free(free, [s.label for s in truth.sites])
    model = DiscModel(truth, start_settings, names, roles=roles_for(truth, config, None) if needs_roles(names) else None,
                      mean_absorption=sim.builtin.mean_absorption)
    if "delta" in names:  # the start crystal: δ moved 0.5 e towards the middle of the range
        start = model.start.clone()
        start[names.index("delta")] = true_delta + (0.5 if true_delta < 0.5 * (lo + hi) else -0.5)
        model.start = start
        model.reselect_beams(start)
    return model, names, true_delta, true_t


def _refine_disc(model: Any, observed: np.ndarray, row: pd.Series, names: list[str], true_delta: float, true_t: float,
                 counts: float) -> tuple[dict[str, Any], Any]:
    """The refinement of one noisy disc from the model's start: its row of the table (true δ [e per
    formula unit] and thickness [Å], the fitted ones with their σ, reduced χ², iterations, seconds)
    and the fit."""
    from .fit import fit_disc

    t0 = time.perf_counter()
    fit = fit_disc(model, observed, counts=counts)
    seconds = time.perf_counter() - t0
    entry = {"sample_id": row["sample_id"], "family": row["family"], "base_id": row["base_id"], "delta": true_delta,
             "thickness": true_t, "refine_seconds": seconds, "refine_reduced_chi2": fit.reduced_chi2,
             "refine_iterations": fit.iterations}
    for name in ("delta", "thickness"):
        if name in names:
            entry[f"refine_{name}"] = fit.value(name)
            entry[f"refine_{name}_sigma"] = fit.uncertainty(name)
    return entry, fit


#: the starts the study compares with an estimator (label: δ from, thickness from): "study" is the
#: study's own start (δ 0.5 e off, thickness 10 % off), "estimator" the estimator's δ, "truth" the true value
FIT_STARTS = {
    "estimator": ("estimator", "study"),
    "study_delta_true_thickness": ("study", "truth"),
    "estimator_true_thickness": ("estimator", "truth"),
    "truth": ("truth", "truth"),
}


def _refit(model: Any, observed: np.ndarray, start: Any, counts: float) -> dict[str, Any]:
    """The fit of ``observed`` again from ``start`` (the model's parameter vector): refined δ [e per
    formula unit], iterations and seconds (the beams chosen again for the start first)."""
    from .fit import fit_disc

    model.start = start
    model.reselect_beams(start)
    t0 = time.perf_counter()
    again = fit_disc(model, observed, counts=counts)
    return {"delta": again.value("delta"), "iterations": again.iterations, "seconds": time.perf_counter() - t0}


def _refine_from_estimate(model: Any, observed: np.ndarray, start0: Any, names: list[str], reader: dict[str, Any], k: int,
                          counts: float, truth: dict[str, float]) -> dict[str, Any]:
    """The same fit from the starts of :data:`FIT_STARTS` — δ at the estimator's reading of disc ``k``
    (clipped to its training range), at the study's start or at the truth; the thickness at the
    study's start (10 % off) or at the truth (``truth``: true δ [e], thickness [Å]): the reading, its σ
    [e per formula unit], and per start the refined δ, the iterations and the seconds (columns
    ``<start>_refine_delta``, ``<start>_refine_iterations``, ``<start>_refine_seconds``). Without a free
    thickness only the estimator's start and the truth are fitted."""
    lo_e, hi_e = reader["range"]
    values = {"estimator": {"delta": min(max(float(reader["delta"][k]), lo_e), hi_e)},
              "study": {name: float(start0[names.index(name)]) for name in ("delta", "thickness") if name in names},
              "truth": truth}
    entry: dict[str, Any] = {"estimator_delta": float(reader["delta"][k]), "estimator_delta_sigma": float(reader["sigma"][k])}
    for label, (delta_from, thickness_from) in FIT_STARTS.items():
        if "thickness" not in names and thickness_from == "truth" and label != "truth":
            continue  # without a free thickness these are the estimator's start again
        start = start0.clone()
        start[names.index("delta")] = values[delta_from]["delta"]
        if "thickness" in names:
            start[names.index("thickness")] = values[thickness_from]["thickness"]
        for key, value in _refit(model, observed, start, counts).items():
            entry[f"{label}_refine_{key}"] = value
    return entry


def _surrogate_route(results: Path, config: dict[str, Any], dataset: Any, chosen: pd.DataFrame, noisy: list[np.ndarray],
                     frame: pd.DataFrame) -> dict[str, Any]:
    """The trained lacbed2edd model's δ of each noisy disc (its deformation density, else its first
    target kind, read by least squares against the true series of the same base crystal), put in
    ``frame`` as ``surrogate_delta``; returns the summary's ``surrogate`` record (model, kind,
    seconds per disc, δ RMSE [e per formula unit]; only ``available`` without a model)."""
    import torch

    from ..layout import find_model_runs, pick_model
    from ..surrogate.charge_metrics import read_delta
    from ..surrogate.predict import load_model, predict_arrays

    manifest = dataset.manifest
    run = pick_model(find_model_runs(results), "lacbed2edd", config)
    surrogate: dict[str, Any] = {"available": run is not None}
    if run is not None and len(noisy):
        torch.set_grad_enabled(False)
        model_nn, desc = load_model(run.checkpoint, device="cpu")
        predict_arrays(model_nn, noisy[:1], desc)  # warm-up
        t0 = time.perf_counter()
        preds = predict_arrays(model_nn, noisy, desc)
        per_disc = (time.perf_counter() - t0) / len(noisy)
        torch.set_grad_enabled(True)
        targets = list(desc.get("target_kinds") or [desc["target_kind"]])
        kind = "deformation" if "deformation" in targets else targets[0]
        read = []
        for pred, (_, r) in zip(preds, chosen.iterrows(), strict=True):
            plane = pred if pred.ndim == 2 else pred[targets.index(kind)]
            members = manifest[manifest["base_id"] == r["base_id"]]
            series = np.stack([np.asarray(dataset.stacks[kind][int(i)], dtype=float).ravel() for i in members["index"]])
            read.append(float(read_delta(plane.reshape(1, -1).astype(float), series, members["delta"].to_numpy(dtype=float))[0]))
        frame["surrogate_delta"] = read
        surrogate.update({"model": f"{run.model} seed {run.seed}", "kind": kind, "seconds_per_disc": per_disc,
                          "delta_rmse": float(np.sqrt(np.mean((frame["surrogate_delta"] - frame["delta"]) ** 2)))})
    return surrogate


def _summary(frame: pd.DataFrame, surrogate: dict[str, Any], reader: dict[str, Any] | None, *, counts: float, free: str,
             seed: int, estimator: str | Path | None) -> dict[str, Any]:
    """The study's summary: the refinement's δ RMSE, mean σ and 2σ coverage [e per formula unit],
    thickness RMSE [Å], mean reduced χ² and seconds per disc; the surrogate's record; with an
    estimator its δ scores and the iterations and time of the fits started from its reading."""
    summary: dict[str, Any] = {"n_discs": int(len(frame)), "counts": counts, "free": free, "seed": seed, "surrogate": surrogate,
                               "version": __version__}
    if len(frame) and "refine_delta" in frame:
        err = frame["refine_delta"] - frame["delta"]
        summary["refine"] = {
            "delta_rmse": float(np.sqrt(np.mean(err**2))),
            "delta_sigma_mean": float(frame["refine_delta_sigma"].mean()),
            "within_2sigma": float(np.mean(np.abs(err) <= 2 * frame["refine_delta_sigma"])),
            "thickness_rmse": float(np.sqrt(np.mean((frame["refine_thickness"] - frame["thickness"]) ** 2)))
            if "refine_thickness" in frame else math.nan,
            "reduced_chi2_mean": float(frame["refine_reduced_chi2"].mean()),
            "seconds_per_disc": float(frame["refine_seconds"].mean()),
        }
    if reader is not None and "estimator_delta" in frame:
        from ..surrogate.estimator_eval import interval_scores

        scores = interval_scores(frame["estimator_delta"], frame["estimator_delta_sigma"], frame["delta"])
        # the same fit from each start of FIT_STARTS (the study's own start is summary["refine"])
        starts = {label: {"iterations_mean": float(frame[f"{label}_refine_iterations"].mean()),
                          "seconds_per_disc": float(frame[f"{label}_refine_seconds"].mean()),
                          "delta_change_max": float(np.max(np.abs(frame[f"{label}_refine_delta"] - frame["refine_delta"])))}
                  for label in FIT_STARTS if f"{label}_refine_iterations" in frame}
        summary["estimator"] = {
            "model": str(estimator), "seconds_per_disc": reader["seconds_per_disc"],
            "delta_rmse": scores["rmse"], "delta_sigma_mean": scores["sigma_mean"],
            "coverage68": scores["coverage68"], "coverage95": scores["coverage95"],
            **{f"refine_{key}": value for key, value in starts["estimator"].items()},  # the estimator's own start
            "starts": starts,
        }
        summary["refine"]["iterations_mean"] = float(frame["refine_iterations"].mean())
    return summary


def charge_recovery(
    results: str | Path,
    config: dict[str, Any],
    *,
    counts: float = 1e4,
    n: int | None = None,
    free: str = "delta,thickness",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    estimator: str | Path | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Both routes on the same noisy discs (module docstring): (per-disc table, summary)."""
    from ..dataset.view import open_dataset
    from ..layout import layout

    results = Path(results)
    dataset = open_dataset(layout(results).dataset_dir())
    chosen = test_series(results, config, dataset.manifest)
    if n is not None:
        chosen = chosen.iloc[:n]
    noisy = _noisy_discs(dataset, chosen, counts, seed)
    reader = estimator_route(estimator, noisy) if estimator is not None else None
    table = []
    for observed, (_, row) in zip(noisy, chosen.iterrows(), strict=True):
        model, names, true_delta, true_t = _start_model(results, config, row, free)
        start0 = model.start.clone()
        entry, fit = _refine_disc(model, observed, row, names, true_delta, true_t, counts)
        if reader is not None and "delta" in names:  # the same fit, δ started at the estimator's reading
            entry.update(_refine_from_estimate(model, observed, start0, names, reader, len(table), counts,
                                               {"delta": true_delta, "thickness": true_t}))
        table.append(entry)
        if progress is not None:
            progress(f"refine {row['sample_id']}: δ {true_delta:.3f} → {entry.get('refine_delta', math.nan):.3f} ± "
                     f"{entry.get('refine_delta_sigma', math.nan):.3f}, χ²/dof {fit.reduced_chi2:.2f}, "
                     f"{entry['refine_seconds']:.1f} s")
    frame = pd.DataFrame(table)
    surrogate = _surrogate_route(results, config, dataset, chosen, noisy, frame)
    return frame, _summary(frame, surrogate, reader, counts=counts, free=free, seed=seed, estimator=estimator)


def estimator_route(path: str | Path, discs: list[np.ndarray]) -> dict[str, Any]:
    """The charge estimator's δ and σ on the noisy discs, its time per disc and its training range of δ."""
    from ..surrogate.estimator import load_estimator

    reader = load_estimator(path)
    if "delta" not in reader.targets:
        raise ValueError(f"{path}: the estimator does not read delta")
    stack = np.stack(discs)
    reader.estimate(stack[:1])  # warm-up
    t0 = time.perf_counter()
    values = reader.estimate(stack)
    return {"delta": values["delta"], "sigma": values["delta_sigma"], "range": reader.info["target_range"]["delta"],
            "seconds_per_disc": (time.perf_counter() - t0) / len(stack)}


def write_study(frame: pd.DataFrame, summary: dict[str, Any], out: str | Path) -> list[Path]:
    """``per_sample.csv`` and ``summary.json``, atomically (the figure of them, recovered against
    true δ, is drawn by ``lacbed-bridge refine-figure``: lacbed_bridge.figures.refine)."""
    from ..io import write_text_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "per_sample.csv", out / "summary.json"]
    write_text_atomic(written[0], frame.to_csv(index=False, lineterminator="\n"))
    write_text_atomic(written[1], json.dumps(summary, indent=2) + "\n")
    return written
