"""Felix-exact mode (``pool: felix``): Felix's own pool, boundary reflections included, and Felix's
discs to ≤ 1e-5 on 35 real Felix runs covering every prototype along [001], [110] and [111].

The reference runs (tests/data/felix_reference/cases, README there) were made with Felix 9034b2a
built with -O3 -ffast-math -march=native by gfortran 12.2 on an x86-64 CPU with FMA; which
reflection on a shell boundary enters Felix's pool belongs to that build (docs/felix.md).
``pools.json.gz`` holds the pools of 900 further Felix runs (every prototype and compound, lattice
parameters scaled at random, five beam directions, pools of 60-400).
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions
from lacbed_bridge.simulate.felix.files import read_disc_bin
from lacbed_bridge.simulate.felix.pool import felix_pool
from lacbed_bridge.simulate.felix.inp import parse_felix_inp

DATA = Path(__file__).resolve().parents[1] / "data" / "felix_reference"
CASES = sorted(p.parent.name for p in (DATA / "cases").glob("*/case.json"))


def test_every_prototype_and_direction_has_a_case() -> None:
    assert len(CASES) == 35
    prototypes = {json.loads((DATA / "cases" / c / "case.json").read_text())["prototype"] for c in CASES}
    assert len(prototypes) == 10
    for direction in ("001", "110", "111"):
        assert sum(c.endswith(f"_{direction}") for c in CASES) == 10


def _case(case: str) -> tuple:
    folder = DATA / "cases" / case
    meta = json.loads((folder / "case.json").read_text())
    disc = read_disc_bin(folder / meta["disc_000"])
    sf = np.loadtxt(folder / meta["output_folder"] / "StructureFactors.txt")
    return read_cif(folder / "felix.cif"), parse_felix_inp(folder / "felix.inp"), disc, sf[:, :3].astype(int)


# the [001] cases in the quick loop, every case in `make test` and CI
@pytest.mark.parametrize("case", [c if c.endswith("_001") else pytest.param(c, marks=pytest.mark.slow) for c in CASES])
def test_felix_exact_mode_reproduces_felix(case: str) -> None:
    crystal, settings, felix, felix_pool_hkl = _case(case)
    result = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="felix", use_symmetry=False, constants="felix"), device="cpu")
    assert result.pool is not None
    np.testing.assert_array_equal(result.pool.hkl, felix_pool_hkl)  # same reflections, Felix's order
    assert np.abs(result.disc() - felix).max() <= 1e-5


def test_shell_pool_differs_from_felix_where_felix_cuts_a_shell() -> None:
    """The check above can fail: the symmetric pool is not Felix's on a case Felix cuts mid-shell."""
    crystal, settings, felix, _ = _case("zincblende_001_pool60")
    ours = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, constants="felix"), device="cpu").disc()
    assert np.abs(ours - felix).max() > 1e-2
    assert np.abs(felix - felix.T).max() > 1e-2  # Felix's own disc breaks the crystal's symmetry


@lru_cache(maxsize=1)
def _pools() -> list[dict]:
    with gzip.open(DATA / "pools.json.gz", "rt") as handle:
        return [e for e in json.load(handle)["entries"] if e.get("pool")]


def _check_pool(entry: dict) -> None:
    cell = (entry["a_cif"],) * 3 + ("90",) * 3
    got = felix_pool(cell, entry["centring"], entry["beam"], entry["x"], entry["normal"], entry["voltage_kV"],
                     entry["min_pool"], entry["g_limit"])
    recorded = np.array(entry["pool"].split(), dtype=int).reshape(-1, 3)
    np.testing.assert_array_equal(got, recorded, err_msg=f"pool entry {entry['id']} ({entry['prototype']}, a={entry['a_cif']})")


def test_felix_pool_emulation_on_a_sample_of_recorded_pools() -> None:
    entries = _pools()
    assert len(entries) == 900
    for entry in entries[::30]:
        _check_pool(entry)


@pytest.mark.slow
def test_felix_pool_emulation_on_all_900_recorded_pools() -> None:
    for entry in _pools():
        _check_pool(entry)
