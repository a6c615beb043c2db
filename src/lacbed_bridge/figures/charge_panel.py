"""Figure (b): the charge panel — one test crystal's charge series, simulated and predicted.

A charge series (``families[].charge_states`` ≥ 2) holds K states of one base crystal that differ
only in their valence populations (transfer δ, κ); their images differ by the charge effect alone.
The panel takes one base crystal of the test subset of the models' split (an F-43m crystal if
there is one, GaAs first) and shows, per state (columns, δ increasing):

* the total EDD and the deformation density ρ − ρ_IAM [e/Å²] (when the dataset has it);
* the simulated LACBED (000) disc (the dataset's own images: no physics is computed here);
* the change of the simulated disc from the first state, and beside it the ``edd2lacbed`` model's
  predicted change, on one colour scale, with the charge metrics the evaluate rule scored
  (Pearson r of the change from the series mean and the RMS ratio, ``per_sample.csv``) in the row label;
* for a ``lacbed2edd`` model: the true and predicted change of its charge image (the deformation
  density when it predicts one), with the transfer δ the evaluate rule read from each prediction.

The predictions and metrics are the evaluate rule's (``metrics/<direction>/<model>/seed<s>/``
``predictions.tif``, ``metrics.json``, ``per_sample.csv``): no model is run, no metric and no
physics computed here.

Every value is in display units with the dataset-wide constants (:mod:`.common`); the deformation
density and all changes are drawn on a diverging map. Without a charge series in the test subset
the panel says so (and how to get one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..dataset.splits import canonical_group, subset_indices
from .common import (
    DISPLAY_LABELS,
    DatasetView,
    ModelRun,
    config_split,
    configured_field_of_view,
    coverage_note,
    display,
    draw_image,
    edd_extent,
    find_model_runs,
    lacbed_extent,
    load_dataset,
    new_figure,
    not_available,
    pick_model,
    read_json_tolerant,
    symmetric_limit,
)

TARGET_GROUP = "F-43m"
PREFERRED_FORMULA = "Ga As"
#: Most states drawn (evenly chosen from a longer series).
MAX_COLUMNS = 5


@dataclass
class ModelChange:
    """One model's predictions for the series and its charge metrics.

    ``kind``: the image kind scored; ``images``: per state, the prediction of that kind [raw
    units]; ``metrics``: ``charge_r``, ``charge_rms_ratio``, ``delta_pred`` (δ read per state, EDD side).
    """

    run: ModelRun
    kind: str
    images: list[np.ndarray]
    metrics: dict[str, Any]


@dataclass
class ChargeView:
    """The series shown: dataset rows, δ per state, the true images and the models' predictions."""

    split: str
    base_id: str = ""
    formula: str = ""
    spacegroup: str = ""
    rows: list[int] = field(default_factory=list)
    deltas: list[float] = field(default_factory=list)
    truth: dict[str, list[np.ndarray]] = field(default_factory=dict)
    forward: ModelChange | None = None
    inverse: ModelChange | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    reason: str | None = None


def choose_series(dataset: DatasetView, split: str) -> tuple[str, list[int]] | None:
    """(base_id, dataset rows ordered by δ) of the test series shown, or None without one."""
    frame = dataset.split(split)
    manifest = dataset.manifest
    if frame is None or "base_id" not in manifest:
        return None
    test = subset_indices(frame, "test")
    if len(test) == 0:
        return None
    rows = manifest.iloc[test].assign(_row=test)
    sizes = rows.groupby("base_id")["_row"].transform("size")
    rows = rows[sizes >= 2]
    if rows.empty:
        return None
    group = rows["spacegroup"].map(canonical_group) if "spacegroup" in rows else ""
    formula = rows["formula"].astype(str) if "formula" in rows else ""
    rows = rows.assign(_rank_group=(group != TARGET_GROUP).astype(int), _rank_formula=(formula != PREFERRED_FORMULA).astype(int))
    first = rows.sort_values(["_rank_group", "_rank_formula", "base_id"], kind="stable").iloc[0]["base_id"]
    series = rows[rows["base_id"] == first].sort_values(["delta", "sample_id"] if "delta" in rows else ["sample_id"], kind="stable")
    return str(first), [int(r) for r in series["_row"]]


def _model_change(results: str | os.PathLike[str], run: ModelRun, dataset: DatasetView, rows: list[int],
                  deltas: list[float], split: str) -> ModelChange | str:
    """One model's predictions of the series rows and its charge metrics, both as the evaluate
    rule stored them (``predictions.tif``; ``metrics.json``'s ``charge_kind`` and the series'
    rows of ``per_sample.csv``); or why not."""
    from .predictions import stored_predictions

    stored = stored_predictions(results, run, dataset, rows, split)
    if isinstance(stored, str):
        return stored
    preds, target_kinds = stored
    scored = stored_charge_metrics(results, run, [str(dataset.manifest.iloc[i]["sample_id"]) for i in rows])
    if isinstance(scored, str):
        return scored
    kind, metrics = scored
    if kind not in target_kinds:
        return f"{run.evaluation(results)}: charge kind {kind!r} is not among the predicted kinds {target_kinds}"
    channel = target_kinds.index(kind)
    return ModelChange(run, kind, [p[channel] for p in preds], metrics)


def stored_charge_metrics(results: str | os.PathLike[str], run: ModelRun,
                          sample_ids: list[str]) -> tuple[str, dict[str, Any]] | str:
    """The image kind the evaluation scored and the charge metrics of one series (``charge_r``,
    ``charge_rms_ratio`` of the series, ``delta_pred`` per state, NaN where not read), from
    the evaluate rule's ``metrics.json`` and ``per_sample.csv``; or why not."""
    folder = run.evaluation(results)
    kind = (read_json_tolerant(folder / "metrics.json") or {}).get("charge_kind")
    table_path = folder / "per_sample.csv"
    if not kind or not table_path.is_file():
        return f"no charge metrics in {folder} (metrics.json's charge_kind, per_sample.csv; evaluate again)"
    table = pd.read_csv(table_path, dtype={"sample_id": str})
    if not {"sample_id", "charge_r", "charge_rms_ratio"} <= set(table.columns):
        return f"{table_path} has no charge columns (evaluate again)"
    table = table.drop_duplicates("sample_id").set_index("sample_id")
    missing = [sid for sid in sample_ids if sid not in table.index]
    if missing:
        return f"{table_path} has no row of {missing[0]} (another subset?)"
    series = table.loc[sample_ids]
    delta_pred = (pd.to_numeric(series["delta_pred"], errors="coerce").to_numpy(dtype=float) if "delta_pred" in series
                  else np.full(len(series), np.nan))
    return str(kind), {"charge_r": float(series["charge_r"].iloc[0]), "charge_rms_ratio": float(series["charge_rms_ratio"].iloc[0]),
                       "delta_pred": delta_pred}


def charge_view(results: str | os.PathLike[str], config: Mapping[str, Any], dataset: DatasetView) -> ChargeView:
    """The series of the panel and both directions' predictions (``reason``/``reasons`` say what is missing)."""
    runs = find_model_runs(results)
    split = config_split(config)
    chosen = choose_series(dataset, split)
    if chosen is None:
        return ChargeView(split, reason=f"no charge series in the test subset of {split} "
                                        "(families[].charge_states ≥ 2 gives the states of one crystal)")
    base_id, rows = chosen
    meta = dataset.manifest.iloc[rows]
    deltas = [float(d) for d in meta["delta"]] if "delta" in meta else [float("nan")] * len(rows)
    truth = {k: [np.asarray(dataset.stacks[k][i], dtype=np.float32) for i in rows] for k in ("edd", "deformation", "lacbed")
             if k in dataset.stacks}
    view = ChargeView(split, base_id, str(meta["formula"].iloc[0]) if "formula" in meta else "",
                      canonical_group(meta["spacegroup"].iloc[0]) if "spacegroup" in meta else "", rows, deltas, truth)
    for direction, attr in (("edd2lacbed", "forward"), ("lacbed2edd", "inverse")):
        run = pick_model(runs, direction, config)
        if run is None:
            view.reasons[direction] = f"no {direction} model under models/"
            continue
        change = _model_change(results, run, dataset, rows, deltas, split)
        if isinstance(change, str):
            view.reasons[direction] = change
        else:
            setattr(view, attr, change)
    return view


def _columns(n: int) -> list[int]:
    return list(range(n)) if n <= MAX_COLUMNS else sorted({int(round(i)) for i in np.linspace(0, n - 1, MAX_COLUMNS)})


def _metrics_text(change: ModelChange) -> str:
    m = change.metrics
    return f"r = {m['charge_r']:.2f}, RMS ratio = {m['charge_rms_ratio']:.2f}"


def plot_charge_panel(results: str | os.PathLike[str], config: Mapping[str, Any], *,
                      dataset: DatasetView | None = None) -> Figure:
    """Figure (b) as a matplotlib Figure."""
    dataset = dataset or load_dataset(results)
    view = charge_view(results, config, dataset)
    if view.reason is not None:
        fig = new_figure(6.0, 3.0)
        ax = fig.subplots()
        not_available(ax, view.reason)
        fig.suptitle("Charge effect: simulated and predicted", fontsize=11)
        return fig
    cols = _columns(len(view.rows))
    norm = dataset.normalisation
    lac = [display("lacbed", view.truth["lacbed"][c], norm) for c in cols]
    sim_diff = [im - lac[0] for im in lac]
    rows: list[tuple[str, list[np.ndarray] | None, str, str, float | None, str]] = []  # name, images, kind, extent, limit, label
    rows.append(("edd", [display("edd", view.truth["edd"][c], norm) for c in cols], "edd", "edd", None, "EDD (total)"))
    if "deformation" in view.truth:
        defo = [view.truth["deformation"][c].astype(float) for c in cols]
        rows.append(("deformation", defo, "difference", "edd", symmetric_limit(defo), "deformation\nρ − ρ$_{IAM}$ [e/Å²]"))
    rows.append(("sim", lac, "lacbed", "lacbed", None, "LACBED simulated"))
    pred_diff = None
    if view.forward is not None:
        pred = [display("lacbed", view.forward.images[c], norm) for c in cols]
        pred_diff = [im - pred[0] for im in pred]
    limit = symmetric_limit(sim_diff + (pred_diff or []))
    rows.append(("sim_diff", sim_diff, "difference", "lacbed", limit, "simulated −\nsimulated(first)"))
    forward_label = (f"predicted − predicted(first)\n{view.forward.run.model}: {_metrics_text(view.forward)}"
                     if view.forward else "predicted change (edd2lacbed)")
    rows.append(("pred_diff", pred_diff, "difference", "lacbed", limit, forward_label))
    inverse = view.inverse
    if inverse is not None:
        true_k = [view.truth[inverse.kind][c].astype(float) for c in cols]
        pred_k = [inverse.images[c].astype(float) for c in cols]
        true_d = [im - true_k[0] for im in true_k]
        pred_d = [im - pred_k[0] for im in pred_k]
        lim = symmetric_limit(true_d + pred_d)
        rows.append(("inv_true", true_d, "difference", "edd", lim, f"true {inverse.kind} −\nfirst state [e/Å²]"))
        rows.append(("inv_pred", pred_d, "difference", "edd", lim,
                     f"predicted (lacbed2edd) − first\n{inverse.run.model}: {_metrics_text(inverse)}"))
    else:
        rows.append(("inv_pred", None, "difference", "edd", None, "predicted EDD change (lacbed2edd)"))
    n = len(cols)
    fig = new_figure(2.2 * n + 2.2, 2.0 * len(rows) + 1.2)
    axes = fig.subplots(len(rows), n, squeeze=False)
    first = dataset.manifest.iloc[view.rows[0]]
    size = float(first.get("edd_field_of_view", np.nan)) if "edd_field_of_view" in dataset.manifest else np.nan
    if not np.isfinite(size):  # datasets from before the manifest recorded it
        a = float(first.get("a", np.nan)) if "a" in dataset.manifest else np.nan
        size = configured_field_of_view(config, a)
    note = coverage_note(first)
    extents = {"edd": edd_extent(size) if np.isfinite(size) else None,
               "lacbed": lacbed_extent(config["simulation"]["outer_convergence_angle"])}
    for r, (name, images, kind, where, limit, label) in enumerate(rows):
        if images is None:
            for ax in axes[r]:
                ax.set_axis_off()
            direction = "edd2lacbed" if name == "pred_diff" else "lacbed2edd"
            not_available(axes[r, 0], view.reasons.get(direction, "no prediction"))
            axes[r, 0].set_title(label.replace("\n", " "), fontsize=8, loc="left")
            continue
        last = None
        for c, column in enumerate(cols):
            ax = axes[r, c]
            last = draw_image(ax, images[c], kind, extent=extents[where], limit=limit, gid=f"charge:{name}:{column}")
            ax.tick_params(labelsize=6)
            if r == 0:
                title = f"δ = {view.deltas[column]:.2f} e"
                if inverse is not None and inverse.kind != "lacbed":
                    title += f"\nδ read (lacbed2edd) = {inverse.metrics['delta_pred'][column]:.2f}"
                ax.set_title(title, fontsize=7)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
            else:
                ax.set_yticks([])
            ax.set_xlabel(f"x [Å]{note}" if where == "edd" else "k$_x$ [Å$^{-1}$]", fontsize=7)
        bar = fig.colorbar(last, ax=list(axes[r]), location="right", shrink=0.9, aspect=15)
        bar.set_label(DISPLAY_LABELS.get(kind, "e/Å²" if where == "edd" else "change of the display value"), fontsize=7)
        bar.ax.tick_params(labelsize=6)
    fig.suptitle(f"Charge series of {view.formula or view.base_id} ({view.spacegroup}; base crystal {view.base_id}, "
                 f"test subset of {view.split}): simulated and predicted change with δ", fontsize=9)
    return fig
