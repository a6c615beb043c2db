"""What the panels show: display conventions, the dataset-wide scale, four δ, the data behind each plot."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import colormaps

from lacbed_bridge.figures.common import (
    CMAPS,
    DatasetView,
    display,
    edd_display,
    find_model_runs,
    lacbed_display,
    load_dataset,
    pick_model,
)
from lacbed_bridge.figures.metrics import ALL, metrics_table, seed_statistics
from lacbed_bridge.figures.predictions import plot_predictions, select_samples
from lacbed_bridge.figures.speed import benchmark_felix_times, felix_reference_times, speed_entries, surrogate_times
from lacbed_bridge.figures.training_curves import plot_training_curves
from lacbed_bridge.io import read_tiff

# uses the real results tree of conftest.py (see test_outputs.py)
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FELIX_REFERENCE = REPO / "tests" / "data" / "felix_reference"


# ----- display conventions ------------------------------------------------------------------------
def test_lacbed_display_is_inverse_intensity():
    constants = {"offset": 0.0, "scale": 1.25}  # I_max of the dataset (Felix-like values above 1)
    raw = np.array([[0.0, 0.625, 1.25]])
    np.testing.assert_allclose(lacbed_display(raw, constants), [[1.0, 0.5, 0.0]])
    # the brightest pixel (electrons most likely) is drawn white: value 0 in the LACBED colour map
    assert colormaps[CMAPS["lacbed"]](0.0)[:3] == pytest.approx((1.0, 1.0, 1.0))
    assert colormaps[CMAPS["lacbed"]](1.0)[:3] == pytest.approx((0.0, 0.0, 0.0))


def test_edd_display_is_normalised_charge_strength_with_offset():
    constants = {"offset": -0.5, "scale": 2.5}  # offset = min(0, global min) (dataset builder rule)
    raw = np.array([-0.5, 0.75, 2.0])
    np.testing.assert_allclose(edd_display(raw, constants), [0.0, 0.5, 1.0])
    norm = {"edd": constants, "lacbed": {"offset": 0.0, "scale": 2.0}}
    np.testing.assert_allclose(display("lacbed", np.array([2.0, 0.0]), norm), [0.0, 1.0])


def test_display_does_not_rescale_per_image():
    """Two images differing by 1 % keep their 1 % difference (per-image min-max would erase it)."""
    constants = {"offset": 0.0, "scale": 10.0}
    image = np.linspace(1.0, 5.0, 16).reshape(4, 4)
    a, b = edd_display(image, constants), edd_display(1.01 * image, constants)
    np.testing.assert_allclose(b - a, 0.01 * image / 10.0)


# ----- (a) predictions ------------------------------------------------------------------------------
def test_prediction_panels_use_the_dataset_constants(results, config):
    dataset = load_dataset(results)
    norm = json.loads((results / "dataset" / "dataset.json").read_text())["normalisation"]
    fig = plot_predictions(results, config, dataset=dataset)
    images = {im.get_gid(): im for ax in fig.axes for im in ax.get_images() if im.get_gid()}
    test_ids = set(pd.read_csv(results / "dataset" / "splits" / "random_0.csv").query("subset == 'test'")["sample_id"])
    truth = [g for g in images if g.startswith("edd2lacbed:truth:lacbed:")]
    inputs = [g for g in images if g.startswith("edd2lacbed:input:edd:")]
    assert len(truth) == min(2, len(test_ids)) and len(inputs) == len(truth)
    # stack row of a sample = its row in manifest.csv (the manifest's "index" column is overwritten by
    # the variant's own index within its family, so it is not used here)
    row_of = {sid: i for i, sid in enumerate(dataset.manifest["sample_id"])}
    for gid in truth:
        sid = gid.split(":")[-1]
        assert sid in test_ids
        raw = dataset.stacks["lacbed"][row_of[sid]]
        np.testing.assert_allclose(images[gid].get_array(), 1.0 - raw / norm["lacbed"]["scale"], atol=1e-6)
        assert images[gid].get_clim() == (0.0, 1.0) and images[gid].get_cmap().name == "gray_r"
        raw_edd = dataset.stacks["edd"][row_of[sid]]
        edd = images[f"edd2lacbed:input:edd:{sid}"]
        np.testing.assert_allclose(edd.get_array(), (raw_edd - norm["edd"]["offset"]) / norm["edd"]["scale"], atol=1e-6)
    diff = next(g for g in images if g.startswith("edd2lacbed:difference:"))
    sid = diff.split(":")[-1]
    np.testing.assert_allclose(images[diff].get_array(),
                               images[f"edd2lacbed:prediction:lacbed:{sid}"].get_array() - images[f"edd2lacbed:truth:lacbed:{sid}"].get_array(),
                               atol=1e-6)
    # the reverse direction shows EDD targets
    assert any(g.startswith("lacbed2edd:truth:edd:") for g in images)


def test_select_samples_round_robin_over_space_groups():
    manifest = pd.DataFrame({"sample_id": [f"s{i}" for i in range(6)],
                             "spacegroup": ["F -4 3 m", "F -4 3 m", "F -4 3 m", "F m -3 m", "F m -3 m", "P m -3 m"]})
    view = DatasetView(Path("."), {"side": 4, "normalisation": {}}, manifest, {})
    assert select_samples(view, [5, 0, 1, 2, 3, 4], 4) == [0, 3, 5, 1]
    assert select_samples(view, [1, 2], 4) == [1, 2]


def test_pick_model_prefers_pix2pix_and_the_first_config_seed(results, config):
    runs = find_model_runs(results)
    assert {(r.direction, r.model) for r in runs} == {(d, m) for d in ("edd2lacbed", "lacbed2edd") for m in ("pix2pix", "unet")}
    assert pick_model(runs, "edd2lacbed", config).model == "pix2pix"
    assert pick_model([r for r in runs if r.model == "unet"], "edd2lacbed", config).model == "unet"
    assert pick_model(runs, "edd2lacbed", {"train": {"seeds": [7, 0]}}).seed == 0


# ----- (b) charge panel -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def view(results, config):
    from lacbed_bridge.figures.charge_panel import charge_view

    return charge_view(results, config, load_dataset(results))


def test_charge_panel_shows_one_test_series_in_delta_order(view, results):
    dataset = load_dataset(results)
    rows = dataset.manifest.iloc[view.rows]
    assert view.reason is None and len(view.rows) >= 2
    assert rows["base_id"].nunique() == 1 and rows["base_id"].iloc[0] == view.base_id
    assert list(view.deltas) == sorted(view.deltas) and len(set(view.deltas)) == len(view.deltas)
    split = pd.read_csv(results / "dataset" / "splits" / f"{view.split}.csv", dtype={"sample_id": str}).set_index("sample_id")
    assert set(split.loc[rows["sample_id"], "subset"]) == {"test"}
    # the images are the dataset's own (no physics in the figure)
    for i, row in enumerate(view.rows):
        np.testing.assert_array_equal(view.truth["lacbed"][i], dataset.stacks["lacbed"][row])
        np.testing.assert_array_equal(view.truth["deformation"][i], dataset.stacks["deformation"][row])


def test_charge_panel_metrics_are_those_of_evaluate(view, results):
    for change, direction in ((view.forward, "edd2lacbed"), (view.inverse, "lacbed2edd")):
        assert change is not None
        path = results / "metrics" / direction / change.run.model / f"seed{change.run.seed}" / "per_sample.csv"
        per_sample = pd.read_csv(path, dtype={"sample_id": str, "base_id": str})
        mine = per_sample[per_sample["base_id"] == view.base_id]
        assert len(mine) == len(view.rows)
        # evaluate scores on the [0, 1] scale, the panel in raw units: r and the ratio do not depend on it
        assert change.metrics["charge_r"] == pytest.approx(mine["charge_r"].iloc[0], abs=1e-4)
        assert change.metrics["charge_rms_ratio"] == pytest.approx(mine["charge_rms_ratio"].iloc[0], rel=1e-4)
    assert view.inverse.kind == "deformation" and view.forward.kind == "lacbed"
    np.testing.assert_allclose(view.inverse.metrics["delta_pred"], mine.sort_values("delta")["delta_pred"], atol=1e-4)


def test_charge_panel_prints_r_beside_the_predicted_change(results, config, view):
    from lacbed_bridge.figures.charge_panel import plot_charge_panel

    fig = plot_charge_panel(results, config)
    gids = {im.get_gid() for ax in fig.axes for im in ax.get_images()}
    assert {g.split(":")[1] for g in gids} >= {"edd", "deformation", "sim", "sim_diff", "pred_diff", "inv_true", "inv_pred"}
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any(f"r = {view.forward.metrics['charge_r']:.2f}" in text for text in labels)


# ----- (c) training curves ----------------------------------------------------------------------------
def test_training_curves_draw_every_seed_and_the_seed_mean(results, config):
    fig = plot_training_curves(results, config)
    lines = {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}
    for run in find_model_runs(results):
        log = pd.read_csv(run.train_log)
        line = lines[f"seed:{run.direction}:{run.model}:{run.seed}:val_mse"]
        np.testing.assert_allclose(line.get_ydata(), log["val_mse"])
        mean = lines[f"mean:{run.direction}:{run.model}:val_mse"]
        np.testing.assert_allclose(mean.get_ydata(), log["val_mse"])  # one seed: the mean is that seed
    assert "seed:edd2lacbed:unet:0:loss_d" not in lines  # the U-Net has no discriminator
    assert "seed:edd2lacbed:pix2pix:0:loss_d" in lines


# ----- (d) speed ------------------------------------------------------------------------------------
def test_speed_entries_come_from_the_results(results, config, tmp_path):
    case = tmp_path / "felix" / "case_a"
    case.mkdir(parents=True)
    (case / "README.md").write_text("# Felix reference case: test case, 16×16 px\n\n- Wall time: 12.5 s (2 cores)\n")
    entries = speed_entries(results, config, felix_reference=tmp_path / "felix")
    builtin = entries[0]
    seconds = [read_tiff(p)[1]["seconds"] for p in sorted((results / "lacbed").glob("*/*.tif"))]
    assert builtin.category == "builtin" and builtin.seconds == pytest.approx(statistics.median(seconds))
    assert "cpu" in builtin.label and "32² px" in builtin.label
    felix = [e for e in entries if e.category == "felix"]
    # the workflow's simulator benchmark gives Felix on the reference cases (recorded), and the
    # folder's own case adds its bar
    assert [(e.seconds, "test case, 16×16 px" in e.label) for e in felix if e.case == "case_a"] == [(12.5, True)]
    assert {e.case for e in felix} - {"case_a"} == {e.case for e in benchmark_felix_times(results) if e.category == "felix"}
    bench_path = results / "benchmarks" / "surrogate.json"
    if bench_path.is_file():
        bench = json.loads(bench_path.read_text())
        fastest = min(v for v in bench["latency_ms"].values() if isinstance(v, float))
        assert [e.seconds for e in surrogate_times(results)] == pytest.approx([fastest / 1e3, bench["best_batched_ms_per_image"] / 1e3])


def test_speed_compares_only_within_a_case(tmp_path):
    """issue #12 item 3: the dataset's 32² time is never set against a Felix run of another case; a
    Felix case is compared with the builtin simulator on that same case (benchmarks/simulator.json)."""
    from lacbed_bridge.figures.speed import speed_notes

    results = tmp_path / "results"
    (results / "benchmarks").mkdir(parents=True)
    (results / "benchmarks" / "simulator.json").write_text(json.dumps({"device": "cpu", "case_a_builtin_s": 0.5}))
    (results / "benchmarks" / "surrogate.json").write_text(json.dumps({"device": "cpu", "side": 32, "latency_ms": {"eager_fp32": 2.0}}))
    for name, wall in (("case_a", 12.5), ("case_b", 30.0)):
        (tmp_path / "felix" / name).mkdir(parents=True)
        (tmp_path / "felix" / name / "README.md").write_text(f"# Felix reference case: {name}\n\n- Wall time: {wall} s\n")
    entries = speed_entries(results, None, felix_reference=tmp_path / "felix")
    assert [(e.case, e.category) for e in entries] == [
        ("this dataset, 32² px", "surrogate"), ("case_a", "builtin"), ("case_a", "felix"), ("case_b", "felix")]
    notes = speed_notes(entries)
    assert notes[1] == "500 ms  (reference of its case)" and notes[2] == "12.5 s  (25× slower)"
    assert "no other timing" in notes[0] and "no other timing" in notes[3]  # nothing to compare with


def test_speed_shows_felix_timed_by_the_benchmark_with_its_source(tmp_path):
    """issue #27 item 2: figure (d) takes Felix's and the drop-in's whole-process times from the
    simulator benchmark (live or recorded, and says which), compared within their case only; a
    reference folder adds only the cases the benchmark did not time."""
    from lacbed_bridge.figures.speed import benchmark_felix_times, speed_notes

    results = tmp_path / "results"
    (results / "benchmarks").mkdir(parents=True)
    bench = {"device": "cpu", "case_a_builtin_s": 2.0, "case_a_felix_s": 20.0, "case_a_dropin_s": 8.0,
             "case_a_felix_source": "recorded 2026-12-07, Xeon, 2 cores", "case_b_builtin_s": 1.0}
    (results / "benchmarks" / "simulator.json").write_text(json.dumps(bench))
    timed = benchmark_felix_times(results)
    assert [(e.case, e.category, e.seconds) for e in timed] == [("case_a", "builtin", 8.0), ("case_a", "felix", 20.0)]
    assert all("recorded 2026-12-07, Xeon, 2 cores" in e.label for e in timed)
    for name, wall in (("case_a", 99.0), ("case_b", 30.0)):
        (tmp_path / "felix" / name).mkdir(parents=True)
        (tmp_path / "felix" / name / "README.md").write_text(f"# Felix reference case: {name}\n\n- Wall time: {wall} s\n")
    entries = speed_entries(results, None, felix_reference=tmp_path / "felix")
    assert [(e.case, e.category, e.seconds) for e in entries] == [
        ("case_a", "builtin", 2.0), ("case_a", "builtin", 8.0), ("case_a", "felix", 20.0),
        ("case_b", "builtin", 1.0), ("case_b", "felix", 30.0)]  # the folder's case_a (99 s) is not shown twice
    notes = speed_notes(entries)
    assert notes[2] == "20 s  (10× slower)" and notes[4] == "30 s  (30× slower)"
    assert not benchmark_felix_times(tmp_path / "elsewhere")


def test_speed_tolerates_partial_benchmark_files(tmp_path):
    bench = tmp_path / "benchmarks" / "surrogate.json"
    bench.parent.mkdir(parents=True)
    bench.write_text(json.dumps({"latency_ms": {"eager_fp32": "skipped: reason"}, "throughput_images_per_s": {"64": {"fp32": 2000.0}}}))
    entries = surrogate_times(tmp_path)
    assert [e.seconds for e in entries] == pytest.approx([0.5e-3])  # no numeric latency; batched from throughput
    bench.write_text("log line\nnot json at all\n")
    assert surrogate_times(tmp_path) == []


def test_felix_reference_wall_times():
    entries = {Path(e.source).parent.name: e.seconds for e in felix_reference_times(FELIX_REFERENCE)}
    assert entries.get("GaAs_m110_930A_64px") == pytest.approx(24.8)  # "Wall time: 24.8 s" in its README
    assert entries.get("GaAs_m110_3t_128px") == pytest.approx(68.4)


# ----- (e) metrics ------------------------------------------------------------------------------------
def test_metrics_table_joins_summary_and_space_groups(results, config):
    table = metrics_table(results, config)
    summary = pd.read_csv(results / "metrics" / "summary.csv")
    whole = table[table["group"] == ALL].sort_values(["direction", "model", "seed"]).reset_index(drop=True)
    np.testing.assert_allclose(whole["mse"], summary.sort_values(["direction", "model", "seed"])["mse"])
    per_sample = pd.read_csv(results / "metrics" / "edd2lacbed" / "pix2pix" / "seed0" / "per_sample.csv")
    groups = set(table[(table["direction"] == "edd2lacbed") & (table["model"] == "pix2pix") & (table["group"] != ALL)]["group"])
    assert groups == {g.replace(" ", "") for g in per_sample["spacegroup"]}


def test_metrics_figure_shows_the_charge_metrics_of_summary(results, config):
    from lacbed_bridge.figures.metrics import plot_metrics

    summary = pd.read_csv(results / "metrics" / "summary.csv").set_index(["direction", "model"])
    fig = plot_metrics(results, config)
    bars = {p.get_gid(): p for ax in fig.axes for p in ax.patches if p.get_gid()}
    for model in ("pix2pix", "unet"):
        r = bars[f"charge:edd2lacbed:{model}:charge_r"]
        assert r.get_height() == pytest.approx(summary.loc[("edd2lacbed", model), "charge_r"])
        delta = bars[f"charge:lacbed2edd:{model}:delta_rmse"]
        assert delta.get_height() == pytest.approx(summary.loc[("lacbed2edd", model), "delta_rmse"]) and delta.get_height() > 0


def test_metrics_figure_shows_the_charge_estimator_beside_the_models(results, config, tmp_path):
    import json
    import shutil

    from lacbed_bridge.figures.metrics import plot_metrics

    shutil.copytree(results / "metrics", tmp_path / "metrics")
    for seed, (rmse, c68) in enumerate([(0.2, 0.5), (0.3, 0.75)]):
        out = tmp_path / "metrics" / "estimator" / f"seed{seed}"
        out.mkdir(parents=True)
        (out / "metrics.json").write_text(json.dumps({"delta_rmse": rmse, "delta_prior_rmse": 0.4, "delta_coverage68": c68,
                                                      "delta_coverage95": 1.0, "n": 12}))
    fig = plot_metrics(tmp_path, config)
    bars = {p.get_gid(): p for ax in fig.axes for p in ax.patches if p.get_gid()}
    assert bars["charge:estimator:delta_rmse"].get_height() == pytest.approx(0.25)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("62% / 100%" in t for t in texts)
    lines = {line.get_gid(): line for ax in fig.axes for line in ax.lines if line.get_gid()}
    assert lines["charge:estimator:prior"].get_ydata()[0] == pytest.approx(0.4)
    assert "charge:estimator:delta_rmse" not in {p.get_gid() for ax in plot_metrics(results, config).axes for p in ax.patches}


def test_seed_statistics_mean_and_sample_std():
    table = pd.DataFrame({"direction": "edd2lacbed", "model": "pix2pix", "seed": [0, 1, 2], "group": ALL,
                          "n": 5, "mse": [0.01, 0.02, 0.04], "ssim": [0.9, 0.8, 0.7]})
    stats = seed_statistics(table).iloc[0]
    assert stats["mse_mean"] == pytest.approx(np.mean([0.01, 0.02, 0.04]))
    assert stats["mse_std"] == pytest.approx(np.std([0.01, 0.02, 0.04], ddof=1))
    assert stats["n_seeds"] == 3
    assert np.isnan(seed_statistics(table.iloc[:1]).iloc[0]["ssim_std"])


def test_speed_notes_end_inside_the_axes(tmp_path):
    """Figure (d): long bar labels wrap and the x axis widens until every note ("34.5 s  (reference
    of its case)") ends inside the axes; before, the note of the longest bar ran off the figure."""
    from lacbed_bridge.figures.speed import plot_speed

    results = tmp_path / "results"
    (results / "benchmarks").mkdir(parents=True)
    case = "GaAs_m110_930A_64px_with_a_long_reference_case_name_that_makes_the_label_long"
    bench = {"device": "cpu", f"{case}_builtin_s": 34.5, f"{case}_felix_s": 38.0, f"{case}_dropin_s": 15.4,
             f"{case}_felix_source": "recorded 2026-12-07, AMD EPYC, 2 cores"}
    (results / "benchmarks" / "simulator.json").write_text(json.dumps(bench))
    (results / "benchmarks" / "surrogate.json").write_text(json.dumps({"device": "cpu", "side": 32, "latency_ms": {"eager_fp32": 0.2}}))
    fig = plot_speed(results, None, felix_reference=tmp_path / "felix")
    fig.draw_without_rendering()
    ax = fig.axes[0]
    right = ax.get_window_extent().x1
    notes = [t for t in ax.texts if str(t.get_gid()).startswith("speed:")]
    assert len(notes) == 4
    for note in notes:
        assert note.get_window_extent().x1 <= right + 1.0, note.get_text()
    assert all(len(line) <= 64 for t in ax.get_yticklabels() for line in t.get_text().split("\n"))
