"""The builtin simulator against the real Felix output (issue: agreement with Felix).

Acceptance (issue #3): Pearson r ≥ 0.99 and mean squared difference ≤ 1e-4 on the raw intensities,
same side and orientation, for every reference case and thickness. We check far tighter bounds
too: with CODATA constants the only differences from Felix are its c typo (docs/felix_physics.md §9.4); with
Felix's constants the result must agree to ~1e-6 (the fact sheet's independent re-implementation
reached 1.6e-6).
"""

from __future__ import annotations

import numpy as np
import pytest
from support.sim_refdata import ALL_CASES, CASE_128, CASES_64, felix_disc, load_case, pearson

from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions

# 64² and 128² Felix references (4-25 s each); the fast loop keeps tests/simulate/test_sim_felix_exact.py
pytestmark = pytest.mark.slow

_cache: dict[tuple[str, str], object] = {}


def run(case: str, constants: str):
    key = (case, constants)
    if key not in _cache:
        crystal, settings = load_case(case)
        _cache[key] = simulate_builtin(crystal, settings, BuiltinOptions.as_felix(constants=constants), hkl=((0, 0, 0), (2, 2, 0)), device="cpu")
    return _cache[key]


@pytest.mark.parametrize("case", CASES_64)
def test_issue_tolerance_and_orientation_codata(case: str) -> None:
    result = run(case, "codata")
    for i, t in enumerate(result.thicknesses):
        ours, felix = result.disc((0, 0, 0), i), felix_disc(case, t)
        assert ours.shape == felix.shape
        r, mse = pearson(ours, felix), float(np.mean((ours - felix) ** 2))
        assert r >= 0.99 and mse <= 1e-4, (r, mse)
        # much tighter than the issue asks: only Felix's typo in c separates the two
        assert r > 0.99995 and mse < 1e-5, (r, mse)
        # orientation: a transposed or flipped image must agree far worse
        assert pearson(ours.T, felix) < 0.99 or np.allclose(felix, felix.T)
        assert pearson(ours[::-1], felix) < r


@pytest.mark.slow
def test_128px_three_thicknesses_codata() -> None:
    result = run(CASE_128, "codata")
    assert result.thicknesses == [800.0, 900.0, 1000.0]
    for i, t in enumerate(result.thicknesses):
        ours, felix = result.disc((0, 0, 0), i), felix_disc(CASE_128, t)
        r, mse = pearson(ours, felix), float(np.mean((ours - felix) ** 2))
        assert r >= 0.99 and mse <= 1e-4, (t, r, mse)


@pytest.mark.parametrize("case", [*CASES_64[:1], CASES_64[2]])
def test_felix_constants_reproduce_felix_to_1e5(case: str) -> None:
    result = run(case, "felix")
    for i, t in enumerate(result.thicknesses):
        diff = np.abs(result.disc((0, 0, 0), i) - felix_disc(case, t))
        assert diff.max() < 1e-5, diff.max()


def test_220_disc_and_its_exact_zeros() -> None:
    case = CASES_64[2]
    result = run(case, "felix")
    ours, felix = result.disc((2, 2, 0), 0), felix_disc(case, 930.0, (2, 2, 0))
    # Felix writes exactly 0 where 220 is not a strong beam: the same pixels must be 0 here
    assert np.array_equal(ours == 0, felix == 0)
    assert (felix == 0).sum() == 630
    assert np.abs(ours - felix).max() < 1e-5


def test_values_above_one_are_kept() -> None:
    """Felix's absorption quirk (docs/felix_physics.md §9.2): ~6 % of Bird–King pixels exceed 1; never clip."""
    result = run(CASES_64[2], "codata")
    img = result.disc()
    frac = float((img > 1).mean())
    assert 0.03 < frac < 0.1 and img.max() > 1.1


def test_all_cases_listed() -> None:
    assert set(ALL_CASES) == {*CASES_64, CASE_128}
