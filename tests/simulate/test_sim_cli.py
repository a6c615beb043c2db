"""The simulate CLI: drop-in mode in a Felix folder, the CIF mode, and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.sim_refdata import CASES_64, case_dir, felix_disc

from lacbed_bridge.cli import main
from lacbed_bridge.io import read_tiff
from lacbed_bridge.simulate.felix.files import read_disc_bin
from lacbed_bridge.simulate.settings import LacbedSettings
from lacbed_bridge.simulate.felix.inp import format_felix_inp, parse_felix_inp

INPUTS = ("felix.inp", "felix.cif", "felix.hkl")


def felix_folder(tmp_path: Path, case: str) -> Path:
    """A copy of a reference case's inputs only (what a Felix user has before running)."""
    src = case_dir(case)
    dst = tmp_path / case
    dst.mkdir()
    for name in INPUTS:
        shutil.copy(src / name, dst / name)
    return dst


@pytest.mark.slow
def test_dropin_reproduces_felix_output_folder(tmp_path: Path) -> None:
    case = CASES_64[2]  # Bird–King, (000) and (220)
    run_dir = felix_folder(tmp_path, case)
    assert main(["simulate", "--felix-dir", str(run_dir)]) == 0
    ref_folders = sorted(p.name for p in case_dir(case).glob("GaAs_Sim_*"))
    our_folders = sorted(p.name for p in run_dir.glob("GaAs_Sim_*"))
    assert our_folders == ref_folders == ["GaAs_Sim_0930A_064x064"]
    ours = run_dir / our_folders[0]
    theirs = case_dir(case) / ref_folders[0]
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    for name in ("GaAs_+0+0+0.bin", "GaAs_+2+2+0.bin"):
        assert (ours / name).stat().st_size == (theirs / name).stat().st_size
        assert np.abs(read_disc_bin(ours / name) - np.fromfile(theirs / name, "<f8").reshape(64, 64)).max() < 1e-5
    ref_sf = np.loadtxt(theirs / "StructureFactors.txt")
    our_sf = np.loadtxt(ours / "StructureFactors.txt")
    assert {tuple(r) for r in ref_sf[:, :3].astype(int)} == {tuple(r) for r in our_sf[:, :3].astype(int)}
    image, meta = read_tiff(run_dir / "GaAs_+0+0+0.tif")
    assert image.dtype == np.float32 and image.shape == (64, 64)
    assert np.allclose(image, felix_disc(case, 930.0), atol=1e-5)
    assert meta["backend"] == "builtin" and meta["thickness_A"] == 930.0 and meta["info_constants"] == "felix"


def test_dropin_missing_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = felix_folder(tmp_path, CASES_64[0])
    (run_dir / "felix.cif").unlink()
    assert main(["simulate", "--felix-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "felix.cif" in err and "Traceback" not in err
    assert not list(run_dir.glob("GaAs_Sim_*"))


@pytest.mark.parametrize(
    "change,key",
    [
        ({"holz_flag": 1}, "IHolzFLAG"),
        ({"min_weak_beams": 5}, "IMinWeakBeams"),
        ({"scatter_factor_method_flag": 1}, "IScatterFactorMethodFLAG"),
        ({"initial_thickness": 0.0, "final_thickness": 0.0}, "RInitialThickness"),
        ({"initial_thickness": -50.0, "final_thickness": -50.0}, "RInitialThickness"),
        ({"x_direction": (1, 0, 0)}, "IXDirection"),
        ({"incident_beam_direction": (0, 0, 0)}, "IIncidentBeamDirection"),
        ({"pixel_count": 0}, "IPixelCount"),
        ({"outer_convergence_angle": 60.0}, "ROuterConvergenceAngle"),
    ],
)
def test_bad_felix_settings_name_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict, key: str) -> None:
    run_dir = felix_folder(tmp_path, CASES_64[0])
    settings = parse_felix_inp(run_dir / "felix.inp")
    fields = {**settings.__dict__, **change}
    text = format_felix_inp(LacbedSettings(**fields))  # written without validation, as a user could
    (run_dir / "felix.inp").write_text(text)
    assert main(["simulate", "--felix-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err
    assert not list(run_dir.glob("GaAs_Sim_*")) and not list(run_dir.glob("*.tif"))


def _config(tmp_path: Path, **simulation) -> Path:
    base = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text())
    base["simulation"].update(pixel_count=4, min_reflection_pool=30, min_strong_beams=10, **simulation)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def test_cif_mode_writes_tiff_with_metadata(tmp_path: Path) -> None:
    cif = case_dir(CASES_64[0]) / "felix.cif"
    out = tmp_path / "out" / "gaas.tif"
    assert main(["simulate", str(cif), "--config", str(_config(tmp_path)), "--out", str(out), "--device", "cpu"]) == 0
    image, meta = read_tiff(out)
    assert image.shape == (8, 8) and image.dtype == np.float32
    assert meta["sample_id"] == "felix" and meta["backend"] == "builtin"
    assert meta["voltage_kv"] == 200.0 and meta["seconds"] > 0 and meta["info_device"] == "cpu"
    assert not [p for p in out.parent.iterdir() if p.name != "gaas.tif"]  # no temporary left


def test_cif_mode_bad_config_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cif = case_dir(CASES_64[0]) / "felix.cif"
    out = tmp_path / "gaas.tif"
    config = _config(tmp_path, initial_thickness=-5.0)
    assert main(["simulate", str(cif), "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "initial_thickness" in err and "-5" in err
    assert not out.exists()


def test_not_a_cif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.cif"
    bad.write_text("this is not a CIF\n")
    out = tmp_path / "x.tif"
    assert main(["simulate", str(bad), "--config", str(_config(tmp_path)), "--out", str(out)]) == 2
    assert "bad.cif" in capsys.readouterr().err
    assert not out.exists()
