"""The Chebyshev solver (issue #9 item 5) computes the same discs as the matrix exponential: the
same strong beams per pixel, the same matrices, every requested beam, a thickness series, both
absorption models, a tilted surface normal (N ≠ 1), the Felix pool and the symmetric one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings
from lacbed_bridge.simulate import chebyshev
from lacbed_bridge.simulate.chebyshev import bessel_table, block_waves, series_length, tile_blocks

def _settings(**values: object) -> LacbedSettings:
    base = replace(LacbedSettings(), incident_beam_direction=(0, 0, 1), x_direction=(1, 0, 0), normal_direction=(0, 0, 1),
                   pixel_count=6, outer_convergence_angle=1.2, initial_thickness=150.0, final_thickness=950.0,
                   delta_thickness=200.0, min_reflection_pool=90, min_strong_beams=35, absorb_flag=1, absorption_per=7.8,
                   debye_waller_constant=0.4)
    return replace(base, **values)


@pytest.mark.parametrize(
    ("prototype", "settings", "pool_mode", "mean_absorption"),
    [
        ("zincblende", _settings(), "shells", False),
        ("zincblende", _settings(absorb_flag=2), "felix", True),
        ("rocksalt", _settings(incident_beam_direction=(1, 1, 0), x_direction=(-1, 1, 0), normal_direction=(1, 1, 1)), "felix", False),
        ("fluorite", _settings(incident_beam_direction=(1, 1, 1), x_direction=(1, -1, 0), normal_direction=(1, 1, 1),
                               min_reflection_pool=140, min_strong_beams=60), "shells", False),
    ],
)
def test_chebyshev_discs_equal_the_matrix_exponential(prototype: str, settings: LacbedSettings, pool_mode: str,
                                                      mean_absorption: bool) -> None:
    crystal = load_prototypes()[prototype].crystal()
    options = BuiltinOptions(pool_mode=pool_mode, use_symmetry=False, mean_absorption=mean_absorption)
    pool = simulate_builtin(crystal, replace(settings, pixel_count=1), options, device="cpu").pool.hkl
    hkl = tuple(tuple(int(v) for v in pool[i]) for i in (0, 1, 2, 5, 9))  # 000 and four in the zone
    exact = simulate_builtin(crystal, settings, replace(options, solver="expm"), device="cpu", hkl=hkl)
    fast = simulate_builtin(crystal, settings, options, device="cpu", hkl=hkl)  # auto: Chebyshev on the CPU
    assert fast.info["solver"] == "chebyshev" and exact.info["solver"] == "expm"
    assert set(fast.discs) == set(exact.discs) and len(exact.discs) >= 3
    for h, stack in exact.discs.items():
        assert stack.shape == (len(settings.thicknesses), settings.side, settings.side)
        assert np.abs(fast.discs[h] - stack).max() <= 1e-11, h
    assert fast.info["beams_min"] == exact.info["beams_min"] and fast.info["beams_max"] == exact.info["beams_max"]


def test_complex64_chebyshev_is_within_the_single_precision_error() -> None:
    crystal = load_prototypes()["zincblende"].crystal()
    settings = _settings()
    exact = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, solver="expm"), device="cpu")
    single = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, complex_dtype="complex64", solver="chebyshev"), device="cpu")
    assert np.abs(single.discs[(0, 0, 0)] - exact.discs[(0, 0, 0)]).max() < 1e-4


def _random_block(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random Hermitian coupling with absorption, three pixels with different beam subsets and
    normal corrections, and a mean absorption on the diagonal."""
    rng = np.random.default_rng(seed)
    n = 12
    h = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    coupling = 0.02 * (h + h.conj().T) * (1 + 0.08j)
    diagonal = rng.uniform(-0.3, 0.3, size=(3, n)) + 0.001j
    member = np.ones((3, n), dtype=bool)
    member[1, [3, 7]] = False
    member[2, 5:9] = False
    weight = np.where(member, rng.uniform(0.9, 1.1, size=(3, n)), 0.0)
    weight[:, 0] = 1.0  # 000
    return coupling, diagonal, member, weight


def _expected(coupling: np.ndarray, diagonal: np.ndarray, member: np.ndarray, weight: np.ndarray, p: int,
              t: float) -> np.ndarray:
    """w_p ∘ exp(iÃ_p t) e₀ with Ã_p = D_p + W_p C W_p on the pixel's beams."""
    beams = np.flatnonzero(member[p])
    c = coupling[np.ix_(beams, beams)].copy()
    np.fill_diagonal(c, 0)
    w = weight[p, beams]
    a = np.diag(diagonal[p, beams]) + w[:, None] * c * w[None, :]
    return w * torch.linalg.matrix_exp(torch.as_tensor(1j * t * a))[:, 0].numpy()


def test_block_waves_is_the_exponential_of_each_pixels_matrix() -> None:
    """Every pixel of the block, every thickness of a series (0 Å included): w_p ∘ ψ_p(t)."""
    coupling, diagonal, member, weight = _random_block()
    thicknesses = [0.0, 15.0, 40.0, 75.0, 120.0, 200.0]
    amplitude = block_waves(torch.as_tensor(coupling), torch.as_tensor(diagonal), torch.as_tensor(weight),
                            thicknesses).numpy()
    assert amplitude.shape == (len(thicknesses), 3, 12)
    for i, t in enumerate(thicknesses):
        for p in range(3):
            np.testing.assert_allclose(amplitude[i, p, member[p]], _expected(coupling, diagonal, member, weight, p, t),
                                       atol=1e-12)
            assert np.all(amplitude[i, p, ~member[p]] == 0)  # beams outside the pixel's set never fill


def test_block_waves_sums_only_the_wanted_beams_to_the_same_bits() -> None:
    """A thickness series summed for the requested beams only (what the disc needs) gives the full
    sum's numbers for those beams (to 1e-12: the stopping tolerance is relative to the size of the
    amplitudes kept, so the series may end a term or two apart)."""
    coupling, diagonal, member, weight = _random_block()
    args = (torch.as_tensor(coupling), torch.as_tensor(diagonal), torch.as_tensor(weight), [0.0, 40.0, 120.0, 200.0])
    full = block_waves(*args).numpy()
    for wanted in ([0], [0, 5, 2], []):
        cut = block_waves(*args, beams=wanted).numpy()
        assert cut.shape == (4, 3, len(wanted))
        np.testing.assert_allclose(cut, full[:, :, wanted], rtol=0, atol=1e-12)


def test_a_series_longer_than_its_estimate_is_extended(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first estimate far too short (2 orders): the orders are doubled until the series meets
    its tolerance, with the same result."""
    coupling, diagonal, member, weight = _random_block(3)
    monkeypatch.setattr(chebyshev, "series_length", lambda x: 2)
    monkeypatch.setattr(chebyshev, "MAX_GROWTH", 10**6)
    amplitude = block_waves(torch.as_tensor(coupling), torch.as_tensor(diagonal), torch.as_tensor(weight), [90.0]).numpy()
    for p in range(3):
        np.testing.assert_allclose(amplitude[0, p, member[p]], _expected(coupling, diagonal, member, weight, p, 90.0),
                                   atol=1e-12)


def test_a_series_that_does_not_converge_falls_back_to_the_exponential(monkeypatch: pytest.MonkeyPatch) -> None:
    """block_waves refuses a series that does not converge within MAX_GROWTH × its estimate, and
    the disc is then computed by the matrix exponential, block by block, with the same values."""
    coupling, diagonal, _, weight = _random_block(3)
    monkeypatch.setattr(chebyshev, "series_length", lambda x: 2)
    with pytest.raises(chebyshev.SeriesDivergence):
        block_waves(torch.as_tensor(coupling), torch.as_tensor(diagonal), torch.as_tensor(weight), [90.0])
    crystal = load_prototypes()["zincblende"].crystal()
    settings = _settings()
    exact = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, solver="expm"), device="cpu")
    fallback = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, solver="chebyshev"), device="cpu")
    assert np.abs(fallback.disc() - exact.disc()).max() == 0.0  # every block went to the exponential


@pytest.mark.parametrize("x_max", [0.005, 3.0, 180.0, 2500.0])
@pytest.mark.parametrize("count", [3, 40])
def test_bessel_table_is_the_bessel_function(x_max: float, count: int) -> None:
    """scipy's jv for few values, Miller's recurrence for many: absolute ~1e-13 and relative in the
    tail, where the stop test reads it."""
    from scipy.special import jv

    x = np.linspace(0.0, x_max, count)
    order = series_length(x_max)
    table = bessel_table(x, order)
    expected = jv(np.arange(order + 1)[:, None], x[None, :])
    assert table.shape == (order + 1, count)
    assert np.abs(table - expected).max() < 1e-13
    tail = (np.abs(expected) < 1e-8) & (np.abs(expected) > 1e-200)
    assert np.all(np.abs(table - expected)[tail] <= 1e-10 * np.abs(expected)[tail])


def test_tiles_hold_neighbouring_pixels() -> None:
    side = 10
    centres = (np.arange(side) - side / 2 + 0.5) * 0.03
    ky, kx = np.meshgrid(centres, centres, indexing="ij")
    k = np.stack([kx.ravel(), ky.ravel(), np.full(side * side, 40.0)], axis=1)
    blocks = tile_blocks(k, 4)
    assert sorted(np.concatenate(blocks).tolist()) == list(range(side * side))
    assert max(len(b) for b in blocks) == 16 and len(blocks) == 9
    for block in blocks:
        rows, cols = block // side, block % side
        assert rows.max() - rows.min() < 4 and cols.max() - cols.min() < 4


@pytest.mark.parametrize("x", [0.3, 12.0, 129.0, 900.0])
def test_series_length_leaves_the_bessel_function_below_1e_16(x: float) -> None:
    from scipy.special import jv

    order = series_length(x)
    assert order > x
    assert np.abs(jv(np.arange(order, order + 50), x)).max() < 1e-16
