"""Reading Felix's discs: exact against the real reference outputs, clear errors for bad ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from support.felix_refdata import CASES, reference_case

from lacbed_bridge.errors import SimulationError
from lacbed_bridge.simulate.felix.backend import read_felix_output, write_run_folder
from lacbed_bridge.simulate.felix.files import disc_file_name, output_folder_name
from lacbed_bridge.simulate.felix.inp import parse_felix_inp, read_felix_hkl


@pytest.mark.parametrize("case", sorted(CASES))
def test_reads_every_reference_disc_exactly(case: str) -> None:
    folder = reference_case(case)
    settings = parse_felix_inp(folder / "felix.inp")
    assert read_felix_hkl(folder / "felix.hkl") == CASES[case]
    for hkl in CASES[case]:
        discs = read_felix_output(folder, "Ga As", settings, hkl, name=case)
        assert sorted(discs) == settings.thicknesses
        for thickness, image in discs.items():
            path = folder / output_folder_name("GaAs", thickness, settings.side) / disc_file_name("GaAs", hkl)
            expected = np.fromfile(path, "<f8").reshape(settings.side, settings.side)
            assert image.dtype == np.float64 and image.shape == expected.shape
            assert np.array_equal(image, expected)


def test_values_above_one_are_kept() -> None:
    """Felix's (000) exceeds 1 on ~6 % of pixels with absorption (max ≈ 1.2); never clipped."""
    folder = reference_case("GaAs_m110_3t_128px")
    discs = read_felix_output(folder, "GaAs", parse_felix_inp(folder / "felix.inp"))
    assert max(float(d.max()) for d in discs.values()) == pytest.approx(1.2160, abs=1e-4)


@pytest.fixture
def run_copy(tmp_path: Path) -> Path:
    """A writable copy of the 64 px reference run."""
    source = reference_case("GaAs_m110_930A_64px")
    target = tmp_path / "GaAs_run"
    shutil.copytree(source, target)
    return target


def _disc(run: Path) -> Path:
    return run / "GaAs_Sim_0930A_064x064" / "GaAs_+0+0+0.bin"


def test_missing_folder_file_and_wrong_size(run_copy: Path) -> None:
    settings = parse_felix_inp(run_copy / "felix.inp")
    with pytest.raises(SimulationError, match=r"sample-7: Felix output file missing for reflection \[1, 1, 1\]"):
        read_felix_output(run_copy, "GaAs", settings, (1, 1, 1), name="sample-7")
    bigger = parse_felix_inp(reference_case("GaAs_m110_3t_128px") / "felix.inp")
    with pytest.raises(SimulationError, match=r"sample-7: Felix output folder missing for thickness 800 Å"):
        read_felix_output(run_copy, "GaAs", bigger, name="sample-7")
    raw = _disc(run_copy).read_bytes()
    _disc(run_copy).write_bytes(raw[:-8])
    with pytest.raises(SimulationError, match=r"sample-7: Felix output of the wrong size"):
        read_felix_output(run_copy, "GaAs", settings, name="sample-7")


@pytest.mark.parametrize(("value", "words"), [(np.nan, "NaN/inf"), (np.inf, "NaN/inf"), (-1e-3, "negative")])
def test_non_finite_and_negative_values_are_refused(run_copy: Path, value: float, words: str) -> None:
    settings = parse_felix_inp(run_copy / "felix.inp")
    image = np.fromfile(_disc(run_copy), "<f8")
    image[100] = value
    image.tofile(_disc(run_copy))
    with pytest.raises(SimulationError, match=f"GaAs_x: Felix output has 1 {words}"):
        read_felix_output(run_copy, "GaAs", settings, name="GaAs_x")


@pytest.mark.parametrize("case", sorted(CASES))
def test_written_inputs_equal_the_reference_inputs(tmp_path: Path, case: str) -> None:
    """felix.inp and felix.hkl byte-equal; felix.cif read back by Felix's items (test_felix_cif)."""
    from lacbed_bridge.crystal.cif import read_cif
    folder = reference_case(case)
    crystal = read_cif(folder / "felix.cif")
    settings = parse_felix_inp(folder / "felix.inp")
    run = write_run_folder(crystal, settings, tmp_path / "run", CASES[case])
    assert sorted(p.name for p in run.iterdir()) == ["felix.cif", "felix.hkl", "felix.inp"]
    assert (run / "felix.inp").read_text() == (folder / "felix.inp").read_text()
    assert (run / "felix.hkl").read_text() == (folder / "felix.hkl").read_text()
    assert parse_felix_inp(run / "felix.inp") == settings


def test_a_refused_crystal_writes_nothing(tmp_path: Path) -> None:
    from dataclasses import replace

    from lacbed_bridge.crystal.cif import read_cif
    folder = reference_case("GaAs_m110_930A_64px")
    crystal = read_cif(folder / "felix.cif")
    charged = crystal.with_sites((replace(crystal.sites[0], kappa=0.9), crystal.sites[1]))
    with pytest.raises(Exception, match="kappa"):
        write_run_folder(charged, parse_felix_inp(folder / "felix.inp"), tmp_path / "run")
    assert not (tmp_path / "run").exists()
