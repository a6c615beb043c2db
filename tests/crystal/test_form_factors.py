"""The form-factor parametrizations in their one home (crystal/form_factors/, issue #26 item 5) and
the structure-factor sum both images share (crystal/structure_factor.py).

The literals were computed with the code before the move (commit 9398f0a: simulate/kirkland.py,
simulate/absorption.py, crystal/charge.py, edd/projection.py:structure_factors,
simulate/potential.py:structure_factors); the move left every one of them bit-for-bit unchanged.
Independent references where they exist: International Tables Vol. C Table 4.3.2.2 (Peng et al.
1996 electron factors, gemmi's ``c4322``) for Kirkland's, gemmi's own IT92 evaluator, and
1/(8π²a₀) for the Mott–Bethe constant.
"""

from __future__ import annotations

import math

import gemmi
import numpy as np
import pytest
from support.edd_crystals import make_gaas

from lacbed_bridge.crystal.form_factors import kappa
from lacbed_bridge.crystal.form_factors.it92 import it92_form_factor
from lacbed_bridge.crystal.form_factors.kirkland import kirkland_form_factor
from lacbed_bridge.crystal.form_factors.mott_bethe import MOTT_BETHE_CONSTANT
from lacbed_bridge.crystal.form_factors.slater import BOHR_RADIUS, slater_form_factor
from lacbed_bridge.crystal.orientation import direct_basis, reciprocal_basis

Q = np.array([0.0, 0.25, 1.0, 3.0])  # q = 1/d [1/Å] (Kirkland)
S = np.array([0.0, 0.125, 0.5, 1.5])  # s = sinθ/λ [1/Å]


def _close(actual, expected, rtol=1e-12):
    actual, expected = np.asarray(actual), np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_kirkland_electron_factors_are_unchanged_by_the_move() -> None:
    _close(kirkland_form_factor("Ga", Q), [7.103467761688057, 5.001855668479018, 1.4916376189550289, 0.2699454468471957])
    _close(kirkland_form_factor("O", Q), [1.9897442703694717, 1.7228726420433325, 0.5421119599647298, 0.07449907117553693])


@pytest.mark.parametrize("element", ["O", "Ga", "Sr"])
def test_kirkland_agrees_with_the_international_tables_electron_factors(element: str) -> None:
    """An independent fit (IT Vol. C Table 4.3.2.2, Peng et al. 1996) of the same neutral-atom
    scattering: within 1 % for 0.1 ≤ s ≤ 1 Å⁻¹ (measured: ≤ 0.7 %)."""
    coef = gemmi.Element(element).c4322
    for s in (0.1, 0.25, 0.5, 1.0):
        table = sum(a * math.exp(-b * s * s) for a, b in zip(coef.a, coef.b))
        assert float(kirkland_form_factor(element, np.array([2 * s]))[0]) == pytest.approx(table, rel=0.01)


def test_it92_is_unchanged_and_is_gemmis_evaluator() -> None:
    _close(it92_form_factor("Ga", S), [30.976300000000002, 27.73488099640951, 15.399112076090855, 5.628480255490816])
    coef = gemmi.Element("Ga").it92
    _close(it92_form_factor("Ga", S), [coef.calculate_sf(float(s * s)) for s in S], rtol=1e-6)


def test_kappa_x_ray_and_electron_factors_are_unchanged_by_the_move() -> None:
    _close(kappa.xray_form_factor("Ga", S, pv=2.6, kappa=1.1),
           [30.576300000000003, 27.778909080673742, 15.38541122008303, 5.628480931520999])
    _close(kappa.electron_form_factor("Ga", S[1:], pv=2.6, kappa=1.1), [4.933989764041899, 1.494878271434131, 0.26988530550443396])
    _close(kappa.electron_form_factor_correction("O", S[1:], 6.4, 0.97),
           [-0.4285827737030702, 0.004388304825332785, -1.2240115777547188e-05])
    _close(slater_form_factor(4, 1.7, S), [1.0, -0.03933942016758884, 0.00013093396185384314, -2.2000160709343477e-08])


def test_mott_bethe_constant_is_one_over_eight_pi_squared_a0() -> None:
    assert MOTT_BETHE_CONSTANT == pytest.approx(1.0 / (8.0 * math.pi**2 * BOHR_RADIUS), rel=2e-5)


def test_bird_king_takes_kirklands_parameters_from_the_one_home() -> None:
    from lacbed_bridge.crystal.form_factors import kirkland
    from lacbed_bridge.simulate import absorption

    assert absorption.kirkland_parameters is kirkland.kirkland_parameters
    _close(absorption.bird_king_form_factor("Ga", np.array([0.25, 1.0]), 0.5, 200.0), [0.15049703168724157, 0.12418335691171464],
           rtol=1e-10)


GAAS_HKL = np.array([[1, 1, 1], [2, 0, 0], [2, 2, 0], [4, 2, 0]])


def test_both_structure_factor_sums_are_unchanged_and_are_the_one_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    """GaAs with δ = 0.4: the EDD's X-ray F (sign +) and the simulator's U, U' (sign −, Bird–King)
    as before the move, and both through crystal.structure_factor.structure_factor_sum."""
    from lacbed_bridge.crystal import structure_factor
    from lacbed_bridge.edd import projection
    from lacbed_bridge.simulate import potential
    from lacbed_bridge.simulate.settings import PotentialSettings

    crystal = make_gaas(delta=0.4)
    signs: list[int] = []
    original = structure_factor.structure_factor_sum

    def spy(hkl, sites, *, sign):
        signs.append(sign)
        return original(hkl, sites, sign=sign)

    monkeypatch.setattr(projection, "structure_factor_sum", spy)
    monkeypatch.setattr(potential, "structure_factor_sum", spy)
    f = projection.structure_factors(crystal, GAAS_HKL)
    _close(f, [105.00655011076974 - 111.89168232078373j, -6.0294528241669525 + 1.3878096617362401e-14j,
               184.48818242017472 - 6.834265687980762e-14j, -5.242585108813557 + 2.889014818804252e-14j])
    g = np.linalg.norm(GAAS_HKL @ reciprocal_basis(direct_basis(crystal.cell)), axis=1)
    sf = potential.structure_factors(crystal, PotentialSettings(200.0, 2, 7.8, 0.0), GAAS_HKL, g)
    _close(sf.u, [0.04371323505106013 + 0.04640547026125934j, -0.0035489524491863584 - 5.631409983834349e-18j,
                  0.05976964936204038 + 2.2317013116979226e-17j, -0.0008018978227204979 - 6.999254653064054e-18j])
    _close(sf.u_abs, [0.0014432664674017069 + 0.0016037141928662818j, -0.00015821160427078923 - 2.1348531598836679e-19j,
                      0.0028798501948324763 + 1.0764371748624367e-18j, -0.00013259030833577155 - 5.401484361288101e-19j],
           rtol=1e-10)
    assert signs == [+1, -1]


def test_phase_sum_sign_and_blocks() -> None:
    from lacbed_bridge.crystal.structure_factor import phase_sum

    rng = np.random.default_rng(1)
    positions, hkl = rng.random((7, 3)), rng.integers(-5, 6, size=(50, 3))
    for sign in (1, -1):
        direct = np.exp(sign * 2j * np.pi * (hkl @ positions.T)).sum(axis=1)
        np.testing.assert_allclose(phase_sum(hkl, positions, sign=sign, block=10), direct, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="sign"):
        phase_sum(hkl, positions, sign=0)
