"""Pool, structure factors and absorption against Felix's StructureFactors.txt and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from support.sim_refdata import CASES_64, felix_structure_factors, load_case

from lacbed_bridge.crystal.form_factors.kirkland import kirkland_form_factor
from lacbed_bridge.crystal.orientation import microscope_frame
from lacbed_bridge.simulate.absorption import bird_king_form_factor
from lacbed_bridge.simulate.electron import (
    absorption_prefactor,
    lorentz_factor,
    wavelength_from_voltage,
    wavenumber_from_voltage,
)
from lacbed_bridge.simulate.pool import centring_allowed, reflection_pool
from lacbed_bridge.simulate.potential import pool_matrix


def test_electron_kinematics_at_200kv() -> None:
    # docs/felix_physics.md §1 (Felix constants): λ = 0.0250789 Å, γ = 1.3914686, K = 250.5364 1/Å
    assert wavelength_from_voltage(200, "felix") == pytest.approx(0.0250789, abs=5e-8)
    assert lorentz_factor(200, "felix") == pytest.approx(1.3914686, abs=1e-7)
    assert wavenumber_from_voltage(200, "felix") == pytest.approx(250.5364, abs=1e-4)
    assert absorption_prefactor(200, "felix") == pytest.approx(0.0697931, abs=1e-7)
    # CODATA: λ(200 kV) = 2.50793 pm (standard tables)
    assert wavelength_from_voltage(200) == pytest.approx(0.0250793, abs=1e-7)


@pytest.mark.parametrize("case", CASES_64)
def test_pool_is_felix_pool(case: str) -> None:
    crystal, settings = load_case(case)
    frame = microscope_frame(crystal, settings.geometry)
    pool = reflection_pool(crystal, frame, settings.beam_selection, wavenumber_from_voltage(200, "felix"), "felix", "felix",
                           felix_inputs=(settings.geometry, settings.accelerating_voltage))
    ref = felix_structure_factors(case)[:, :3].astype(int)
    assert len(pool) == len(ref) == settings.min_reflection_pool
    np.testing.assert_array_equal(pool, ref)  # Felix's own pool, in Felix's order
    assert tuple(pool[0]) == (0, 0, 0)
    mags = np.linalg.norm(frame.g_vectors(pool), axis=1)
    assert np.all(np.diff(mags) >= -1e-9)
    # g vectors in the microscope frame match Felix's g_x, g_y (2π convention)
    lookup = {tuple(r[:3].astype(int)): r[3:5] for r in felix_structure_factors(case)}
    g = frame.g_vectors(pool)
    for h, gl in zip(pool, g):
        assert np.allclose(gl[:2], lookup[tuple(h)], rtol=1e-6, atol=1e-7)


def test_centring_rules() -> None:
    hkl = np.array([[1, 1, 1], [2, 0, 0], [1, 0, 0], [1, 1, 0], [2, 1, 1]])
    assert centring_allowed(hkl, "F").tolist() == [True, True, False, False, False]
    assert centring_allowed(hkl, "I").tolist() == [False, True, False, True, True]
    assert centring_allowed(hkl, "P").all()


@pytest.mark.parametrize("case", CASES_64)
def test_structure_factors_match_felix(case: str) -> None:
    crystal, settings = load_case(case)
    frame = microscope_frame(crystal, settings.geometry)
    ref = felix_structure_factors(case)
    pool = ref[:, :3].astype(int)
    _, column = pool_matrix(crystal, settings.potential, pool, frame.reciprocal, "felix")
    ours = column.total[1:]
    theirs = ref[1:, 5] + 1j * ref[1:, 6]
    # StructureFactors.txt has 6 significant digits (E14.6)
    assert np.allclose(ours, theirs, rtol=2e-5, atol=2e-7), np.abs(ours - theirs).max()
    if settings.absorb_flag == 1:
        assert np.allclose(column.u_abs, 0.078 * column.u)
    if settings.absorb_flag == 2:
        # Felix prints i·U'₀ on the 000 line
        assert column.u_abs[0].real == pytest.approx(ref[0, 6], rel=2e-5)


def test_u111_value_from_fact_sheet() -> None:
    crystal, settings = load_case(CASES_64[0])
    frame = microscope_frame(crystal, settings.geometry)
    _, column = pool_matrix(crystal, settings.potential, np.array([[0, 0, 0], [1, 1, 1]]), frame.reciprocal, "felix")
    assert column.u[1] == pytest.approx(0.0428172 + 0.0479822j, abs=2e-7)


@pytest.mark.slow
@pytest.mark.parametrize("element,b_iso", [("Ga", 0.5854), ("As", 0.3528), ("O", 0.8)])
def test_bird_king_quadrature_against_adaptive_scipy(element: str, b_iso: float) -> None:
    pref = absorption_prefactor(200)

    def reference(qg: float) -> float:
        def f(sy: float, sx: float) -> float:
            q1 = math.hypot(qg / 2 + 2 * sx, 2 * sy)
            q2 = math.hypot(qg / 2 - 2 * sx, 2 * sy)
            return float(kirkland_form_factor(element, q1) * kirkland_form_factor(element, q2)) * -math.expm1(
                -2 * b_iso * (sx * sx + sy * sy - qg * qg / 16)
            )

        value, _ = integrate.dblquad(f, 0, np.inf, 0, np.inf, epsrel=1e-11, epsabs=1e-13)
        return 4 * pref * value

    q = np.array([0.0, 0.7, 2.0])
    ours = bird_king_form_factor(element, q, b_iso, 200)
    expected = np.array([reference(v) for v in q])
    assert np.allclose(ours, expected, rtol=1e-6)
    assert np.all(bird_king_form_factor(element, q, 0.0, 200) == 0)  # B = 0: no absorption


def _felix_box_pool(frame, settings, wavenumber: float, centring: str) -> set[tuple[int, int, int]]:
    """Felix's HKLMake by brute force over its whole index box (no search-radius shortcut)."""
    recip = frame.reciprocal
    mags = np.linalg.norm(recip, axis=1)
    shell = mags.min()
    g_limit = 10.0 * 2 * math.pi
    box = [int(math.floor(g_limit / m + 0.5)) for m in mags]
    axes = [np.arange(-b, b + 1) for b in box]
    hkl = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    hkl = hkl[np.any(hkl != 0, axis=1) & centring_allowed(hkl, centring)]
    g = hkl @ recip
    gmag = np.linalg.norm(g, axis=1)
    ell = np.floor(gmag / shell + 1e-9).astype(int) + 1
    dev = np.abs(wavenumber - np.linalg.norm(g + [0, 0, wavenumber], axis=1)) / gmag
    keep = dev - 0.08 < 1e-9
    hkl, ell = hkl[keep], ell[keep]
    order = np.lexsort((hkl[:, 2], hkl[:, 1], hkl[:, 0], ell))
    return {tuple(int(v) for v in h) for h in hkl[order][: settings.min_reflection_pool - 1]}


@pytest.mark.parametrize("cell", [(5.0, 6.0, 7.0, 70.0, 110.0, 60.0), (3.0, 3.0, 12.0, 50.0, 50.0, 50.0), (4.0, 4.0, 6.5, 90.0, 90.0, 120.0)])
def test_pool_of_oblique_cells_matches_the_full_box(cell) -> None:
    from lacbed_bridge.crystal.model import Crystal, Site
    from lacbed_bridge.simulate.settings import LacbedSettings

    crystal = Crystal("X", cell, "P 1", (Site("Si", "Si", (0.1, 0.2, 0.3), 1.0, 0.005),))
    settings = LacbedSettings(
        min_reflection_pool=1000, min_strong_beams=20, incident_beam_direction=(1, 0, 0), x_direction=(0, 1, 0), normal_direction=(1, 0, 0)
    )
    frame = microscope_frame(crystal, settings.geometry)
    k = wavenumber_from_voltage(200)
    pool = reflection_pool(crystal, frame, settings.beam_selection, k, "felix",
                           felix_inputs=(settings.geometry, settings.accelerating_voltage))
    ours, box = {tuple(int(v) for v in h) for h in pool[1:]}, _felix_box_pool(frame, settings, k, "P")
    assert len(ours) == len(box)
    # the full-box search (boundary → outer shell) and Felix's arithmetic may differ only in
    # reflections lying on a shell boundary |g| = ℓΔ, which Felix's rounding decides, and so in
    # which reflections of the last (cut) shell still fit
    shell = np.linalg.norm(frame.reciprocal, axis=1).min()
    ratios = np.linalg.norm(frame.g_vectors(pool[1:]), axis=1) / shell
    last = np.ceil(ratios.max() - 1e-9)
    for h in ours ^ box:
        ratio = np.linalg.norm(frame.g_vectors(np.array([h]))[0]) / shell
        assert abs(ratio - round(ratio)) < 1e-9 or ratio > last - 1, h


@pytest.mark.slow
def test_phase_sums_are_blocked_so_memory_does_not_scale_with_atoms_times_reflections() -> None:
    """Issue #11 item 2: a site with many equivalent positions and a large pool of reflection
    differences must not allocate n_reflections × n_positions terms at once."""
    import tracemalloc

    from lacbed_bridge.crystal.structure_factor import phase_sum

    rng = np.random.default_rng(0)
    positions = rng.random((192, 3))  # a general position of Fm-3m
    hkl = rng.integers(-20, 21, size=(300_000, 3))
    small = hkl[:2000]
    direct = np.exp(-2j * np.pi * (small @ positions.T)).sum(axis=1)
    assert np.allclose(phase_sum(small, positions, block=1000), direct, rtol=0, atol=1e-10)
    tracemalloc.start()
    phase_sum(hkl, positions)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    unblocked = len(hkl) * len(positions) * 16  # 0.92 GB of complex phases
    assert peak < 0.25 * unblocked, f"peak {peak / 2**20:.0f} MiB"
