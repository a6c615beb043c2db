"""Figure (a): test-set predictions of the surrogate, both directions.

For each direction, ``workflow.n_figure_samples`` samples of the test subset of the split the model
was trained on (``train.split``, default ``random_0``) are shown in rows: input, prediction, truth
and the difference prediction − truth, all in display units (:mod:`.common`: EDD as normalised
charge strength, LACBED as inverse intensity, dataset-wide constants). The model is the first seed
of ``pix2pix`` (else the first model present). Samples are taken round-robin over the space groups
of the test subset (in stack order within a group), so several groups appear when there are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..dataset.splits import subset_indices
from ..dataset.torch_dataset import direction_kinds
from ..errors import InputError
from .common import (
    DIRECTION_LABELS,
    DISPLAY_LABELS,
    KIND_NAMES,
    DatasetView,
    ModelRun,
    config_split,
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
                   *, n: int | None = None, device: str = "cpu") -> PredictionSet:
    """Run the chosen model of ``direction`` on ``n`` test samples (raw images in, raw images out)."""
    from ..surrogate.predict import model_kinds

    n = n_figure_samples(config) if n is None else n
    run = pick_model(find_model_runs(results), direction, config)
    split = config_split(config)
    if run is None:
        return PredictionSet(direction, None, split, reason=f"no trained model under models/{direction}/")
    loaded = load_for_dataset(run, dataset, device)
    if isinstance(loaded, str):
        return PredictionSet(direction, run, split, reason=loaded)
    model, desc = loaded
    split = str(desc.get("split") or split)
    frame = dataset.split(split)
    if frame is None:
        return PredictionSet(direction, run, split, reason=f"split file splits/{split}.csv missing")
    test = subset_indices(frame, "test")
    if len(test) == 0:
        return PredictionSet(direction, run, split, reason=f"the test subset of {split} is empty")
    input_kinds, target_kinds = model_kinds(desc)
    input_kind, target_kind = input_kinds[0], target_kinds[0]  # the figure shows the first channel
    chosen = select_samples(dataset, test, n)
    inputs = [np.array(dataset.stacks[input_kind][i], dtype=np.float32) for i in chosen]
    preds = [p[0] for p in predict_rows(model, desc, dataset, chosen)]
    rows = []
    for index, x, pred in zip(chosen, inputs, preds, strict=True):
        meta = dataset.manifest.iloc[index]
        rows.append({
            "index": index,
            "sample_id": str(meta["sample_id"]),
            "spacegroup": group_of(meta.get("spacegroup")),
            "formula": str(meta.get("formula", "")) if meta.get("formula") is not None else "",
            "delta": _float(meta.get("delta")),
            "a": _float(meta.get("a")),
            "input": x,
            "prediction": np.asarray(pred, dtype=np.float32),
            "truth": np.array(dataset.stacks[target_kind][index], dtype=np.float32),
        })
    return PredictionSet(direction, run, split, rows)


def load_for_dataset(run: ModelRun, dataset: DatasetView, device: str) -> tuple[Any, dict[str, Any]] | str:
    """(generator, data description) of a model run, or why it cannot predict for this dataset
    (trained on another one; an image kind it takes or gives has no stack here)."""
    from ..surrogate.predict import load_model, model_kinds

    model, desc = load_model(run.checkpoint, device)
    if desc.get("dataset_hash") != dataset.info.get("dataset_hash"):
        return f"{run.checkpoint} was trained on another dataset"
    input_kinds, target_kinds = model_kinds(desc)
    missing = [k for k in (*input_kinds, *target_kinds) if k not in dataset.stacks]
    if missing:
        return f"the dataset has no {missing} stack"
    return model, desc


def predict_rows(model: Any, desc: Mapping[str, Any], dataset: DatasetView, rows: Sequence[int]) -> list[np.ndarray]:
    """The model's predictions [raw physical units] for dataset rows, each C × side × side (one
    plane per target kind), from the dataset's images of the model's input kinds."""
    from ..surrogate.predict import model_kinds, predict_arrays

    input_kinds, target_kinds = model_kinds(desc)
    inputs = [np.stack([np.array(dataset.stacks[k][i], dtype=np.float32) for k in input_kinds]) for i in rows]
    preds = predict_arrays(model, [x if len(input_kinds) > 1 else x[0] for x in inputs], desc)
    return [np.asarray(p, dtype=np.float32).reshape(len(target_kinds), *inputs[0].shape[1:]) for p in preds]


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
        fov = (config.get("edd") or {}).get("field_of_view", "lattice")
        size = float(fov) if isinstance(fov, (int, float)) else row.get("a")
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


def plot_predictions(results: str | os.PathLike[str], config: Mapping[str, Any], *, dataset: DatasetView | None = None,
                     device: str = "cpu") -> Figure:
    """Figure (a) as a matplotlib Figure (reads only ``results`` and the config)."""
    dataset = dataset or load_dataset(results)
    directions = list(((config.get("train") or {}).get("directions")) or ["edd2lacbed", "lacbed2edd"])
    n = n_figure_samples(config)
    sets = []
    for direction in directions:
        try:
            sets.append(prediction_set(results, config, dataset, direction, n=n, device=device))
        except InputError as exc:  # e.g. an unreadable checkpoint: say so in the panel
            sets.append(PredictionSet(direction, None, config_split(config), reason=str(exc)))
    fig = new_figure(7.6 * len(sets), 1.75 * n + 2.2)
    subfigs = fig.subfigures(1, len(sets), squeeze=False)[0]
    for subfig, pset in zip(subfigs, sets, strict=True):
        draw_prediction_set(subfig, pset, dataset, config, n)
    fig.suptitle("Surrogate predictions on held-out test samples (EDD: one cell a × a, origin at the centre; "
                 "LACBED: (000) disc, k$_x$ along the x direction)", fontsize=10)
    return fig

