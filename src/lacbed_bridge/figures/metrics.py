"""Figure (e): test metrics per seed and per space group, both directions, pix2pix next to the U-Net.

Rows: MSE and SSIM on the [0, 1] scale (docs/architecture.md §7); columns: directions. On the x axis "all" is
the whole test subset (``results/metrics/summary.csv``, rows of the training split
``train.split``) followed by one group per space group (``per_group.csv`` of each
``results/metrics/<direction>/<model>/seed<s>/``). Bars: mean over seeds, error bars: standard
deviation over seeds (sample std, shown from two seeds on); dots: the individual seeds. The dashed
line marks the original project's headline MSE < 0.02.

A third row shows the charge metrics of the whole test subset (summary.csv;
:mod:`lacbed_bridge.surrogate.charge_metrics`): for EDD → LACBED the Pearson r of the predicted
against the true change between charge states (target ≥ 0.9) with the RMS ratio written on each
bar, for LACBED → EDD the RMS error of the transfer δ read from the prediction [e] (target ≤ 0.1).
Beside the latter, the charge estimator (``results/metrics/estimator/seed<s>/metrics.json``,
docs/surrogate.md §6): its δ RMS error from the disc alone, the RMS of always answering the middle
of the training range (grey tick) and the fraction of test crystals its ±1σ / ±1.96σ intervals hold.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..dataset import DIRECTIONS
from ..layout import estimator_metric_files, evaluation_files, layout
from .common import DIRECTION_LABELS, MODEL_LABELS, config_split, group_of, model_rank, new_figure, not_available

METRICS = (("mse", "MSE (test) [0, 1 scale]"), ("ssim", "SSIM (test)"))
MODEL_COLOURS = {"pix2pix": "#1f77b4", "unet": "#ff7f0e"}
ORIGINAL_MSE = 0.02
ALL = "all"
CHARGE_COLUMNS = ("charge_r", "charge_rms_ratio", "delta_rmse")
#: per direction: the charge metric shown, its axis label and the issue's target line
CHARGE_ROW = {"edd2lacbed": ("charge_r", "charge-effect r (test)", 0.9),
              "lacbed2edd": ("delta_rmse", "δ error, RMS [e] (test)", 0.1)}


def metrics_table(results: str | os.PathLike[str], config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per (direction, model, seed, group) with ``n, mse, ssim``; group ``all`` from summary.csv.

    summary.csv rows are restricted to the training split (``train.split``) when it is present there.
    """
    results_layout = layout(results)
    rows: list[dict[str, Any]] = []
    summary_path = Path(results_layout.metrics_summary())
    if summary_path.is_file():
        summary = pd.read_csv(summary_path)
        needed = {"direction", "model", "seed", "mse", "ssim"}
        if needed <= set(summary.columns) and len(summary):
            split = config_split(config or {})
            if "split" in summary and (summary["split"] == split).any():
                summary = summary[summary["split"] == split]
            for rec in summary.to_dict(orient="records"):
                rows.append({"direction": rec["direction"], "model": rec["model"], "seed": int(rec["seed"]), "group": ALL,
                             "n": rec.get("n"), "mse": float(rec["mse"]), "ssim": float(rec["ssim"]),
                             **{k: float(rec[k]) if k in rec and pd.notna(rec[k]) else np.nan for k in CHARGE_COLUMNS}})
    for direction, model, seed, path in evaluation_files(results, "per_group.csv"):
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            continue
        if not {"spacegroup", "mse", "ssim"} <= set(frame.columns):
            continue
        for rec in frame.to_dict(orient="records"):
            rows.append({"direction": direction, "model": model, "seed": seed, "group": group_of(rec["spacegroup"]),
                         "n": rec.get("n"), "mse": float(rec["mse"]), "ssim": float(rec["ssim"])})
    return pd.DataFrame(rows, columns=["direction", "model", "seed", "group", "n", "mse", "ssim", *CHARGE_COLUMNS])


def seed_statistics(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof = 1; NaN for one seed) over seeds per (direction, model, group)."""
    out = []
    for (direction, model, group), frame in table.groupby(["direction", "model", "group"], sort=True):
        row = {"direction": direction, "model": model, "group": group, "n_seeds": int(frame["seed"].nunique())}
        for metric in (*(m for m, _ in METRICS), *CHARGE_COLUMNS):
            values = frame[metric].to_numpy(dtype=float) if metric in frame else np.zeros(0)
            values = values[np.isfinite(values)]
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else float("nan")
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def _charge_row(ax: Any, stats: pd.DataFrame, table: pd.DataFrame, direction: str, models: list[str], width: float) -> None:
    """The charge metric of ``direction`` on the whole test subset, one bar per model (mean ± std over seeds)."""
    metric, label, target = CHARGE_ROW.get(direction, ("charge_r", "charge-effect r (test)", 0.9))
    sub = stats[(stats["direction"] == direction) & (stats["group"] == ALL)].set_index("model")
    if sub.empty or not np.isfinite(sub.get(f"{metric}_mean", pd.Series(dtype=float))).any():
        not_available(ax, f"no charge metrics for {direction} (needs charge series in the test subset: "
                          "families[].charge_states ≥ 2)")
        return
    for k, model in enumerate(models):
        if model not in sub.index:
            continue
        mean, std = sub.loc[model, f"{metric}_mean"], sub.loc[model, f"{metric}_std"]
        x = (k - (len(models) - 1) / 2) * width
        ax.bar(x, mean, width * 0.9, yerr=std if np.isfinite(std) else 0.0, capsize=3, color=MODEL_COLOURS.get(model, "0.5"),
               alpha=0.8, gid=f"charge:{direction}:{model}:{metric}")
        seeds = table[(table["direction"] == direction) & (table["model"] == model) & (table["group"] == ALL)]
        ax.plot(np.full(len(seeds), x), seeds[metric].to_numpy(dtype=float), "o", color="k", markersize=3, alpha=0.7)
        ratio = sub.loc[model, "charge_rms_ratio_mean"]
        text = f"{mean:.2f}" + (f"\nRMS ratio {ratio:.2f}" if metric == "charge_r" and np.isfinite(ratio) else "")
        ax.text(x, mean, text, ha="center", va="bottom", fontsize=7)
    ax.axhline(target, color="0.3", linestyle="--", linewidth=1)
    ax.text(1.0, target, f" target {'≥' if metric == 'charge_r' else '≤'} {target}", transform=ax.get_yaxis_transform(),
            fontsize=7, va="bottom", ha="right", color="0.3")
    if metric == "charge_r":
        ax.set_ylim(min(-0.1, float(np.nanmin(sub[f"{metric}_mean"])) - 0.1), 1.1)
    ax.set_xticks([0.0], ["all test, change between charge states"], fontsize=8)
    ax.set_ylabel(label)
    ax.grid(True, axis="y", alpha=0.3)


ESTIMATOR_COLOUR = "#2ca02c"


def estimator_metrics(results: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per seed of ``results/metrics/estimator/seed<s>/metrics.json`` (empty when none)."""
    rows = []
    for seed, path in estimator_metric_files(results):
        rows.append({**json.loads(path.read_text()), "seed": seed})
    return pd.DataFrame(rows)


def _estimator_bar(ax: Any, frame: pd.DataFrame) -> None:
    """The charge estimator's δ RMS error (mean ± std over seeds, dots per seed) at x = 1 of the
    LACBED → EDD charge panel, with the middle-of-range RMS and the interval coverage."""
    if frame.empty or "delta_rmse" not in frame:
        return
    ax.set_axis_on()
    values = frame["delta_rmse"].to_numpy(dtype=float)
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    ax.bar(1.0, mean, 0.35, yerr=std, capsize=3, color=ESTIMATOR_COLOUR, alpha=0.8, gid="charge:estimator:delta_rmse")
    ax.plot(np.full(len(values), 1.0), values, "o", color="k", markersize=3, alpha=0.7)
    prior = float(frame["delta_prior_rmse"].mean())
    ax.plot([0.8, 1.2], [prior, prior], color="0.4", linewidth=2, gid="charge:estimator:prior")
    ax.text(1.2, prior, " middle of range", fontsize=6, va="center", color="0.4")
    ax.text(1.0, mean, f"{mean:.2f}\n±1σ / ±2σ hold\n{frame['delta_coverage68'].mean():.0%} / "
            f"{frame['delta_coverage95'].mean():.0%}", ha="center", va="bottom", fontsize=7)
    ticks = [t for t in ax.get_xticks() if abs(t) < 0.5]
    labels = [label.get_text() for label, t in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True) if abs(t) < 0.5]
    ax.set_xticks([*ticks, 1.0], [*labels, "charge estimator\n(δ ± σ from the disc)"], fontsize=8)
    ax.set_xlim(-0.6, 1.7)


def plot_metrics(results: str | os.PathLike[str], config: Mapping[str, Any] | None = None) -> Figure:
    """Figure (e) as a matplotlib Figure."""
    table = metrics_table(results, config)
    directions = [d for d in (((config or {}).get("train") or {}).get("directions") or list(DIRECTIONS))]
    fig = new_figure(6.5 * len(directions), 10.0)
    axes = fig.subplots(len(METRICS) + 1, len(directions), squeeze=False)
    if table.empty:
        for ax in axes.ravel():
            ax.set_axis_off()
        not_available(axes[0, 0], "no metrics/summary.csv and no per_group.csv under results/metrics/")
        fig.suptitle("Test metrics", fontsize=11)
        return fig
    stats = seed_statistics(table)
    models = sorted(table["model"].unique(), key=model_rank)
    width = 0.8 / max(len(models), 1)
    for c, direction in enumerate(directions):
        sub = stats[stats["direction"] == direction]
        groups = sorted(set(sub["group"]), key=lambda g: (g != ALL, g))
        for r, (metric, ylabel) in enumerate(METRICS):
            ax = axes[r, c]
            if sub.empty:
                not_available(ax, f"no metrics for {direction}")
                continue
            x = np.arange(len(groups))
            for k, model in enumerate(models):
                offset = (k - (len(models) - 1) / 2) * width
                m = sub[sub["model"] == model].set_index("group")
                means = np.array([m.loc[g, f"{metric}_mean"] if g in m.index else np.nan for g in groups])
                stds = np.array([m.loc[g, f"{metric}_std"] if g in m.index else np.nan for g in groups])
                colour = MODEL_COLOURS.get(model, "0.5")
                ax.bar(x + offset, means, width * 0.9, yerr=np.where(np.isfinite(stds), stds, 0.0), capsize=3, color=colour,
                       alpha=0.8, gid=f"metric:{direction}:{model}:{metric}")
                seeds = table[(table["direction"] == direction) & (table["model"] == model)]
                for i, g in enumerate(groups):
                    values = seeds.loc[seeds["group"] == g, metric].to_numpy(dtype=float)
                    ax.plot(np.full(len(values), x[i] + offset), values, "o", color="k", markersize=3, alpha=0.7)
            if metric == "mse":
                ax.axhline(ORIGINAL_MSE, color="0.3", linestyle="--", linewidth=1)
                ax.text(1.0, ORIGINAL_MSE, " original: MSE < 0.02", transform=ax.get_yaxis_transform(), fontsize=7,
                        va="bottom", ha="right", color="0.3")
            else:
                ax.set_ylim(min(0.0, float(np.nanmin(sub["ssim_mean"])) - 0.05), 1.0)
            ax.set_xticks(x, [("all test" if g == ALL else g) for g in groups], rotation=30 if len(groups) > 4 else 0, fontsize=8)
            ax.set_ylabel(ylabel)
            ax.grid(True, axis="y", alpha=0.3)
            if r == 0:
                ax.set_title(DIRECTION_LABELS.get(direction, direction), fontsize=11)
            if r == len(METRICS) - 1:
                ax.set_xlabel("test samples: all, then per space group")
        _charge_row(axes[len(METRICS), c], stats, table, direction, models, width)
        if direction == "lacbed2edd":
            _estimator_bar(axes[len(METRICS), c], estimator_metrics(results))
    n_seeds = int(table["seed"].nunique())
    handles = [Patch(color=MODEL_COLOURS.get(m, "0.5"), label=MODEL_LABELS.get(m, m)) for m in models]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=9)
    fig.suptitle(f"Test metrics, split {config_split(config or {})}: mean ± std over seeds (dots: {n_seeds} seed(s))", fontsize=10)
    return fig
