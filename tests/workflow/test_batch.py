"""Batch jobs: one failed sample does not stop a batch; images are reused only for the same CIF
bytes and settings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from support.workflow import REPO

from lacbed_bridge.pipeline.batch import batch_sample_ids, n_batches, run_batch
from lacbed_bridge.config import validate_config
from lacbed_bridge.crystal.variants import write_family


def _config() -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["families"] = [{"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 3}]
    config["workflow"] = {"batch_size": 2}
    return validate_config(config)


def test_batches_cover_the_family() -> None:
    config = _config()
    assert n_batches(config, "F-43m_zincblende") == 2
    ids = batch_sample_ids(config, "F-43m_zincblende", 0) + batch_sample_ids(config, "F-43m_zincblende", 1)
    assert ids == [f"F-43m_zincblende_{i:06d}" for i in range(3)]


def test_failure_reuse_and_cif_change(tmp_path: Path) -> None:
    config = _config()
    cifs = tmp_path / "variants"
    write_family(config, "F-43m_zincblende", cifs)
    calls: list[str] = []

    def compute(cif: Path, out: Path) -> None:  # the real EDD stage, counting its calls
        from lacbed_bridge.edd.images import write_edd
        from lacbed_bridge.edd.settings import edd_settings

        calls.append(cif.stem)
        if cif.stem.endswith("1"):
            raise RuntimeError("simulated crash")
        write_edd(cif, edd_settings(config), out)

    kwargs = dict(stage="edd", cif_dir=cifs, out_dir=tmp_path / "edd", manifest=tmp_path / "edd" / "batch_0000.csv", compute=compute)
    first = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert first.set_index("sample_id")["status"].to_dict() == {"F-43m_zincblende_000000": "ok", "F-43m_zincblende_000001": "failed"}
    assert (tmp_path / "edd" / "F-43m_zincblende_000001.failed").is_file()
    calls.clear()
    second = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert second.set_index("sample_id").loc["F-43m_zincblende_000000", "status"] == "cached"
    assert calls == ["F-43m_zincblende_000001"]
    # the family's crystals change (new CIF bytes): the image is recomputed, not reused
    cif = cifs / "F-43m_zincblende_000000.cif"
    cif.write_text(cif.read_text().replace("_cell_length_a", "_cell_length_a", 1) + "\n# changed\n")
    third = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert third.set_index("sample_id").loc["F-43m_zincblende_000000", "status"] == "ok"
    assert isinstance(pd.read_csv(tmp_path / "edd" / "batch_0000.csv"), pd.DataFrame)


def test_edd_images_are_redone_when_a_setting_they_depend_on_changes(tmp_path: Path) -> None:
    """The reuse hash comes from the EDD settings object: the Debye–Waller constant (used for
    sites without U) is part of it, so changing it recomputes the images instead of reusing them."""
    from lacbed_bridge.crystal.cif import read_cif, write_cif
    from lacbed_bridge.crystal.model import Site
    from lacbed_bridge.io import read_tiff

    config = _config()
    cifs = tmp_path / "variants"
    write_family(config, "F-43m_zincblende", cifs)
    for cif in cifs.glob("*.cif"):  # sites without U: the Debye–Waller constant applies
        crystal = read_cif(cif)
        write_cif(crystal.with_sites(tuple(Site(s.label, s.element, s.fract, s.occupancy, 0.0, s.pv, s.kappa)
                                           for s in crystal.sites)), cif)
    kwargs = dict(stage="edd", cif_dir=cifs, out_dir=tmp_path / "edd", manifest=tmp_path / "edd" / "batch_0000.csv")
    first = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert set(first["status"]) == {"ok"}
    before, _ = read_tiff(tmp_path / "edd" / "F-43m_zincblende_000000.tif")
    assert set(run_batch(config, "F-43m_zincblende", 0, **kwargs)["status"]) == {"cached"}
    config["simulation"]["debye_waller_constant"] = 2.0
    third = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert set(third["status"]) == {"ok"}
    after, _ = read_tiff(tmp_path / "edd" / "F-43m_zincblende_000000.tif")
    assert abs(after - before).max() > 1e-3 * abs(before).max()  # the image really depends on it


def test_manifest_problems_find_truncated_and_missing_images(tmp_path: Path, monkeypatch) -> None:
    """The manifest records each image's size; a truncated or deleted image is reported, and a
    rerun of the batch recomputes it (issue #11 item 6)."""
    from lacbed_bridge.pipeline.batch import manifest_problems
    from lacbed_bridge.io import read_tiff

    config = _config()
    monkeypatch.chdir(tmp_path)  # manifests hold paths relative to the workflow folder
    write_family(config, "F-43m_zincblende", Path("variants"))
    kwargs = dict(stage="edd", cif_dir=Path("variants"), out_dir=Path("edd"), manifest=Path("edd") / "batch_0000.csv")
    frame = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert (frame["bytes"] == [Path(p).stat().st_size for p in frame["path"]]).all()
    assert manifest_problems("edd/batch_0000.csv") == []
    first, second = (Path(p) for p in frame["path"])
    size = first.stat().st_size
    first.write_bytes(first.read_bytes()[: size // 2])
    second.unlink()
    problems = manifest_problems("edd/batch_0000.csv")
    assert problems == [f"{first}: {size // 2} bytes, {size} when made", f"{second}: missing"]
    again = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert again["status"].tolist() == ["ok", "ok"] and manifest_problems("edd/batch_0000.csv") == []
    assert read_tiff(first)[0].shape == read_tiff(second)[0].shape
    assert manifest_problems("edd/nothing.csv")[0].startswith("edd/nothing.csv: unreadable")
    # a results folder moved elsewhere: the images beside the manifest are found, nothing is "missing"
    Path("edd").rename("moved")
    assert manifest_problems("moved/batch_0000.csv") == []


def test_an_image_overwritten_to_the_same_size_is_found_and_recomputed(tmp_path: Path, monkeypatch) -> None:
    """issue #25 item 3: pixels overwritten after the batch finished (same size, metadata kept) are
    reported by the check the workflow runs before every run, and the batch recomputes the image
    instead of reusing it as 'cached'."""
    import os

    import numpy as np
    import tifffile

    from lacbed_bridge.pipeline.batch import manifest_problems
    from lacbed_bridge.io import read_tiff

    config = _config()
    monkeypatch.chdir(tmp_path)
    write_family(config, "F-43m_zincblende", Path("variants"))
    kwargs = dict(stage="edd", cif_dir=Path("variants"), out_dir=Path("edd"), manifest=Path("edd") / "batch_0000.csv")
    frame = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    first = Path(frame["path"][0])
    good, _ = read_tiff(first)
    with tifffile.TiffFile(first) as tif:
        offset, count = tif.pages[0].dataoffsets[0], sum(tif.pages[0].databytecounts)
    data = bytearray(first.read_bytes())
    data[offset : offset + count] = np.full(count // 4, 9999.0, dtype="<f4").tobytes()
    first.write_bytes(bytes(data))
    later = os.stat("edd/batch_0000.csv").st_mtime + 2
    os.utime(first, (later, later))
    problems = manifest_problems("edd/batch_0000.csv")
    assert len(problems) == 1 and str(first) in problems[0] and "checksum" in problems[0]
    again = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert again["status"].tolist() == ["ok", "cached"]
    np.testing.assert_array_equal(read_tiff(first)[0], good)


def test_unconverged_discs_are_said_and_strict_mode_stops(tmp_path: Path, monkeypatch, caplog) -> None:
    """issue #25 item 8: discs that did not reach the convergence target (here a target no beam set
    reaches within 12 strong beams) are named with their error in the batch log, and with
    workflow.require_converged the batch fails saying so."""
    import logging

    import pytest

    from lacbed_bridge.errors import SimulationError

    config = _config()
    config["families"][0]["n_variants"] = 2
    config["simulation"].update(pixel_count=4, min_reflection_pool=30, min_strong_beams=8, device="cpu",
                                convergence={"target_rms": 1e-12, "max_strong_beams": 12})
    config = validate_config(config)
    monkeypatch.chdir(tmp_path)
    write_family(config, "F-43m_zincblende", Path("variants"))
    kwargs = dict(stage="lacbed", cif_dir=Path("variants"), out_dir=Path("lacbed"), manifest=Path("lacbed") / "batch_0000.csv")
    with caplog.at_level(logging.WARNING):
        frame = run_batch(config, "F-43m_zincblende", 0, **kwargs)
    assert set(frame["status"]) == {"ok"}
    assert "2 of 2 discs did not converge" in caplog.text and "max_strong_beams" in caplog.text
    config["workflow"]["require_converged"] = True
    with pytest.raises(SimulationError, match="2 of 2 discs did not converge.*require_converged"):
        run_batch(config, "F-43m_zincblende", 0, **kwargs)  # the cached discs are checked as well
