"""Reference data of the simulator tests: real Felix 9034b2a runs in tests/data/felix_reference."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.crystal.model import Crystal
from lacbed_bridge.simulate.felix.files import disc_file_name, output_folder_name
from lacbed_bridge.simulate.settings import LacbedSettings
from lacbed_bridge.simulate.felix.inp import parse_felix_inp

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = REPO_ROOT / "tests" / "data" / "felix_reference"

CASES_64 = ["GaAs_m110_930A_64px_noabs", "GaAs_m110_930A_64px_propabs", "GaAs_m110_930A_64px"]
CASE_128 = "GaAs_m110_3t_128px"
ALL_CASES = [*CASES_64, CASE_128]


def case_dir(case: str) -> Path:
    """Folder of one reference case; a missing reference is a failure, not a skip."""
    folder = REFERENCE / case
    if not (folder / "felix.inp").is_file():
        pytest.fail(f"Felix reference data missing: {folder} (tests/data/felix_reference is part of the repository)")
    return folder


@functools.lru_cache(maxsize=None)
def load_case(case: str) -> tuple[Crystal, LacbedSettings]:
    """The crystal (read with our CIF reader) and the settings (our felix.inp reader)."""
    folder = case_dir(case)
    return read_cif(folder / "felix.cif"), parse_felix_inp(folder / "felix.inp")


def felix_disc(case: str, thickness: float, hkl=(0, 0, 0)) -> np.ndarray:
    """Felix's own output disc, read with numpy directly (independent of our reader)."""
    crystal, settings = load_case(case)
    path = case_dir(case) / output_folder_name("GaAs", thickness, settings.side) / disc_file_name("GaAs", hkl)
    return np.fromfile(path, dtype="<f8").reshape(settings.side, settings.side)


def felix_structure_factors(case: str) -> np.ndarray:
    """Rows h k l g_x g_y Re(Ũ) Im(Ũ) of the case's StructureFactors.txt."""
    folder = next(case_dir(case).glob("GaAs_Sim_*"))
    return np.loadtxt(folder / "StructureFactors.txt")


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
