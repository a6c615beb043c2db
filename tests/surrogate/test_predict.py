"""predict: one image or a folder, end to end through the CLI, physical units in and out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lacbed_bridge.cli import main
from lacbed_bridge.config import load_config
from lacbed_bridge.dataset.torch_dataset import PairedImageDataset
from lacbed_bridge.edd.settings import edd_settings
from lacbed_bridge.io import read_tiff, write_tiff
from lacbed_bridge.surrogate.checkpoint import generator_from_checkpoint, load_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_predict_one_file_and_a_folder(tiny_model, results_dir, dataset_dir, tmp_path):
    data = PairedImageDataset(dataset_dir, direction="edd2lacbed", split=None)
    sid = data.sample_ids[0]
    family = sid.rsplit("_", 1)[0]
    src = results_dir / "edd" / family / f"{sid}.tif"
    assert main(["predict", str(tiny_model), str(src), "--out", str(tmp_path / "one.tif"), "--device", "cpu"]) == 0
    image, meta = read_tiff(tmp_path / "one.tif")
    assert image.shape == (32, 32) and meta["sample_id"] == sid and meta["direction"] == "edd2lacbed"
    # the same prediction through the generator on the dataset's normalised input
    gen = generator_from_checkpoint(load_checkpoint(tiny_model))
    with torch.no_grad():
        expected = gen(data[0][0].unsqueeze(0)).clamp(0, 1)[0, 0].numpy()
    lac = data.normalisation["lacbed"]
    np.testing.assert_allclose(image, expected * lac["scale"] + lac["offset"], rtol=1e-5, atol=1e-6)

    folder = results_dir / "edd" / family
    assert main(["predict", str(tiny_model), str(folder), "--out", str(tmp_path / "many"), "--device", "cpu"]) == 0
    outputs = sorted((tmp_path / "many").glob("*.tif"))
    assert [p.name for p in outputs] == sorted(p.name for p in folder.glob("*.tif"))
    np.testing.assert_array_equal(read_tiff(tmp_path / "many" / f"{sid}.tif")[0], image)


def test_predict_reports_bad_input(tiny_model, tmp_path, capsys):
    write_tiff(tmp_path / "small.tif", np.ones((16, 16), np.float32), {"sample_id": "x"})
    assert main(["predict", str(tiny_model), str(tmp_path / "small.tif"), "--out", str(tmp_path / "o.tif")]) == 2
    assert "does not match the model's 32 × 32" in capsys.readouterr().err
    (tmp_path / "c.cif").write_text("data_x\n")
    assert main(["predict", str(tiny_model), str(tmp_path / "c.cif"), "--out", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err
    assert "--config" in err or "EDD stage" in err
    assert main(["predict", str(tmp_path / "nothing.pt"), str(tmp_path / "small.tif"), "--out", str(tmp_path / "o.tif")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_predict_from_a_cif_matches_predicting_its_edd_image(tiny_model, tmp_path):
    """CIF input (EDD stage present): same result as writing the EDD image first, then predicting."""
    from lacbed_bridge.edd import images as edd_images

    cif = REPO_ROOT / "tests" / "crystal" / "data" / "NaCl_modern_items.cif"
    config = load_config(REPO_ROOT / "config.yaml")  # pixel_count 16: side 32 as the tiny model
    edd_images.write_edd(cif, edd_settings(config), tmp_path / "edd.tif")
    assert main(["predict", str(tiny_model), str(tmp_path / "edd.tif"), "--out", str(tmp_path / "via_tif.tif"), "--device", "cpu"]) == 0
    assert main(["predict", str(tiny_model), str(cif), "--out", str(tmp_path / "via_cif.tif"), "--config", str(REPO_ROOT / "config.yaml"), "--device", "cpu"]) == 0
    np.testing.assert_allclose(read_tiff(tmp_path / "via_cif.tif")[0], read_tiff(tmp_path / "via_tif.tif")[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("suffix", [".txt"])
def test_predict_rejects_unknown_types(tiny_model, tmp_path, suffix, capsys):
    (tmp_path / f"a{suffix}").write_text("x")
    assert main(["predict", str(tiny_model), str(tmp_path / f"a{suffix}"), "--out", str(tmp_path / "o")]) == 2
    assert "unsupported input type" in capsys.readouterr().err


def test_predict_checks_every_input_before_writing_any(tiny_model, results_dir, tmp_path, capsys):
    """issue #11 item 7: a bad image late in a folder fails before any output is written, and the
    error names that file; a NaN input is refused; an unwritable target is named, not its temp file."""
    import os
    import shutil

    folder = tmp_path / "inputs"
    family = results_dir / "edd" / "F-43m_zincblende"
    shutil.copytree(family, folder)
    write_tiff(folder / "zz_small.tif", np.ones((16, 16), np.float32), {"sample_id": "zz_small"})
    out = tmp_path / "out"
    assert main(["predict", str(tiny_model), str(folder), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "zz_small.tif" in err and "shape" in err and not out.exists()
    nan = np.full((32, 32), np.nan, np.float32)
    write_tiff(folder / "zz_small.tif", nan, {"sample_id": "zz_small"})
    assert main(["predict", str(tiny_model), str(folder), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "non-finite" in err and "zz_small.tif" in err and not out.exists()
    (folder / "zz_small.tif").unlink()
    # a target whose folder cannot be made (a file is in the way): the error names the target
    (tmp_path / "afile").write_text("x")
    src = next(folder.glob("*.tif"))
    assert main(["predict", str(tiny_model), str(src), "--out", str(tmp_path / "afile" / "p.tif"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "afile/p.tif" in err and "cannot write" in err and ".tmp" not in err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores the mode: nothing to check
            return
        src = next(folder.glob("*.tif"))
        assert main(["predict", str(tiny_model), str(src), "--out", str(locked / "p.tif"), "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert "p.tif" in err and ".tmp" not in err
    finally:
        locked.chmod(0o700)


def test_a_garbage_checkpoint_is_one_line(tmp_path, capsys):
    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"PK\x03\x04 not a zip at all" * 10)
    write_tiff(tmp_path / "x.tif", np.ones((32, 32), np.float32), {"sample_id": "x"})
    assert main(["predict", str(garbage), str(tmp_path / "x.tif"), "--out", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable checkpoint" in err and "model.pt" in err and len(err.splitlines()) == 1


def test_predict_from_a_cif_with_a_family_geometry(tiny_model, tmp_path, capsys):
    """--family projects the CIF along that family's beam (families[].geometry), as the workflow
    made that family's EDD images; without it the shared [001] geometry is used."""
    import yaml

    from lacbed_bridge.edd import images as edd_images

    cif = REPO_ROOT / "tests" / "crystal" / "data" / "NaCl_modern_items.cif"
    config = load_config(REPO_ROOT / "config.yaml")
    config["families"] = [{"name": "Fm-3m_rocksalt_110", "prototype": "rocksalt", "n_variants": 2,
                           "geometry": {"incident_beam_direction": [1, 1, 0], "x_direction": [0, 0, 1],
                                        "normal_direction": [1, 1, 0]}}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    edd_images.write_edd(cif, edd_settings(load_config(path), family="Fm-3m_rocksalt_110"), tmp_path / "edd110.tif")
    assert main(["predict", str(tiny_model), str(tmp_path / "edd110.tif"), "--out", str(tmp_path / "via_tif.tif"), "--device", "cpu"]) == 0
    common = ["--config", str(path), "--device", "cpu"]
    assert main(["predict", str(tiny_model), str(cif), "--out", str(tmp_path / "family.tif"), "--family", "Fm-3m_rocksalt_110", *common]) == 0
    assert main(["predict", str(tiny_model), str(cif), "--out", str(tmp_path / "shared.tif"), *common]) == 0
    family = read_tiff(tmp_path / "family.tif")[0]
    same = np.abs(family - read_tiff(tmp_path / "via_tif.tif")[0]).max()
    other = np.abs(family - read_tiff(tmp_path / "shared.tif")[0]).max()  # the tiny model barely responds
    assert same <= 1e-6 and other > 20 * max(same, 1e-7), (same, other)
    capsys.readouterr()
    assert main(["predict", str(tiny_model), str(cif), "--out", str(tmp_path / "x.tif"), "--family", "Fm-3m_rocksalt_110"]) == 2
    assert "--family needs --config" in capsys.readouterr().err
    assert main(["predict", str(tiny_model), str(cif), "--out", str(tmp_path / "x.tif"), "--family", "nope", *common]) == 2
    assert "nope" in capsys.readouterr().err


def test_an_input_far_outside_the_training_range_is_warned_about(tiny_model, results_dir, dataset_dir, tmp_path, capsys):
    """issue #25 item 9: an EDD image ×1000 (wrong units) went through silently."""
    data = PairedImageDataset(dataset_dir, direction="edd2lacbed", split=None)
    sid = data.sample_ids[0]
    src = results_dir / "edd" / sid.rsplit("_", 1)[0] / f"{sid}.tif"
    image, meta = read_tiff(src)
    assert main(["predict", str(tiny_model), str(src), "--out", str(tmp_path / "fine.tif"), "--device", "cpu"]) == 0
    assert "warning" not in capsys.readouterr().err and "warning" not in read_tiff(tmp_path / "fine.tif")[1]
    write_tiff(tmp_path / "scaled.tif", image * 1000, meta)
    assert main(["predict", str(tiny_model), str(tmp_path / "scaled.tif"), "--out", str(tmp_path / "out.tif"), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "scaled.tif" in err and "far outside the training data" in err and "extrapolation" in err
    assert "far outside" in read_tiff(tmp_path / "out.tif")[1]["warning"]
