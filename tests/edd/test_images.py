"""EDD image files and the ``lacbed-bridge edd`` command (edd/images.py, edd/cli.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.edd_crystals import make_gaas

from lacbed_bridge import __version__
from lacbed_bridge.cli import main
from lacbed_bridge.config import load_config
from lacbed_bridge.crystal.cif import write_cif
from lacbed_bridge.edd import project_density, write_edd
from lacbed_bridge.edd.settings import edd_settings
from lacbed_bridge.errors import ConfigError, InputError
from lacbed_bridge.io import read_tiff

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config() -> dict:
    cfg = load_config(REPO_ROOT / "config.yaml")
    cfg["simulation"]["pixel_count"] = 12
    cfg["simulation"]["incident_beam_direction"] = [-1, 1, 0]
    cfg["simulation"]["x_direction"] = [1, 1, 0]
    return cfg


@pytest.fixture
def cif(tmp_path: Path) -> Path:
    path = tmp_path / "gaas.cif"
    write_cif(make_gaas(0.4), path)
    return path


def test_write_edd_image_and_metadata(tmp_path: Path, cif: Path, config: dict) -> None:
    out = write_edd(cif, edd_settings(config), tmp_path / "out" / "edd.tif")
    image, meta = read_tiff(out)
    assert image.dtype == np.float32 and image.shape == (24, 24)
    expected = project_density(make_gaas(0.4), side=24, beam_direction=[-1, 1, 0], x_direction=[1, 1, 0])
    np.testing.assert_allclose(image, expected.astype(np.float32), rtol=1e-6, atol=1e-5)
    assert meta["sample_id"] == "F-43m_zincblende_000001"
    assert meta["kind"] == "edd" and meta["units"] == "e/A^2"
    assert meta["side"] == 24 and meta["field_of_view"] == pytest.approx(5.6533)
    assert meta["beam_direction"] == [-1, 1, 0] and meta["x_direction"] == [1, 1, 0]
    assert meta["version"] == __version__ and meta["seconds"] >= 0
    assert meta["edge_amplitude"] < 1e-3
    assert [p.name for p in out.parent.iterdir()] == ["edd.tif"]  # no temporary file left


def test_field_of_view_and_pixel_value_from_config(tmp_path: Path, cif: Path, config: dict) -> None:
    config["edd"].update(field_of_view=8.0, pixel_value="point", s_max=2.0)
    _, meta = read_tiff(write_edd(cif, edd_settings(config), tmp_path / "edd.tif"))
    assert meta["field_of_view"] == 8.0 and meta["pixel_value"] == "point" and meta["s_max"] == 2.0


def test_cli_writes_the_image(tmp_path: Path, cif: Path, config: dict, capsys) -> None:
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    out = tmp_path / "edd.tif"
    assert main(["edd", str(cif), "--config", str(cfg_path), "--out", str(out)]) == 0
    assert read_tiff(out)[0].shape == (24, 24)


def test_cli_bad_input_is_one_line_error(tmp_path: Path, cif: Path, config: dict, capsys) -> None:
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    out = tmp_path / "edd.tif"
    out.write_bytes(b"previous")
    assert main(["edd", str(tmp_path / "missing.cif"), "--config", str(cfg_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing.cif" in err and "Traceback" not in err
    assert out.read_bytes() == b"previous"  # untouched on failure

    bad = copy.deepcopy(config)
    bad["simulation"]["x_direction"] = [1, 0, 0]  # not ⊥ [-1 1 0]
    cfg_path.write_text(yaml.safe_dump(bad))
    assert main(["edd", str(cif), "--config", str(cfg_path), "--out", str(out)]) == 2
    assert "x_direction" in capsys.readouterr().err

    bad = copy.deepcopy(config)
    bad["edd"]["s_max"] = "huge"
    cfg_path.write_text(yaml.safe_dump(bad))
    assert main(["edd", str(cif), "--config", str(cfg_path), "--out", str(out)]) == 2
    assert "edd.s_max" in capsys.readouterr().err
    assert out.read_bytes() == b"previous"


def test_edd_settings_errors(cif: Path, tmp_path: Path, config: dict) -> None:
    del config["simulation"]["pixel_count"]
    with pytest.raises(ConfigError, match="pixel_count"):
        edd_settings(config)
    with pytest.raises(ConfigError, match="simulation"):
        edd_settings({"edd": {}})
    not_cif = tmp_path / "bad.cif"
    not_cif.write_text("this is not a CIF\n")
    with pytest.raises(InputError, match="bad.cif"):
        write_edd(not_cif, edd_settings(load_config(REPO_ROOT / "config.yaml")), tmp_path / "x.tif")
