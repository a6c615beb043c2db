"""Figure (c): training curves from every ``results/models/<direction>/<model>/seed<s>/train_log.csv``.

Panels (x: epoch): the generator objective (pix2pix: GAN + λ·L1; U-Net: L1 + w·(1 − SSIM)), its L1
term |G(x) − y|₁ on the [0, 1] scale, the PatchGAN discriminator loss (pix2pix only), and the
validation MSE and SSIM. One colour per direction, one line style per model; each seed is a thin
line and the mean over seeds (epochs common to all seeds) a thick one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .common import (
    DIRECTION_COLOURS,
    DIRECTION_LABELS,
    MODEL_LABELS,
    MODEL_STYLES,
    ModelRun,
    find_model_runs,
    model_rank,
    new_figure,
    not_available,
)

#: (column of train_log.csv, panel title, y label, log scale)
PANELS = (
    ("loss_g", "generator objective", "loss", True),
    ("loss_g_l1", "L1 term |G(x) − y|₁ (training)", "mean absolute error [0, 1 scale]", True),
    ("loss_d", "discriminator loss (pix2pix)", "loss", False),
    ("val_mse", "validation MSE", "MSE [0, 1 scale]", True),
    ("val_ssim", "validation SSIM", "SSIM", False),
)


def read_train_logs(results: str | os.PathLike[str]) -> list[tuple[ModelRun, pd.DataFrame]]:
    """Every readable train_log.csv with an ``epoch`` column, with its run (unreadable ones skipped)."""
    logs = []
    for run in find_model_runs(results):
        if not run.train_log.is_file():
            continue
        try:
            frame = pd.read_csv(run.train_log)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            continue
        if "epoch" in frame and len(frame):
            logs.append((run, frame))
    return logs


def seed_mean(frames: list[pd.DataFrame], column: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs common to every seed, mean of ``column`` over seeds at those epochs)."""
    series = [f.set_index("epoch")[column].astype(float).dropna() for f in frames if column in f]
    series = [s for s in series if len(s)]
    if not series:
        return np.zeros(0), np.zeros(0)
    common = sorted(set.intersection(*(set(s.index) for s in series)))
    values = np.array([[s.loc[e] for e in common] for s in series], dtype=float)
    return np.asarray(common, dtype=float), values.mean(axis=0)


def plot_training_curves(results: str | os.PathLike[str], config: Mapping[str, Any] | None = None) -> Figure:
    """Figure (c) as a matplotlib Figure."""
    logs = read_train_logs(results)
    fig = new_figure(13.0, 7.0)
    axes = fig.subplots(2, 3).ravel()
    legend_ax = axes[-1]
    legend_ax.set_axis_off()
    if not logs:
        for ax in axes[:-1]:
            ax.set_axis_off()
        not_available(axes[0], "no train_log.csv under results/models/")
        fig.suptitle("Training curves", fontsize=11)
        return fig
    groups: dict[tuple[str, str], list[tuple[ModelRun, pd.DataFrame]]] = {}
    for run, frame in logs:
        groups.setdefault((run.direction, run.model), []).append((run, frame))
    keys = sorted(groups, key=lambda k: (k[0], model_rank(k[1])))
    for ax, (column, title, ylabel, log) in zip(axes[:-1], PANELS):
        drawn = False
        for key in keys:
            direction, model = key
            colour = DIRECTION_COLOURS.get(direction, "0.3")
            style = MODEL_STYLES.get(model, ":")
            frames = [f for _, f in groups[key]]
            for run, frame in groups[key]:
                if column not in frame:
                    continue
                data = frame[["epoch", column]].astype(float).dropna()
                if data.empty:
                    continue
                ax.plot(data["epoch"], data[column], color=colour, linestyle=style, linewidth=0.7, alpha=0.45,
                        marker="." if len(data) < 3 else None, gid=f"seed:{direction}:{model}:{run.seed}:{column}")
                drawn = True
            epochs, mean = seed_mean(frames, column)
            if len(epochs):
                ax.plot(epochs, mean, color=colour, linestyle=style, linewidth=2.0, marker="o" if len(epochs) < 3 else None,
                        markersize=4, gid=f"mean:{direction}:{model}:{column}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if not drawn:
            not_available(ax, f"no {column} values")
            ax.set_title(title, fontsize=10)
            continue
        if log and all(np.all(line.get_ydata() > 0) for line in ax.get_lines()):
            ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)
        last_epoch = max(float(np.nanmax(line.get_xdata())) for line in ax.get_lines())
        ax.set_xlim(0.5, last_epoch + 0.5)
    handles = [Line2D([], [], color=DIRECTION_COLOURS.get(d, "0.3"), linewidth=2, label=DIRECTION_LABELS.get(d, d))
               for d in sorted({k[0] for k in keys})]
    handles += [Line2D([], [], color="0.2", linestyle=MODEL_STYLES.get(m, ":"), linewidth=2, label=MODEL_LABELS.get(m, m))
                for m in sorted({k[1] for k in keys}, key=model_rank)]
    handles += [Line2D([], [], color="0.2", linewidth=0.7, alpha=0.6, label="one seed"),
                Line2D([], [], color="0.2", linewidth=2.0, label="mean over seeds")]
    legend_ax.legend(handles=handles, loc="center", frameon=False, fontsize=9)
    n_seeds = {k: len(v) for k, v in groups.items()}
    fig.suptitle("Training curves (" + ", ".join(f"{DIRECTION_LABELS.get(d, d)} {m}: {n} seed(s)" for (d, m), n in sorted(n_seeds.items()))
                 + ")", fontsize=10)
    return fig
