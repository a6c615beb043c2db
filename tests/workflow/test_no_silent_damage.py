"""Real Snakemake runs over damaged results (issue #25 items 3 and 4, issue #26 item 4): same-size
corruption of an image or a dataset stack, a truncated stack, and a dataset rebuild that fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from support.workflow import job_counts, planned_jobs, snakemake

pytestmark = pytest.mark.slow


def _overwrite_pixels(path: Path, value: float, image: int = 0, side: int | None = None) -> None:
    """Overwrite one image's pixels in place: same size, metadata kept."""
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        per_image = 4 * int(np.prod(series.shape[-2:]))
        start = series.dataoffset + per_image * image
    data = bytearray(path.read_bytes())
    data[start : start + per_image] = np.full(per_image // 4, value, dtype="<f4").tobytes()
    path.write_bytes(bytes(data))


def _copy(e2e: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    work, config = e2e
    copy = tmp_path / "work"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("report.html"))
    return copy, copy / config.name


def _dataset_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_size_corruption_is_redone_not_used(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    """An EDD image overwritten to the same size (the issue: normalisation 246.8 → 9999), and
    dataset/edd.tif overwritten to the same size plus lacbed.tif truncated: the next run redoes the
    image's batch and rebuilds the dataset, which comes out byte-identical to the intact one, and the
    run after it has nothing to do; a command run on the damaged dataset by hand refuses it in one
    line. Then the dataset alone damaged again (a second stamp of the same dataset): rebuilt, and
    again nothing left to do (issue #26 item 4)."""
    work, config = _copy(e2e, tmp_path)
    r = work / "results"
    original = _dataset_bytes(r / "dataset")
    info = json.loads((r / "dataset" / "dataset.json").read_text())
    image = r / "edd" / "Fm-3m_rocksalt" / "Fm-3m_rocksalt_000001.tif"  # batch_0000
    disc = tifffile.imread(image)
    _overwrite_pixels(image, 9999.0)
    _overwrite_pixels(r / "dataset" / "edd.tif", 9999.0, image=3)
    # by hand, on the damaged stack: one clear line, no training on it
    done = subprocess.run([sys.executable, "-m", "lacbed_bridge", "evaluate", "--model",
                           str(r / "models" / "edd2lacbed" / "unet" / "seed0" / "model.pt"), "--dataset", str(r / "dataset"),
                           "--split", "random_0", "--out", str(tmp_path / "m")], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "edd.tif: its pixels differ" in done.stderr and "Traceback" not in done.stderr
    stack = r / "dataset" / "lacbed.tif"
    stack.write_bytes(stack.read_bytes()[:-64])
    damaged = _dataset_bytes(r / "dataset")
    target = "results/dataset/dataset.json"
    dry = snakemake(work, "-n", target, config=config)
    assert "Fm-3m_rocksalt_000001.tif" in dry.stderr and "damaged images" in dry.stderr
    assert f"{r.name}/dataset: damaged" in dry.stderr and "a run rebuilds the dataset" in dry.stderr
    assert planned_jobs(dry) == {("edd", "kind=edd, family=Fm-3m_rocksalt, batch=0000"), ("dataset", "")}
    assert _dataset_bytes(r / "dataset") == damaged  # a dry run deletes nothing
    run = snakemake(work, "--cores", "2", target, config=config)
    assert planned_jobs(run) == {("edd", "kind=edd, family=Fm-3m_rocksalt, batch=0000"), ("dataset", "")}
    np.testing.assert_array_equal(tifffile.imread(image), disc)
    rebuilt = _dataset_bytes(r / "dataset")
    for name in ("edd.tif", "lacbed.tif", "deformation.tif", "dataset.json", "splits/random_0.csv"):
        assert rebuilt[name] == original[name], name
    assert json.loads((r / "dataset" / "dataset.json").read_text())["normalisation"] == info["normalisation"]
    snakemake(work, "--cores", "2", "results/metrics/summary.csv", config=config)  # train and evaluate accept it
    assert job_counts(snakemake(work, "-n", target, config=config)) == {}
    # the dataset alone damaged (its images intact): the run rebuilds the dataset, the same bytes
    stamp = work / ".snakemake" / "lacbed-bridge" / "damage" / "results" / "dataset" / "dataset.json.stamp"
    first = stamp.read_text()
    stack.write_bytes(stack.read_bytes()[:-64])
    dry = snakemake(work, "-n", target, config=config)
    assert planned_jobs(dry) == {("dataset", "")} and "damaged images" not in dry.stderr
    assert stamp.read_text() != first  # new content: Snakemake skips a newer input whose checksum it recorded
    run = snakemake(work, "--cores", "2", target, config=config)
    assert "a run rebuilds the dataset" in run.stderr and planned_jobs(run) == {("dataset", "")}
    assert _dataset_bytes(r / "dataset")["lacbed.tif"] == original["lacbed.tif"]
    dry = snakemake(work, "-n", target, config=config)
    assert job_counts(dry) == {} and "Nothing to be done" in dry.stdout + dry.stderr and "damaged" not in dry.stderr


def test_a_failed_dataset_rebuild_keeps_the_previous_dataset(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    """issue #25 item 4: a dataset job that fails (here: a required side no image has, so no usable
    sample) used to leave no dataset; now the previous one is back, marked out of date, and the
    next run with a good config rebuilds it."""
    work, config = _copy(e2e, tmp_path)
    r = work / "results"
    before = _dataset_bytes(r / "dataset")
    bad = yaml.safe_load(config.read_text())
    bad["dataset"]["side"] = 64
    bad_path = work / "bad.yaml"
    bad_path.write_text(yaml.safe_dump(bad))
    done = snakemake(work, "--cores", "2", "results/dataset/dataset.json", config=bad_path, check=False)
    assert done.returncode != 0
    assert "previous dataset is kept" in done.stderr
    assert _dataset_bytes(r / "dataset") == before
    assert not (work / ".snakemake" / "lacbed-bridge" / "previous-dataset").exists()
    dry = snakemake(work, "-n", "results/dataset/dataset.json", config=config)
    assert job_counts(dry).get("dataset") == 1  # the next run tries the rebuild again
    snakemake(work, "--cores", "2", "results/dataset/dataset.json", config=config)
    again = _dataset_bytes(r / "dataset")
    assert again["dataset.json"] == before["dataset.json"] and again["edd.tif"] == before["edd.tif"]


def test_the_end_of_a_run_says_how_many_discs_did_not_converge(e2e: tuple[Path, Path], tmp_path: Path) -> None:
    """issue #25 item 8: the run's last lines name the count, the worst error and the key to raise."""
    import os

    work, config = _copy(e2e, tmp_path)
    path = work / "results" / "dataset" / "dataset.json"
    stat = path.stat()
    info = json.loads(path.read_text())
    info["convergence"].update(unconverged=3, worst_rms=0.033, target_rms=0.005, unconverged_samples=["a", "b", "c"])
    path.write_text(json.dumps(info))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # nothing downstream is out of date
    done = snakemake(work, "--cores", "1", "--force", "results/metrics/summary.csv", config=config)
    assert "3 of 9 discs in the dataset did not converge (worst RMS change 0.033, target 0.005)" in done.stderr
    assert "simulation.convergence.max_strong_beams" in done.stderr
