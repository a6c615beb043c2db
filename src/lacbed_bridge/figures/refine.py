"""The refine study's figure: the charge δ recovered from noisy test discs against the true δ, by
the physics fit (±2σ) and by the surrogate, with each route's RMS error and time per disc.

Drawn from the study's own files (``per_sample.csv``, ``summary.json`` of ``lacbed-bridge
refine-test``, lacbed_bridge.refine.study): no fit is run here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from .common import new_figure, save_figure

NAME = "recovered_delta"


def plot_recovered_delta(frame: pd.DataFrame, summary: dict[str, Any]) -> Figure:
    """Recovered δ [e per formula unit] against the true δ, one marker per disc and route."""
    fig = new_figure(4.2, 3.8)
    ax = fig.subplots()
    if len(frame) and "refine_delta" in frame:
        bars = ax.errorbar(frame["delta"], frame["refine_delta"], yerr=2 * frame["refine_delta_sigma"], fmt="o", ms=4,
                           capsize=2, label=f"refinement (±2σ), RMSE {summary['refine']['delta_rmse']:.3f} e, "
                                            f"{summary['refine']['seconds_per_disc']:.1f} s/disc")
        bars.lines[0].set_gid("refine")
    if "surrogate_delta" in frame:
        s = summary["surrogate"]
        ax.plot(frame["delta"], frame["surrogate_delta"], "s", ms=4, mfc="none", gid="surrogate",
                label=f"surrogate ({s['model']}), RMSE {s['delta_rmse']:.3f} e, {1e3 * s['seconds_per_disc']:.1f} ms/disc")
    lo = float(min(frame["delta"].min(), 0.0)) if len(frame) else 0.0
    hi = float(max(frame["delta"].max(), 1.0)) if len(frame) else 1.0
    ax.plot([lo, hi], [lo, hi], "k:", lw=0.8)
    ax.set_xlabel("true δ [e per formula unit]")
    ax.set_ylabel("recovered δ [e per formula unit]")
    ax.set_title(f"Charge recovered from noisy discs ({summary['counts']:g} counts per unit intensity)", fontsize=8)
    ax.legend(fontsize=6, loc="upper left")
    return fig


def write_recovered_delta(study_dir: str | os.PathLike[str]) -> list[Path]:
    """Read a study folder's ``per_sample.csv`` and ``summary.json`` and write ``recovered_delta.png``
    and ``.pdf`` beside them (atomically); returns the paths."""
    from ..errors import InputError

    folder = Path(study_dir)
    table, summary_path = folder / "per_sample.csv", folder / "summary.json"
    for path in (table, summary_path):
        if not path.is_file():
            raise InputError("refine study file missing (lacbed-bridge refine-test writes it)", path=path)
    frame = pd.read_csv(table, dtype={"sample_id": str})
    if "delta" not in frame:
        raise InputError("no column 'delta' (the true δ)", path=table, field="delta")
    return save_figure(plot_recovered_delta(frame, json.loads(summary_path.read_text())), folder, NAME)
