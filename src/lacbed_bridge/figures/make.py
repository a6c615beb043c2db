"""Make every paper figure from ``results/``: ``make_figures(results_dir, config, out_dir)``.

Each figure is built by its own module (one function each) and written as PNG and PDF
(:func:`.common.save_figure`, atomic, no time stamps). The dataset is required (its normalisation
constants fix the display scale): without it an :class:`~lacbed_bridge.errors.InputError` names the
missing file. Every other input is optional: a figure whose input is missing says "not available"
in the panel concerned.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from ..errors import InputError
from .charge_panel import plot_charge_panel
from .common import FIGURE_NAMES, DatasetView, load_dataset, save_figure
from .metrics import plot_metrics
from .predictions import plot_predictions
from .speed import plot_speed
from .training_curves import plot_training_curves

LOG = logging.getLogger(__name__)


def _builders(dataset: DatasetView, felix_reference: str | os.PathLike[str] | None
              ) -> dict[str, Callable[[Path, Mapping[str, Any]], Figure]]:
    return {
        "a_predictions": lambda r, c: plot_predictions(r, c, dataset=dataset),
        "b_charge_panel": lambda r, c: plot_charge_panel(r, c, dataset=dataset),
        "c_training_curves": lambda r, c: plot_training_curves(r, c),
        "d_speed": lambda r, c: plot_speed(r, c, felix_reference=felix_reference),
        "e_metrics": lambda r, c: plot_metrics(r, c),
    }


def make_figure(name: str, results_dir: str | os.PathLike[str], config: Mapping[str, Any], out_dir: str | os.PathLike[str], *,
                dataset: DatasetView | None = None,
                felix_reference: str | os.PathLike[str] | None = None) -> list[Path]:
    """Build and write one figure (``a_predictions`` … ``e_metrics``); returns the PNG and PDF paths."""
    if name not in FIGURE_NAMES:
        raise InputError(f"unknown figure {name!r}; expected one of {list(FIGURE_NAMES)}", field="figure")
    results = Path(results_dir)
    dataset = dataset or load_dataset(results)
    fig = _builders(dataset, felix_reference)[name](results, config)
    paths = save_figure(fig, out_dir, name)
    LOG.info("figures: %s -> %s", name, ", ".join(str(p) for p in paths))
    return paths


def make_figures(results_dir: str | os.PathLike[str], config: Mapping[str, Any], out_dir: str | os.PathLike[str], *,
                 names: Sequence[str] = FIGURE_NAMES,
                 felix_reference: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write ``<out_dir>/<name>.png`` and ``.pdf`` for each figure; returns the written paths.

    Parameters
    ----------
    results_dir: the workflow's ``results/`` folder (dataset/, models/, metrics/, benchmarks/, variants/).
    config: the validated config (``lacbed_bridge.config.load_config``).
    out_dir: output folder (the workflow uses ``results/figures``).
    names: which figures (default all five).
    felix_reference: folder of Felix reference runs whose wall times figure (d) shows (default: none)
    """
    results = Path(results_dir)
    dataset = load_dataset(results)
    written: list[Path] = []
    for name in names:
        written += make_figure(name, results, config, out_dir, dataset=dataset, felix_reference=felix_reference)
    return written
