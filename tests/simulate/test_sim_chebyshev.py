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
from lacbed_bridge.simulate.chebyshev import block_waves, series_length, tile_blocks
from lacbed_bridge.simulate.settings import FelixSettings

def _settings(**values: object) -> FelixSettings:
    base = replace(FelixSettings(), incident_beam_direction=(0, 0, 1), x_direction=(1, 0, 0), normal_direction=(0, 0, 1),
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
def test_chebyshev_discs_equal_the_matrix_exponential(prototype: str, settings: FelixSettings, pool_mode: str,
                                                      mean_absorption: bool) -> None:
    crystal = load_prototypes()[prototype].crystal()
    kwargs = dict(device="cpu", pool_mode=pool_mode, mean_absorption=mean_absorption)
    pool = simulate_builtin(crystal, replace(settings, pixel_count=1), **kwargs).pool.hkl
    kwargs["hkl"] = tuple(tuple(int(v) for v in pool[i]) for i in (0, 1, 2, 5, 9))  # 000 and four in the zone
    exact = simulate_builtin(crystal, settings, solver="expm", **kwargs)
    fast = simulate_builtin(crystal, settings, **kwargs)  # auto: Chebyshev on the CPU
    assert fast.info["solver"] == "chebyshev" and exact.info["solver"] == "expm"
    assert set(fast.discs) == set(exact.discs) and len(exact.discs) >= 3
    for h, stack in exact.discs.items():
        assert stack.shape == (len(settings.thicknesses), settings.side, settings.side)
        assert np.abs(fast.discs[h] - stack).max() <= 1e-11, h
    assert fast.info["beams_min"] == exact.info["beams_min"] and fast.info["beams_max"] == exact.info["beams_max"]


def test_complex64_chebyshev_is_within_the_single_precision_error() -> None:
    crystal = load_prototypes()["zincblende"].crystal()
    settings = _settings()
    exact = simulate_builtin(crystal, settings, device="cpu", pool_mode="shells", solver="expm")
    single = simulate_builtin(crystal, settings, device="cpu", pool_mode="shells", solver="chebyshev", dtype=torch.complex64)
    assert np.abs(single.discs[(0, 0, 0)] - exact.discs[(0, 0, 0)]).max() < 1e-4


def test_block_waves_is_the_exponential_of_each_pixels_matrix() -> None:
    """Random Hermitian coupling with absorption, three pixels with different beam subsets and
    normal corrections: w_p ∘ ψ_p with ψ_p = exp(iÃ_p t) e₀, Ã_p = D_p + W_p C W_p on the pixel's beams."""
    rng = np.random.default_rng(7)
    n, t = 12, 40.0
    h = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    coupling = 0.02 * (h + h.conj().T) * (1 + 0.08j)
    diagonal = rng.uniform(-0.3, 0.3, size=(3, n)) + 0.001j
    member = np.ones((3, n), dtype=bool)
    member[1, [3, 7]] = False
    member[2, 5:9] = False
    weight = np.where(member, rng.uniform(0.9, 1.1, size=(3, n)), 0.0)
    amplitude = block_waves(torch.as_tensor(coupling), torch.as_tensor(diagonal), torch.as_tensor(weight), [t])[0].numpy()
    for p in range(3):
        beams = np.flatnonzero(member[p])
        c = coupling[np.ix_(beams, beams)].copy()
        np.fill_diagonal(c, 0)
        w = weight[p, beams]
        a = np.diag(diagonal[p, beams]) + w[:, None] * c * w[None, :]
        expected = torch.linalg.matrix_exp(torch.as_tensor(1j * t * a))[:, 0].numpy()
        np.testing.assert_allclose(amplitude[p, beams], w * expected, atol=1e-12)
        assert np.all(amplitude[p, ~member[p]] == 0)  # beams outside the pixel's set never fill


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
