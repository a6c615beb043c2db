"""The Snakemake workflow end to end (a real run), its robustness, and the cluster dry runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from support.workflow import BROKEN, REPO, job_counts, planned_jobs, recorded, snakemake

# real Snakemake runs of the whole workflow (minutes)
pytestmark = pytest.mark.slow

FIGURES = ["a_predictions", "b_charge_panel", "c_training_curves", "d_speed", "e_metrics"]


def test_every_output_exists_and_is_valid(e2e: tuple[Path, Path]) -> None:
    work, _ = e2e
    r = work / "results"
    info = json.loads((r / "dataset" / "dataset.json").read_text())
    assert info["counts"]["requested"] == 10 and info["counts"]["included"] == 9
    manifest = pd.read_csv(r / "dataset" / "manifest.csv")
    assert len(manifest) == 9 and BROKEN not in set(manifest["sample_id"])
    assert set(manifest["spacegroup"].str.replace(" ", "")) == {"F-43m", "Fm-3m"}
    for kind in ("edd", "lacbed", "deformation"):
        stack = tifffile.imread(r / "dataset" / f"{kind}.tif")
        assert stack.shape == (9, 32, 32) and stack.dtype == np.float32 and np.isfinite(stack).all()
    # the deformation density of every crystal (the broken CIF aside), beside the total density
    deformation = sorted((r / "deformation").glob("*/*.tif"))
    assert len(deformation) == 9
    for path in deformation:
        image, meta = tifffile.imread(path), json.loads(tifffile.TiffFile(path).pages[0].description)
        assert meta["kind"] == "deformation" and image.shape == (32, 32) and np.isfinite(image).all()
    summary = pd.read_csv(r / "metrics" / "summary.csv")
    assert list(summary.columns) == ["direction", "model", "seed", "split", "n", "mse", "ssim", "psnr",
                                     "charge_r", "charge_rms_ratio", "delta_rmse"]
    assert len(summary) == 4 and set(summary["model"]) == {"pix2pix", "unet"}
    assert summary["mse"].between(0, 1).all() and summary["ssim"].between(-1, 1).all()
    # charge series (2 states per base crystal) in the test subset: the charge metrics are scored,
    # with the EDD side as two channels (config.yaml's train.input / train.target: both)
    assert summary["charge_rms_ratio"].notna().all()
    assert summary.loc[summary["direction"] == "lacbed2edd", "delta_rmse"].notna().all()
    assert summary.loc[summary["direction"] == "edd2lacbed", "delta_rmse"].isna().all()
    model = json.loads((r / "models" / "lacbed2edd" / "unet" / "seed0" / "model.json").read_text())
    assert model["data_json"]["target_kinds"] == ["edd", "deformation"]
    bench = json.loads((r / "benchmarks" / "surrogate.json").read_text())
    assert bench["side"] == 32 and bench["latency_ms"]["eager_fp32"] > 0
    for name in FIGURES:
        png = (r / "figures" / f"{name}.png").read_bytes()
        pdf = (r / "figures" / f"{name}.pdf").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        assert pdf[:5] == b"%PDF-" and len(pdf) > 1000


def test_failed_simulation_is_reported_and_excluded(e2e: tuple[Path, Path]) -> None:
    work, _ = e2e
    r = work / "results"
    batch = pd.read_csv(r / "lacbed" / "F-43m_zincblende" / "batch_0001.csv")
    row = batch.set_index("sample_id").loc[BROKEN]
    assert row["status"] == "failed" and "cell" in row["error"].lower()
    assert (r / "lacbed" / "F-43m_zincblende" / f"{BROKEN}.failed").is_file()
    assert not (r / "lacbed" / "F-43m_zincblende" / f"{BROKEN}.tif").exists()
    info = json.loads((r / "dataset" / "dataset.json").read_text())
    assert [e["sample_id"] for e in info["excluded"]] == [BROKEN]
    # the exclusion cites the error the marker holds, not only the marker (issue #11 item 9)
    reason = info["excluded"][0]["reason"]
    assert row["error"] in reason and f"{BROKEN}.failed" in reason


def test_nothing_to_redo_then_only_what_is_missing(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    """An interruption after one simulate batch was lost: only that batch (and what follows) reruns."""
    work, config = e2e
    assert job_counts(snakemake(work, "-n", config=config)) == {}
    manifest = work / "results" / "lacbed" / "Fm-3m_rocksalt" / "batch_0000.csv"
    info = work / "results" / "dataset" / "dataset.json"
    for path in (manifest, info):
        shutil.copy2(path, tmp_path / path.name)
        path.unlink()
    counts = job_counts(snakemake(work, "-n", config=config))
    assert counts["simulate"] == 1 and counts["dataset"] == 1
    assert "variants" not in counts and "edd" not in counts
    # the batch reuses its existing images (same settings hash): nothing is recomputed
    snakemake(work, "--cores", "1", str(manifest.relative_to(work)), config=config)
    assert set(pd.read_csv(manifest)["status"]) == {"cached"}
    for path in (manifest, info):
        shutil.copy2(tmp_path / path.name, path)


def test_changing_one_family_reruns_only_that_family(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    work, config = e2e
    changed = yaml.safe_load(config.read_text())
    changed["families"][1]["delta"] = [0.2, 0.4]  # Fm-3m_rocksalt only
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    dry = snakemake(work, "-n", config=path)
    counts = job_counts(dry)
    assert counts["variants"] == 1 and counts["simulate"] == 2 and counts["edd"] == 4  # edd + deformation
    families: dict[str, set[str]] = {}
    rule = ""
    for line in (dry.stdout + dry.stderr).splitlines():
        if match := re.match(r"\s*rule (\w+):", line):
            rule = match.group(1)
        elif match := re.match(r"\s*wildcards: (?:kind=\w+, )?family=([\w.+-]+)", line):
            families.setdefault(rule, set()).add(match.group(1))
    assert families == {"variants": {"Fm-3m_rocksalt"}, "simulate": {"Fm-3m_rocksalt"}, "edd": {"Fm-3m_rocksalt"}}


def test_the_settings_hashes_decide_what_reruns(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    """The simulate and edd rules rerun on the hash of their settings objects (issue #12 item 4):
    how the work is done (pixel_chunk, Felix's timeout) reruns nothing; a setting both image kinds
    depend on (the Debye–Waller constant) reruns every simulate and edd batch."""
    work, config = e2e
    changed = yaml.safe_load(config.read_text())
    changed["simulation"]["pixel_chunk"] = 77
    changed["simulation"]["felix"] = {**(changed["simulation"].get("felix") or {}), "timeout_s": 60}
    path = tmp_path / "how.yaml"
    path.write_text(yaml.safe_dump(changed))
    assert job_counts(snakemake(work, "-n", config=path)) == {}
    changed["simulation"]["debye_waller_constant"] = float(changed["simulation"].get("debye_waller_constant", 0.0)) + 0.25
    path.write_text(yaml.safe_dump(changed))
    counts = job_counts(snakemake(work, "-n", config=path))
    results = work / "results"
    assert counts["simulate"] == len(list(results.glob("lacbed/*/batch_*.csv")))
    assert counts["edd"] == len(list(results.glob("edd/*/batch_*.csv"))) + len(list(results.glob("deformation/*/batch_*.csv")))
    assert "variants" not in counts


def test_report_has_the_figures(e2e: tuple[Path, Path]) -> None:
    work, config = e2e
    report = work / "report.html"
    snakemake(work, "--report", str(report), config=config)
    html = report.read_text(errors="ignore")
    assert all(name in html for name in FIGURES)


def test_paper_config_dry_run_with_slurm_profile(tmp_path: Path) -> None:
    done = snakemake(tmp_path, "-n", "--profile", str(REPO / "workflow" / "profiles" / "slurm"), config=REPO / "configs" / "paper.yaml")
    counts = job_counts(done)
    crystals = sum(f["n_variants"] for f in yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())["families"])
    assert counts["simulate"] <= 200 and counts["simulate"] >= crystals / 50
    assert counts["train"] == 2 * 2 * 5  # directions × models × seeds
    assert counts["figures"] == 1


def test_default_config_dry_run(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    counts = job_counts(snakemake(tmp_path, "-n", "--cores", "2"))
    assert counts["variants"] == 3 and counts["train"] == 8


def test_manifest_rows_match_the_stacks(e2e: tuple[Path, Path]) -> None:
    """manifest.csv's index is the stack row, and each row's images are the sample's own."""
    work, _ = e2e
    r = work / "results"
    manifest = pd.read_csv(r / "dataset" / "manifest.csv")
    assert manifest["index"].tolist() == list(range(len(manifest)))
    assert (manifest["thickness"] == 500.0).all()
    stack = tifffile.imread(r / "dataset" / "lacbed.tif")
    for row in manifest.itertuples():
        image = tifffile.imread(r / "lacbed" / row.family / f"{row.sample_id}.tif")
        assert np.array_equal(stack[row.index], image)


def test_forcerun_one_training_rule(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    """The README's command to rerun one training rule reruns that one (issue #25 item 11: with
    `--forcerun train TARGET` the option swallowed the target and every model was retrained). On a
    copy: the retrained model leaves its evaluation out of date, and the tests after this one
    expect the e2e tree as the workflow left it."""
    work, config = e2e
    copy = tmp_path / "work"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("report.html"))
    work, config = copy, copy / config.name
    target = "results/models/edd2lacbed/unet/seed0/model.pt"
    others = {p: p.stat().st_mtime_ns for p in (work / "results" / "models").glob("*/*/seed*/model.pt") if p != work / target}
    before = (work / target).stat().st_mtime_ns
    readme = (REPO / "README.md").read_text()
    command = next(line for line in readme.splitlines() if "Rerun one training rule" in line)
    assert "--force " in command and "--forcerun" not in command.split("`")[1]
    done = snakemake(work, "--cores", "1", "--force", target, config=config)
    assert re.search(r"^train\s+1$", done.stdout + done.stderr, re.M), done.stdout[-2000:]
    assert (work / target).stat().st_mtime_ns != before
    assert {p: p.stat().st_mtime_ns for p in others} == others
    assert (work / "results/models/edd2lacbed/unet/seed0/train_log.csv").is_file()


def test_changed_split_retrains_instead_of_leaking(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    """issue #11 item 1: new split fractions → the dataset's split changes → every model starts again
    (its finished last.pt belongs to other subsets) and is scored on the new test subset."""
    from lacbed_bridge.dataset.splits import read_split, split_hash

    work, config = e2e
    copy = tmp_path / "work"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("report.html"))
    changed = yaml.safe_load(config.read_text())
    changed["dataset"]["split_fractions"] = [0.4, 0.2, 0.4]
    path = copy / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    snakemake(copy, "--cores", "2", "results/metrics/summary.csv", config=path)
    r = copy / "results"
    split = read_split(r / "dataset" / "splits" / "random_0.csv")
    assert split_hash(split) != split_hash(read_split(work / "results" / "dataset" / "splits" / "random_0.csv"))
    n_test = int((split["subset"] == "test").sum())
    for log in sorted((copy / "logs" / "train").glob("*.log")):
        assert "starting again" in log.read_text(), log.name
    for metrics in sorted((r / "metrics").glob("*/*/seed*/metrics.json")):
        assert json.loads(metrics.read_text())["n"] == n_test
    for model in sorted((r / "models").glob("*/*/seed*/model.json")):
        assert json.loads(model.read_text())["data_json"]["split_hash"] == split_hash(split)


def _files(root: Path, pattern: str) -> dict[str, tuple[bytes, int]]:
    """Each file's bytes and modification time (ns)."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.glob(pattern)) if p.is_file()}


def test_damaged_images_are_redone(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    """issue #11 item 6, issue #26 item 4: a truncated LACBED TIFF and a deleted EDD image are
    noticed before the next run, which redoes exactly their two batches (recomputing only those
    images) and the dataset instead of "Nothing to be done" and a dataset that quietly drops the
    samples; the run after it has nothing to do. A dry run names them and changes nothing in results/."""
    work, config = e2e
    copy = tmp_path / "work"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("report.html"))
    config = copy / config.name
    r = copy / "results"
    truncated = r / "lacbed" / "Fm-3m_rocksalt" / "Fm-3m_rocksalt_000002.tif"  # batch_0001
    deleted = r / "edd" / "F-43m_zincblende" / "F-43m_zincblende_000000.tif"  # batch_0000
    redone = {("simulate", "family=Fm-3m_rocksalt, batch=0001"), ("edd", "kind=edd, family=F-43m_zincblende, batch=0000")}
    manifests, dataset = _files(r, "*/*/batch_*.csv"), _files(r, "dataset/**/*")
    assert len(manifests) == 15  # 3 stages × (3 + 2) batches
    size, disc = truncated.stat().st_size, tifffile.imread(truncated)
    truncated.write_bytes(truncated.read_bytes()[: size // 2])
    deleted.unlink()
    dry = snakemake(copy, "-n", config=config)
    assert "results/lacbed/Fm-3m_rocksalt/batch_0001.csv: damaged images (results/lacbed/Fm-3m_rocksalt/" \
           f"Fm-3m_rocksalt_000002.tif: {size // 2} bytes, {size} when made); a run redoes this batch" in dry.stderr
    assert "results/edd/F-43m_zincblende/batch_0000.csv: damaged images" in dry.stderr
    batch_jobs = {job for job in planned_jobs(dry) if job[0] in ("simulate", "edd")}
    assert batch_jobs == redone and job_counts(dry)["dataset"] == 1
    # a dry run deletes nothing (its damage stamps lie in .snakemake/), nor does one asked for by a
    # profile rather than -n
    assert _files(r, "*/*/batch_*.csv") == manifests and _files(r, "dataset/**/*") == dataset
    profile = tmp_path / "dry profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("dryrun: true\ncores: 1\n")
    dry = snakemake(copy, "--profile", str(profile), config=config)
    assert "batch_0001.csv: damaged images" in dry.stderr
    assert {job for job in planned_jobs(dry) if job[0] in ("simulate", "edd")} == redone
    assert _files(r, "*/*/batch_*.csv") == manifests and _files(r, "dataset/**/*") == dataset
    done = snakemake(copy, "--cores", "2", "results/dataset/dataset.json", config=config)
    assert planned_jobs(done) == redone | {("dataset", "")}
    # recomputed, the same disc (its metadata's timings differ, so not always the same bytes)
    np.testing.assert_array_equal(tifffile.imread(truncated), disc)
    assert deleted.is_file()
    statuses = pd.read_csv(r / "lacbed" / "Fm-3m_rocksalt" / "batch_0001.csv").set_index("sample_id")["status"]
    assert statuses.to_dict() == {"Fm-3m_rocksalt_000002": "ok", "Fm-3m_rocksalt_000003": "cached"}
    statuses = pd.read_csv(r / "edd" / "F-43m_zincblende" / "batch_0000.csv").set_index("sample_id")["status"]
    assert statuses.to_dict() == {"F-43m_zincblende_000000": "ok", "F-43m_zincblende_000001": "cached"}
    after = _files(r, "*/*/batch_*.csv")
    changed = {name for name in manifests if after[name] != manifests[name]}
    assert changed == {"lacbed/Fm-3m_rocksalt/batch_0001.csv", "edd/F-43m_zincblende/batch_0000.csv"}
    manifest = pd.read_csv(r / "dataset" / "manifest.csv")
    assert {"Fm-3m_rocksalt_000002", "F-43m_zincblende_000000"} <= set(manifest["sample_id"])
    # the rest of the workflow: only the figures follow (figure (d) reads the simulator's timings
    # through the batch manifests); the models keep their dataset, rebuilt to the same dataset.json
    assert planned_jobs(snakemake(copy, "-n", config=config)) == {("figures", ""), ("all", "")}
    assert planned_jobs(snakemake(copy, "--cores", "2", config=config)) == {("figures", ""), ("all", "")}
    # then nothing is left to do: no second rerun of the repaired batches
    dry = snakemake(copy, "-n", config=config)
    assert job_counts(dry) == {} and "Nothing to be done" in dry.stdout + dry.stderr and "damaged" not in dry.stderr
    rows = [line.split("\t") for line in snakemake(copy, "--summary", config=config).stdout.splitlines()[1:] if line]
    assert len([row for row in rows if "/batch_" in row[0]]) == 15
    assert {row[0]: row[-1] for row in rows if row[-1] != "no update"} == {}
    # the same image damaged again: its batch is redone again
    truncated.write_bytes(truncated.read_bytes()[:100])
    dry = snakemake(copy, "-n", config=config)
    assert {job for job in planned_jobs(dry) if job[0] in ("simulate", "edd")} == {("simulate", "family=Fm-3m_rocksalt, batch=0001")}


def test_results_without_damage_stamps_are_not_rerun(e2e: tuple[Path, Path]) -> None:
    """issue #26 item 4: without a damage stamp the batch and dataset jobs have the params and the
    inputs the workflow recorded before stamps existed (a family_hash that is the family's config
    hash, no stamp among the dataset's inputs), so results made by earlier versions dry-run to
    "Nothing to be done" on upgrade."""
    from lacbed_bridge.config import config_hash
    from lacbed_bridge.pipeline.batch import stage_hash

    work, config = e2e
    settings = yaml.safe_load(config.read_text())
    from lacbed_bridge.config import validate_config

    settings = validate_config(settings, path="config")
    assert not (work / ".snakemake" / "lacbed-bridge" / "damage").exists()
    for family in settings["families"]:
        for stage, hashed in (("lacbed", "lacbed"), ("edd", "edd"), ("deformation", "edd")):
            for manifest in sorted((work / "results" / stage / family["name"]).glob("batch_*.csv")):
                record = recorded(work, str(manifest.relative_to(work)))
                assert sorted(record["params"]) == sorted([repr(stage_hash(settings, hashed)), repr(config_hash(family))])
    record = recorded(work, "results/dataset/dataset.json")
    assert record["input"] and not [path for path in record["input"] if "damage" in path or ".snakemake" in path]
    assert job_counts(snakemake(work, "-n", config=config)) == {}


def test_paths_with_spaces(tmp_path: Path) -> None:
    """issue #11 item 5: results and logs folders with spaces work, and nothing lands outside them."""
    from support.workflow import tiny_config

    work = tmp_path / "a work dir"
    work.mkdir()
    config = tiny_config()
    config["output"] = {"results": "my results", "logs": "my logs"}
    path = work / "tiny config.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "my results/lacbed/Fm-3m_rocksalt/batch_0000.csv"
    snakemake(work, "--cores", "2", target, "my results/edd/Fm-3m_rocksalt/batch_0000.csv", config=path)
    batch = pd.read_csv(work / target)
    assert (batch["status"] == "ok").all() and len(batch) == 2
    for name in batch["sample_id"]:
        assert (work / "my results" / "lacbed" / "Fm-3m_rocksalt" / f"{name}.tif").is_file()
    assert (work / "my logs").is_dir()
    assert sorted(p.name for p in work.iterdir() if not p.name.startswith(".")) == ["my logs", "my results", "tiny config.yaml"]


def test_refine_test_rule_recovers_delta_by_both_routes(e2e: tuple[Path, Path]) -> None:
    """The optional rule: noisy test discs of charge series, δ by refinement and by the surrogate."""
    work, config = e2e
    snakemake(work, "--cores", "2", "refine_test", config=config)
    r = work / "results" / "refine"
    summary = json.loads((r / "summary.json").read_text())
    table = pd.read_csv(r / "per_sample.csv")
    assert summary["n_discs"] == len(table) >= 2
    assert summary["surrogate"]["available"] and np.isfinite(table["surrogate_delta"]).all()
    # refinement: each δ within 4σ of the truth, and the stated σ small against the range of δ
    error = table["refine_delta"] - table["delta"]
    assert (np.abs(error) <= 4 * table["refine_delta_sigma"]).all(), table[["delta", "refine_delta", "refine_delta_sigma"]]
    assert (table["refine_delta_sigma"] < 0.5).all()
    assert summary["refine"]["seconds_per_disc"] > 0 and summary["surrogate"]["seconds_per_disc"] > 0
    png = (r / "recovered_delta.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
