"""Corruption is never used silently, and a failed build keeps the previous dataset (issue #25
items 3 and 4): per-image pixel checksums, the dataset's recorded stack/manifest/split checksums,
the staging build, and the keep/restore of the workflow's dataset job."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from lacbed_bridge.dataset import keep
from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.dataset.integrity import dataset_problems, stack_pixel_sha256, verify_dataset
from lacbed_bridge.errors import InputError
from lacbed_bridge.io import read_tiff, write_tiff


def _refs(root: Path, csvs: list[Path]):
    return sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed")


def _overwrite_pixels(path: Path, value: float) -> None:
    """Overwrite an image's pixel bytes in place, keeping its size and its metadata (a tool that
    writes into the file, a bad disk): the float32 data lie at the recorded offset."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offset, count = page.dataoffsets[0], sum(page.databytecounts)
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = np.full(count // 4, value, dtype="<f4").tobytes()
    path.write_bytes(bytes(data))


def test_read_tiff_refuses_pixels_changed_after_writing(tmp_path: Path) -> None:
    path = tmp_path / "x.tif"
    image = np.arange(64, dtype=np.float32).reshape(8, 8)
    write_tiff(path, image, {"sample_id": "x"})
    size = path.stat().st_size
    _overwrite_pixels(path, 9999.0)
    assert path.stat().st_size == size
    with pytest.raises(InputError, match="differ from the checksum") as err:
        read_tiff(path)
    assert str(path) in str(err.value)
    changed, meta = read_tiff(path, verify=False)
    assert changed.max() == 9999.0 and meta["sample_id"] == "x"


def test_a_changed_image_is_excluded_not_stacked(results, tmp_path: Path) -> None:
    """The issue's case: an EDD TIFF overwritten to the same size went into the dataset and moved
    the normalisation from 246.8 to 9999."""
    root, csvs = results
    clean = build_dataset(_refs(root, csvs), tmp_path / "clean", seed=1)
    victim = root / "edd" / "F-43m_zincblende" / "F-43m_zincblende_000002.tif"
    _overwrite_pixels(victim, 9999.0)
    info = build_dataset(_refs(root, csvs), tmp_path / "ds", seed=1)
    assert info.normalisation["edd"]["max"] < 9999.0
    assert info.normalisation["edd"]["max"] <= clean.normalisation["edd"]["max"]
    reasons = {e["sample_id"]: e["reason"] for e in info.excluded}
    assert "differ from the checksum" in reasons["F-43m_zincblende_000002"]
    assert "F-43m_zincblende_000002" not in set(pd.read_csv(tmp_path / "ds" / "manifest.csv")["sample_id"])


def test_recorded_checksums_match_the_files(results, tmp_path: Path) -> None:
    root, csvs = results
    build_dataset(_refs(root, csvs), tmp_path / "ds", seed=1)
    info = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    for kind in ("edd", "lacbed"):
        record = info["stacks"][kind]
        path = tmp_path / "ds" / record["file"]
        assert record["bytes"] == path.stat().st_size
        assert record["pixel_sha256"] == stack_pixel_sha256(path)
    assert all(len(split["sha256"]) == 64 for split in info["splits"].values())
    assert dataset_problems(tmp_path / "ds", deep=True) == []
    verify_dataset(tmp_path / "ds", split="random_0")


def test_a_stack_overwritten_to_the_same_size_is_refused(results, tmp_path: Path) -> None:
    root, csvs = results
    data = tmp_path / "ds"
    build_dataset(_refs(root, csvs), data, seed=1)
    built = (data / "dataset.json").stat().st_mtime
    stack = data / "edd.tif"
    with tifffile.TiffFile(stack) as tif:
        start = tif.series[0].dataoffset + 4 * 32 * 32 * (len(tif.pages) - 1)  # the last image's pixels
    raw = bytearray(stack.read_bytes())
    raw[start : start + 4 * 32 * 32] = np.full(32 * 32, 9999.0, dtype="<f4").tobytes()
    stack.write_bytes(bytes(raw))
    os.utime(stack, (built + 5, built + 5))
    assert dataset_problems(data) == []  # the cheap check (sizes) cannot see it ...
    assert any("pixels differ" in p for p in dataset_problems(data, changed_after=built))  # ... unless it changed later
    with pytest.raises(InputError, match="edd.tif: its pixels differ") as err:
        verify_dataset(data)
    assert "rebuild it" in str(err.value)


def test_a_truncated_stack_and_an_edited_manifest_are_found(results, tmp_path: Path) -> None:
    root, csvs = results
    data = tmp_path / "ds"
    build_dataset(_refs(root, csvs), data, seed=1)
    stack = data / "lacbed.tif"
    stack.write_bytes(stack.read_bytes()[:-100])
    assert any("lacbed.tif" in p and "truncated" in p for p in dataset_problems(data))
    manifest = data / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("F-43m_zincblende_000001", "F-43m_zincblende_000009", 1))
    problems = dataset_problems(data, deep=True)
    assert any("manifest.csv" in p for p in problems)


def test_wall_times_in_the_manifest_are_not_damage(results, tmp_path: Path) -> None:
    root, csvs = results
    data = tmp_path / "ds"
    build_dataset(_refs(root, csvs), data, seed=1)
    manifest = data / "manifest.csv"
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    frame["sim_seconds"] = "123.5"
    frame.to_csv(manifest, index=False, lineterminator="\n")
    assert dataset_problems(data, deep=True) == []


def test_a_failing_build_leaves_the_previous_dataset_as_it_was(results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, csvs = results
    data = tmp_path / "ds"
    build_dataset(_refs(root, csvs), data, seed=1, n_random_splits=2)
    before = {p.relative_to(data): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    from lacbed_bridge.dataset import builder

    calls = {"n": 0}
    real = builder.write_split

    def fail_on_second(*args, **kwargs):  # the stacks and the first split are written, then a failure
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(builder, "write_split", fail_on_second)
    with pytest.raises(OSError):
        build_dataset(_refs(root, csvs), data, seed=2, n_random_splits=2)
    after = {p.relative_to(data): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in data.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_rebuild_drops_splits_it_no_longer_makes(results, tmp_path: Path) -> None:
    root, csvs = results
    data = tmp_path / "ds"
    build_dataset(_refs(root, csvs), data, seed=1, n_random_splits=3, loso_groups=[])
    build_dataset(_refs(root, csvs), data, seed=1, n_random_splits=1, loso_groups=[])
    assert sorted(p.name for p in (data / "splits").iterdir()) == ["random_0.csv"]


def test_keep_and_restore(results, tmp_path: Path) -> None:
    """What the workflow does around a dataset job: keep before, restore when no new dataset.json."""
    root, csvs = results
    data = tmp_path / "results" / "dataset"
    store = tmp_path / ".snakemake" / "kept"
    build_dataset(_refs(root, csvs), data, seed=1)
    before = {p.relative_to(data): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert keep.keep(data, store) == len(before)
    # Snakemake deletes the declared outputs; the failed job left a stray new stack behind
    for name in ("dataset.json", "manifest.csv", "edd.tif", "lacbed.tif"):
        (data / name).unlink()
    (data / "deformation.tif").write_bytes(b"partial")
    assert keep.restore(data, store) == len(before)
    after = {p.relative_to(data): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert after == before
    assert (data / "dataset.json").stat().st_mtime == 0  # out of date: the next run tries again
    assert not store.exists()
    assert keep.restore(data, store) == 0  # nothing kept, nothing to do
    assert keep.keep(tmp_path / "nothing", store) == 0
    # kept from one results folder, never restored into another
    assert keep.keep(data, store) == len(before)
    other = tmp_path / "other" / "dataset"
    other.mkdir(parents=True)
    (other / "manifest.csv").write_text("mine\n")
    assert keep.restore(other, store) == 0 and (other / "manifest.csv").read_text() == "mine\n"
    assert keep.keep(other, store) == 0 and not store.exists()  # another folder's leftovers are dropped


def test_dataset_json_counts_the_discs_that_did_not_converge(results, tmp_path: Path) -> None:
    from lacbed_bridge.dataset.builder import convergence_warning

    root, csvs = results
    lacbed = sorted((root / "lacbed").glob("*/*.tif"))
    for i, path in enumerate(lacbed):
        image, meta = read_tiff(path)
        late = i in (2, 5)
        write_tiff(path, image, {**meta, "info_converged": not late, "info_convergence_rms": 0.033 if late else 0.001,
                                 "info_convergence_target": 0.005})
    info = build_dataset(_refs(root, csvs), tmp_path / "ds", seed=1)
    summary = json.loads((tmp_path / "ds" / "dataset.json").read_text())["convergence"]
    assert summary["checked"] == info.n and summary["unconverged"] == 2 and summary["worst_rms"] == pytest.approx(0.033)
    assert summary["unconverged_samples"] == sorted(p.stem for j, p in enumerate(lacbed) if j in (2, 5))
    line = convergence_warning(json.loads((tmp_path / "ds" / "dataset.json").read_text()))
    assert line.startswith(f"2 of {info.n} discs") and "max_strong_beams" in line
