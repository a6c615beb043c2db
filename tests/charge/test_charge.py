"""Hansen–Coppens kappa form factors (crystal/form_factors/kappa.py, the valence counts of crystal/charge.py):
neutral limit, normalisation, physics."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from lacbed_bridge.crystal import charge
from lacbed_bridge.crystal.form_factors import kappa as hc
from lacbed_bridge.crystal.form_factors.mott_bethe import MOTT_BETHE_CONSTANT
from lacbed_bridge.crystal.form_factors.slater import slater_form_factor
from lacbed_bridge.errors import InputError

S = np.linspace(0.0, 2.0, 201)
ELEMENTS = ["H", "O", "F", "Na", "Mg", "Al", "P", "Cl", "Ca", "Ti", "Fe", "Cu", "Zn", "Ga", "As", "Sr", "In", "Sb", "Ba", "La", "Au", "Pb", "Bi"]


def it92_reference(element: str, s: np.ndarray) -> np.ndarray:
    """IT92 through gemmi's own evaluator (calculate_sf takes (sinθ/λ)²)."""
    coef = gemmi.Element(element).it92
    return np.array([coef.calculate_sf(float(x * x)) for x in s])


@pytest.mark.parametrize(
    "element, expected",
    [("Ga", 3), ("As", 5), ("O", 6), ("Sr", 2), ("Ti", 4), ("Mg", 2), ("Al", 3), ("Ca", 2), ("F", 7),
     ("Na", 1), ("Cl", 7), ("In", 3), ("P", 5), ("Sb", 5), ("Zn", 2), ("Cu", 11), ("La", 3), ("Bi", 5)],
)
def test_neutral_valence(element: str, expected: int) -> None:
    assert charge.neutral_valence(element) == expected


def test_neutral_valence_covers_the_supported_range() -> None:
    for z in range(1, charge.MAX_Z + 1):
        name = gemmi.Element(z).name
        pv = charge.neutral_valence(name)
        assert 1 <= pv <= 11, name
        assert hc.valence_form_factor(name, 0.0) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", ["Xx", "", "U", "Ga3+"])
def test_unknown_element_is_an_input_error(bad: str) -> None:
    with pytest.raises(InputError, match="element"):
        charge.neutral_valence(bad)


@pytest.mark.parametrize("element", ELEMENTS)
def test_neutral_atom_is_it92_exactly(element: str) -> None:
    np.testing.assert_allclose(hc.xray_form_factor(element, S), it92_reference(element, S), rtol=0, atol=1e-5)
    # also through the core + valence split (κ = 1, P_v = P_v,0 given explicitly as a float + 0)
    split = hc.core_form_factor(element, S) + charge.neutral_valence(element) * hc.valence_form_factor(element, S)
    np.testing.assert_allclose(split, it92_reference(element, S), rtol=0, atol=1e-5)


@pytest.mark.parametrize("element", ELEMENTS)
def test_valence_form_factor_is_normalised_and_falls_off(element: str) -> None:
    fv = hc.valence_form_factor(element, S)
    assert fv[0] == pytest.approx(1.0, abs=1e-12)
    # strictly decreasing up to its first zero (a shell density's transform then oscillates weakly)
    first_zero = np.argmax(fv <= 0) if np.any(fv <= 0) else len(fv)
    assert first_zero > 1
    assert np.all(np.diff(fv[:first_zero]) < 0)
    assert np.all(np.abs(fv[first_zero:]) < 0.15)


def test_slater_transform_matches_numerical_integral() -> None:
    """The closed form equals ∫ρ(r) sin(Qr)/(Qr) 4πr² dr done numerically."""
    n, zeta = 4, 3.0  # [1/Å]
    r = np.linspace(1e-6, 30.0, 300001)
    norm = (2 * zeta) ** (2 * n + 1) / (4 * np.pi * np.prod(np.arange(1, 2 * n + 1, dtype=float)))
    rho = norm * r ** (2 * n - 2) * np.exp(-2 * zeta * r)
    for s in (0.05, 0.2, 0.5, 1.0):
        q = 4 * np.pi * s
        numeric = np.trapezoid(rho * np.sin(q * r) / (q * r) * 4 * np.pi * r * r, r)
        assert slater_form_factor(n, zeta, s) == pytest.approx(numeric, abs=1e-7)


def test_kappa_above_one_contracts_the_valence_shell() -> None:
    s = np.array([0.1, 0.2, 0.3])
    for element in ("O", "Ga", "As"):
        neutral = hc.xray_form_factor(element, s)
        contracted = hc.xray_form_factor(element, s, kappa=1.2)
        expanded = hc.xray_form_factor(element, s, kappa=0.8)
        assert np.all(hc.valence_form_factor(element, s / 1.2) > hc.valence_form_factor(element, s))
        assert contracted[0] > neutral[0] > expanded[0]


@pytest.mark.parametrize("element, delta", [("Ga", -0.5), ("As", 0.5), ("O", 1.7), ("Sr", -2.0)])
def test_pv_change_moves_forward_scattering_by_delta(element: str, delta: float) -> None:
    p0 = charge.neutral_valence(element)
    f0 = hc.xray_form_factor(element, 0.0)
    f1 = hc.xray_form_factor(element, 0.0, pv=p0 + delta, kappa=0.9)
    assert f1 - f0 == pytest.approx(delta, abs=1e-12)


@pytest.mark.parametrize("element", ["O", "Si", "Ti", "Ga", "As", "Sr", "Au"])
def test_mott_bethe_matches_gemmi_c4322_electron_table(element: str) -> None:
    coef = gemmi.Element(element).c4322
    s = 0.5
    table = sum(a * np.exp(-b * s * s) for a, b in zip(coef.a, coef.b))
    assert hc.electron_form_factor(element, s) == pytest.approx(table, rel=0.03)


def test_electron_correction_is_charged_minus_neutral() -> None:
    s = np.array([0.05, 0.177, 0.5, 1.2])
    for element, pv, kappa in (("Ga", 2.5, 1.0), ("As", 5.5, 0.95), ("O", 7.0, 1.1)):
        diff = hc.electron_form_factor(element, s, pv, kappa) - hc.electron_form_factor(element, s)
        corr = hc.electron_form_factor_correction(element, s, pv, kappa)
        np.testing.assert_allclose(corr, diff, rtol=1e-9, atol=1e-12)
    # a net charge q: Δf_e → 0.023934 q / s² (Coulomb tail) at small s
    q = 0.5
    small = 1e-3
    tail = hc.electron_form_factor_correction("Ga", small, 2.5, 1.0)
    assert tail == pytest.approx(MOTT_BETHE_CONSTANT * q / small**2, rel=1e-3)


def test_mott_bethe_refuses_s_zero() -> None:
    with pytest.raises(InputError, match="s = sinθ/λ > 0"):
        hc.electron_form_factor("Ga", np.array([0.0, 0.1]))
    with pytest.raises(InputError, match="κ"):
        hc.xray_form_factor("Ga", 0.1, kappa=0.0)
    with pytest.raises(InputError, match="P_v"):
        hc.xray_form_factor("Ga", 0.1, pv=-1.0)


def _gaas_factor(hkl: tuple[int, int, int], form_factor, delta: float, a: float = 5.6533) -> float:
    """|F(hkl)| of zincblende GaAs (Ga 4a, As 4c) with δ electrons moved from Ga to As."""
    s = np.linalg.norm(hkl) / (2 * a)
    phase = np.exp(2j * np.pi * 0.25 * sum(hkl))
    ga = form_factor("Ga", s, pv=3 - delta)
    as_ = form_factor("As", s, pv=5 + delta)
    return abs(4 * (ga + phase * as_))


def test_charge_transfer_in_gaas_changes_200_in_the_expected_direction() -> None:
    """F(200) = 4(f_Ga − f_As). X-ray: As (more electrons) gains and Ga loses valence density,
    so |f_Ga − f_As| grows. Electron (Mott–Bethe, f_e ∝ Z − f_x): Ga's screening drops (f_e up),
    As's rises (f_e down); neutral f_e(As) > f_e(Ga), so the difference and |F200| shrink.
    docs/architecture.md §3 quotes −9.2 % (IT92 ions); the single-zeta valence shell gives a larger drop."""
    x0, x1 = (_gaas_factor((2, 0, 0), hc.xray_form_factor, d) for d in (0.0, 0.5))
    e0, e1 = (_gaas_factor((2, 0, 0), hc.electron_form_factor, d) for d in (0.0, 0.5))
    assert x1 / x0 - 1 > 0.05
    assert -0.40 < e1 / e0 - 1 < -0.05
    # high-angle reflections barely feel the valence shell
    for hkl in ((2, 2, 0), (4, 0, 0)):
        r = _gaas_factor(hkl, hc.electron_form_factor, 0.5) / _gaas_factor(hkl, hc.electron_form_factor, 0.0)
        assert abs(r - 1) < 0.005
