"""Figure (a): test-set predictions of the surrogate, both directions.

For each direction, ``workflow.n_figure_samples`` samples of the test subset of the split the model
was trained on (``train.split``, default ``random_0``) are shown in rows: input, prediction, truth
and the difference prediction − truth, all in display units (:mod:`.common`: EDD as normalised
charge strength, LACBED as inverse intensity, dataset-wide constants). The model is the first seed
of ``pix2pix`` (else the first model present). Samples are taken round-robin over the space groups
of the test subset (in stack order within a group), so several groups appear when there are.
The predictions are those the evaluate rule stored beside its metrics
(``metrics/<direction>/<model>/seed<s>/predictions.tif``): no model is run here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..dataset.splits import subset_indices
from ..dataset import direction_kinds
from ..errors import InputError
from .common import (
    DIRECTION_LABELS,
    DISPLAY_LABELS,
    KIND_NAMES,
    DatasetView,
    ModelRun,
    config_split,
    configured_field_of_view,
    coverage_note,
    display,
    draw_image,
    edd_extent,
    find_model_runs,
    group_of,
    lacbed_extent,
    load_dataset,
    n_figure_samples,
    new_figure,
    not_available,
    pick_model,
    symmetric_limit,
)

COLUMNS = ("input", "prediction", "truth", "difference")


@dataclass
class PredictionSet:
    """The rows of one direction: raw images [physical units] of the chosen test samples.

    ``reason`` is set (and ``rows`` empty) when the direction cannot be shown.
    """

    direction: str
    run: ModelRun | None
    split: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None


def select_samples(dataset: DatasetView, indices: Sequence[int], n: int) -> list[int]:
    """Up to ``n`` stack indices, round-robin over the space groups of ``indices`` (sorted groups)."""
    groups: dict[str, list[int]] = {}
    column = dataset.manifest["spacegroup"] if "spacegroup" in dataset.manifest else None
    for index in sorted(int(i) for i in indices):
        key = group_of(column.iloc[index]) if column is not None else ""
        groups.setdefault(key, []).append(index)
    chosen: list[int] = []
    queues = [groups[k] for k in sorted(groups)]
    depth = 0
    while len(chosen) < n and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < n:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def prediction_set(results: str | os.PathLike[str], config: Mapping[str, Any], dataset: DatasetView, direction: str,
                   *, n: int | None = None) -> PredictionSet:
    """The chosen model's predictions of ``n`` test samples (raw images), as the evaluate rule
    stored them (``metrics/<direction>/<model>/seed<s>/predictions.tif``); nothing is recomputed."""
    n = n_figure_samples(config) if n is None else n
    run = pick_model(find_model_runs(results), direction, config)
    split = config_split(config)
    if run is None:
        return PredictionSet(direction, None, split, reason=f"no trained model under models/{direction}/")
    frame = dataset.split(split)
    if frame is None:
        return PredictionSet(direction, run, split, reason=f"split file splits/{split}.csv missing")
    test = subset_indices(frame, "test")
    if len(test) == 0:
        return PredictionSet(direction, run, split, reason=f"the test subset of {split} is empty")
    chosen = select_samples(dataset, test, n)
    stored = stored_predictions(results, run, dataset, chosen, split)
    if isinstance(stored, str):
        return PredictionSet(direction, run, split, reason=stored)
    preds, target_kinds = stored
    input_kind, target_kind = direction_kinds(direction)[0], target_kinds[0]  # the figure shows the first channel
    if input_kind not in dataset.stacks or target_kind not in dataset.stacks:
        return PredictionSet(direction, run, split, reason=f"the dataset has no {input_kind} or {target_kind} stack")
    rows = []
    for index, pred in zip(chosen, preds, strict=True):
        meta = dataset.manifest.iloc[index]
        rows.append({
            "index": index,
            "sample_id": str(meta["sample_id"]),
            "spacegroup": group_of(meta.get("spacegroup")),
            "formula": str(meta.get("formula", "")) if meta.get("formula") is not None else "",
            "delta": _float(meta.get("delta")),
            "a": _float(meta.get("a")),
            "input": np.array(dataset.stacks[input_kind][index], dtype=np.float32),
            "prediction": np.asarray(pred[0], dtype=np.float32),
            "truth": np.array(dataset.stacks[target_kind][index], dtype=np.float32),
            # what the EDD square covers (the figure's title says it)
            "edd_cells_in_view": meta.get("edd_cells_in_view"),
            "edd_periodic": meta.get("edd_periodic"),
        })
    return PredictionSet(direction, run, split, rows)


def stored_predictions(results: str | os.PathLike[str], run: ModelRun, dataset: DatasetView, rows: Sequence[int],
                       split: str) -> tuple[list[np.ndarray], list[str]] | str:
    """The evaluate rule's predictions [raw physical units] of dataset ``rows`` (each C × side ×
    side, one plane per target kind) and the target kinds; or why they cannot be shown (not
    evaluated yet, another dataset or split, a sample outside the evaluated subset)."""
    from ..layout import PREDICTIONS, file_sha256, read_predictions

    folder = run.evaluation(results)
    if not (folder / PREDICTIONS).is_file():
        return f"no {folder / PREDICTIONS} (written by the evaluate rule)"
    stack, meta = read_predictions(folder)
    if meta.get("dataset_hash") != dataset.info.get("dataset_hash"):
        return f"{folder / PREDICTIONS} was evaluated on another dataset"
    if run.checkpoint.is_file() and meta.get("checkpoint_sha256") != file_sha256(run.checkpoint):
        return f"{folder / PREDICTIONS} was made by another {run.checkpoint} (retrained since: evaluate again)"
    if meta.get("split") != split:
        return f"{folder / PREDICTIONS} holds split {meta.get('split')!r}, the figures show {split!r}"
    where = {sid: i for i, sid in enumerate(meta["sample_ids"])}
    wanted = [str(dataset.manifest.iloc[int(r)]["sample_id"]) for r in rows]
    missing = [w for w in wanted if w not in where]
    if missing:
        return f"{folder / PREDICTIONS} has no prediction of {missing[0]} (another subset?)"
    return [stack[where[w]] for w in wanted], [str(k) for k in meta.get("target_kinds", [])]


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _extent(kind: str, row: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[list[float] | None, str]:
    if kind == "lacbed":
        return lacbed_extent(config["simulation"]["outer_convergence_angle"]), "k$_x$ [Å$^{-1}$]"
    size = _float(row.get("edd_field_of_view"))
    if size is None:  # datasets from before the manifest recorded it
        size = configured_field_of_view(config, row.get("a"))
    return (edd_extent(size), f"x [Å]{coverage_note(row)}") if size else (None, "x [px]")


def _row_label(row: Mapping[str, Any]) -> str:
    parts = [row["formula"] or row["sample_id"], row["spacegroup"]]
    if row.get("delta") is not None:
        parts.append(f"δ = {row['delta']:.2f} e")
    return "\n".join(p for p in parts if p)


def draw_prediction_set(subfig: Any, pset: PredictionSet, dataset: DatasetView, config: Mapping[str, Any], n: int) -> None:
    """One direction's block: n rows × (input, prediction, truth, difference) with colour bars."""
    input_kind, target_kind = direction_kinds(pset.direction)
    model_text = f"{pset.run.model}, seed {pset.run.seed}" if pset.run else "no model"
    subfig.suptitle(f"{DIRECTION_LABELS[pset.direction]} ({model_text}; test subset of {pset.split})", fontsize=11)
    axes = subfig.subplots(max(n, 1), len(COLUMNS), squeeze=False)
    if pset.reason:
        for ax in axes.ravel():
            ax.set_axis_off()
        not_available(axes[0, 0], pset.reason)
        return
    norm = dataset.normalisation
    shown = {name: [display(kind, row[name], norm) for row in pset.rows]
             for name, kind in (("input", input_kind), ("prediction", target_kind), ("truth", target_kind))}
    diffs = [p - t for p, t in zip(shown["prediction"], shown["truth"], strict=True)]
    limit = symmetric_limit(diffs)
    titles = {
        "input": f"input: {KIND_NAMES[input_kind]}",
        "prediction": f"prediction: {KIND_NAMES[target_kind]}",
        "truth": f"truth: {KIND_NAMES[target_kind]}",
        "difference": "prediction − truth",
    }
    images: dict[str, Any] = {}
    for r in range(axes.shape[0]):
        if r >= len(pset.rows):
            for ax in axes[r]:
                ax.set_axis_off()
            continue
        row = pset.rows[r]
        for c, name in enumerate(COLUMNS):
            ax = axes[r, c]
            kind = input_kind if name == "input" else target_kind
            extent, xlabel = _extent(kind, row, config)
            values = diffs[r] if name == "difference" else shown[name][r]
            images[name] = draw_image(ax, values, "difference" if name == "difference" else kind, extent=extent,
                                      limit=limit, gid=f"{pset.direction}:{name}:{kind}:{row['sample_id']}")
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[name], fontsize=9)
            if r == len(pset.rows) - 1:
                ax.set_xlabel(xlabel, fontsize=8)
                ax.tick_params(labelsize=7)
            else:
                ax.set_xticks([])
            if c == 0:
                ax.set_ylabel(_row_label(row), fontsize=8)
    last = len(pset.rows)
    bar_labels = {
        "input": DISPLAY_LABELS[input_kind],
        "prediction": DISPLAY_LABELS[target_kind],
        "truth": DISPLAY_LABELS[target_kind],
        "difference": "difference of the display values",
    }
    for c, name in enumerate(COLUMNS):
        bar = subfig.colorbar(images[name], ax=list(axes[:last, c]), location="bottom", shrink=0.95, aspect=12)
        bar.set_label(bar_labels[name], fontsize=7)
        bar.ax.tick_params(labelsize=6)


def plot_predictions(results: str | os.PathLike[str], config: Mapping[str, Any], *,
                     dataset: DatasetView | None = None) -> Figure:
    """Figure (a) as a matplotlib Figure (reads only ``results`` and the config)."""
    dataset = dataset or load_dataset(results)
    directions = list(((config.get("train") or {}).get("directions")) or ["edd2lacbed", "lacbed2edd"])
    n = n_figure_samples(config)
    sets = []
    for direction in directions:
        try:
            sets.append(prediction_set(results, config, dataset, direction, n=n))
        except InputError as exc:  # e.g. an unreadable checkpoint: say so in the panel
            sets.append(PredictionSet(direction, None, config_split(config), reason=str(exc)))
    fig = new_figure(7.6 * len(sets), 1.75 * n + 2.2)
    subfigs = fig.subfigures(1, len(sets), squeeze=False)[0]
    for subfig, pset in zip(subfigs, sets, strict=True):
        draw_prediction_set(subfig, pset, dataset, config, n)
    fig.suptitle(f"Surrogate predictions on held-out test samples (EDD: {edd_view_phrase(sets)}, origin at the centre; "
                 "LACBED: (000) disc, k$_x$ along the x direction)", fontsize=10)
    return fig


def edd_view_phrase(sets: list[PredictionSet]) -> str:
    """What the EDD images of the figure show: "one projected cell a × a" only when every shown
    sample's square view is exactly one period of its projected lattice (manifest ``edd_cells_in_view``,
    ``edd_periodic``); otherwise the square's side and the range of projected cells it spans (a
    hexagonal crystal along [0001]: 1.15 cells, not a period)."""
    cells, periodic = [], []
    for pset in sets:
        for row in pset.rows:
            try:
                cells.append(float(row.get("edd_cells_in_view")))
            except (TypeError, ValueError):
                continue
            periodic.append(str(row.get("edd_periodic")).strip().lower() in ("true", "1"))
    if not cells or (all(periodic) and all(abs(c - 1.0) < 1e-6 for c in cells)):
        return "one projected cell a × a"
    low, high = min(cells), max(cells)
    span = f"{low:.3g}" if abs(high - low) < 1e-6 else f"{low:.3g}–{high:.3g}"
    return f"a square of side a spanning {span} projected cells{'' if all(periodic) else ', not a lattice period'}"

