"""The refine study's figure, drawn from the study's files by the figures package (the fit never
imports figures): what it plots is what per_sample.csv says; a missing file is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lacbed_bridge.errors import InputError
from lacbed_bridge.figures.refine import plot_recovered_delta, write_recovered_delta


def _study(folder: Path) -> tuple[pd.DataFrame, dict]:
    frame = pd.DataFrame({"sample_id": ["a", "b", "c"], "delta": [0.0, 0.5, 1.0], "refine_delta": [0.01, 0.48, 1.02],
                          "refine_delta_sigma": [0.01, 0.02, 0.01], "surrogate_delta": [0.2, 0.4, 0.7]})
    summary = {"counts": 1e4, "refine": {"delta_rmse": 0.017, "seconds_per_disc": 3.2},
               "surrogate": {"model": "pix2pix seed 0", "delta_rmse": 0.2, "seconds_per_disc": 0.004}}
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "per_sample.csv", index=False)
    (folder / "summary.json").write_text(json.dumps(summary))
    return frame, summary


def test_the_figure_plots_the_study_table(tmp_path: Path) -> None:
    frame, summary = _study(tmp_path)
    fig = plot_recovered_delta(frame, summary)
    lines = {line.get_gid(): line for line in fig.axes[0].get_lines() if line.get_gid()}
    np.testing.assert_array_equal(lines["surrogate"].get_ydata(), frame["surrogate_delta"])
    np.testing.assert_array_equal(lines["refine"].get_ydata(), frame["refine_delta"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("RMSE 0.017 e, 3.2 s/disc" in label for label in labels)
    written = write_recovered_delta(tmp_path)
    assert [p.name for p in written] == ["recovered_delta.png", "recovered_delta.pdf"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_a_missing_study_file_is_named(tmp_path: Path) -> None:
    _study(tmp_path)
    (tmp_path / "summary.json").unlink()
    with pytest.raises(InputError, match="summary.json"):
        write_recovered_delta(tmp_path)
