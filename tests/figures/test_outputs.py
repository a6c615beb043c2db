"""The figure files: names, formats, atomic writing, determinism, errors and missing inputs."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.text import Text
from support.workflow import REPO

from lacbed_bridge.cli import main
from lacbed_bridge.errors import InputError
from lacbed_bridge.figures import make_figure, make_figures
from lacbed_bridge.figures.common import FIGURE_NAMES
from lacbed_bridge.figures.metrics import plot_metrics
from lacbed_bridge.figures.predictions import plot_predictions
from lacbed_bridge.figures.speed import plot_speed
from lacbed_bridge.figures.training_curves import plot_training_curves

# builds a real results tree (simulations, EDD, dataset, 1-epoch models): `make test` runs it, `-m 'not slow'` does not
pytestmark = pytest.mark.slow

EXPECTED = ["a_predictions", "b_charge_panel", "c_training_curves", "d_speed", "e_metrics"]


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def test_names_match_the_workflow():
    assert list(FIGURE_NAMES) == EXPECTED


def test_all_ten_files_are_valid_png_and_pdf(figures_dir):
    files = sorted(p.name for p in figures_dir.iterdir())
    assert files == sorted(f"{n}.{ext}" for n in EXPECTED for ext in ("png", "pdf"))  # no temporary files left
    for name in EXPECTED:
        png = (figures_dir / f"{name}.png").read_bytes()
        width, height = png_size(png)
        assert 600 <= width <= 6000 and 400 <= height <= 6000, (name, width, height)
        pdf = (figures_dir / f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and len(pdf) > 1000, name


def test_the_workflow_shows_felix_with_the_recorded_times_and_their_source(results, config):
    """issue #27 item 2: without a Felix binary the benchmark_simulator rule takes Felix's and the
    drop-in's times recorded by a live run (tests/data/felix_reference/timings.json), each labelled
    with its date and machine, and figure (d) draws them beside our simulator on the same case;
    nothing in the file is an estimate."""
    import json

    from lacbed_bridge.figures.speed import benchmark_felix_times

    recorded = json.loads((REPO / "tests" / "data" / "felix_reference" / "timings.json").read_text())
    bench = json.loads((results / "benchmarks" / "simulator.json").read_text())
    label = f"recorded {recorded['recorded']}, {recorded['machine']}"
    for case, row in recorded["cases"].items():
        if case.startswith("grid"):
            continue
        assert bench[f"{case}_felix_s"] == row["felix_s"] and bench[f"{case}_dropin_s"] == row["dropin_s"]
        assert bench[f"{case}_felix_source"] == label
        assert bench[f"{case}_builtin_s"] > 0  # ours, timed in this run
        assert len(row["felix_runs"]) == recorded["repeats"] and row["max_dI"] < 1e-5  # a real, checked run
    assert not any("estimate" in key or "estimate" in str(value) for key, value in bench.items())
    timed = benchmark_felix_times(results)
    assert {e.category for e in timed} == {"felix", "builtin"} and all(label in e.label for e in timed)
    assert not any("Felix: not available" in t for t in texts(plot_speed(results, config)))


def test_same_results_give_the_same_bytes(results, config, tmp_path):
    first = make_figure("c_training_curves", results, config, tmp_path / "one")
    second = make_figure("c_training_curves", results, config, tmp_path / "two")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_missing_dataset_is_an_input_error_naming_the_file(tmp_path, config, config_file, capsys):
    with pytest.raises(InputError, match="dataset.json"):
        make_figures(tmp_path, config, tmp_path / "figures")
    status = main(["figures", "--results", str(tmp_path), "--config", str(config_file), "--out", str(tmp_path / "figures")])
    err = capsys.readouterr().err
    assert status == 2
    assert "dataset.json" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "figures").exists() or not any((tmp_path / "figures").iterdir())


def test_missing_stack_names_the_file(results, config, tmp_path):
    partial = tmp_path / "results"
    shutil.copytree(results / "dataset", partial / "dataset")
    (partial / "dataset" / "lacbed.tif").unlink()
    with pytest.raises(InputError, match="lacbed.tif"):
        make_figures(partial, config, tmp_path / "figures")


@pytest.fixture
def dataset_only(results, tmp_path) -> Path:
    """A results tree with the dataset only: no models, metrics, benchmarks or per-sample TIFFs."""
    partial = tmp_path / "results"
    shutil.copytree(results / "dataset", partial / "dataset")
    return partial


def test_missing_optional_inputs_say_not_available(dataset_only, config, tmp_path):
    empty_reference = tmp_path / "no_felix"
    empty_reference.mkdir()
    figures = {
        "a": plot_predictions(dataset_only, config),
        "c": plot_training_curves(dataset_only, config),
        "e": plot_metrics(dataset_only, config),
    }
    for key, fig in figures.items():
        assert any("not available" in t for t in texts(fig)), key
    speed = plot_speed(dataset_only, config, felix_reference=empty_reference)
    joined = "\n".join(texts(speed))
    assert "surrogate: not available" in joined and "Felix: not available" in joined
    # without the per-sample TIFFs the builtin bar comes from the manifest (no device recorded there)
    assert any("builtin Bloch wave, device not recorded" in t for t in texts(speed))
    # and the files are still written for every figure
    written = make_figures(dataset_only, config, tmp_path / "figures")
    assert len(written) == 10 and all(p.stat().st_size > 0 for p in written)


def test_charge_panel_without_model_or_series(dataset_only, config, tmp_path):
    from lacbed_bridge.figures.charge_panel import plot_charge_panel

    fig = plot_charge_panel(dataset_only, config)  # the dataset's simulated rows drawn, predicted rows not available
    joined = "\n".join(texts(fig))
    assert "no edd2lacbed model" in joined and "no lacbed2edd model" in joined
    gids = {im.get_gid() for ax in fig.axes for im in ax.get_images()}
    assert any(g.startswith("charge:sim:") for g in gids) and any(g.startswith("charge:deformation:") for g in gids)
    assert not any(g.startswith("charge:pred_diff:") for g in gids)
    # a dataset without charge series (no base_id column): the panel says how to get one
    manifest = dataset_only / "dataset" / "manifest.csv"
    frame = pd.read_csv(manifest).drop(columns=["base_id"])
    frame.to_csv(manifest, index=False)
    fig = plot_charge_panel(dataset_only, config)
    assert any("no charge series in the test subset" in t and "charge_states" in t for t in texts(fig))


def test_figures_run_no_model_simulator_or_projection(results, config_file, tmp_path):
    """issue #12 item 3, #26: every figure only reads results/: making all five in a fresh interpreter
    imports neither the networks, the checkpoint loader, the charge metrics, the simulator, the EDD
    projection or its settings, the refinement nor torch."""
    import subprocess
    import sys

    forbidden = ["lacbed_bridge.surrogate.models", "lacbed_bridge.surrogate.checkpoint", "lacbed_bridge.surrogate.predict",
                 "lacbed_bridge.surrogate.charge_metrics", "lacbed_bridge.simulate.bloch", "lacbed_bridge.edd.projection",
                 "lacbed_bridge.edd.images", "lacbed_bridge.edd.settings", "lacbed_bridge.refine", "torch"]
    code = ("import sys, yaml; from lacbed_bridge.figures import make_figures; "
            f"config = yaml.safe_load(open({str(config_file)!r})); "
            f"written = make_figures({str(results)!r}, config, {str(tmp_path / 'figs')!r}); "
            f"print(len(written)); print(','.join(m for m in {forbidden!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "10" and out[1] == "", f"imported {out[1]}"
