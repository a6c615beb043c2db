"""The eigen solver (issue #27 item 3): one eigendecomposition of each pixel's absorbing structure
matrix serves the whole thickness series, ψ(t) = V e^{iΛt} V⁻¹ e₀ (Felix's own route); its discs
equal the matrix exponential's to ≤ 1e-10 for every requested beam, both absorption models, a
tilted surface normal; `auto` takes it on a CPU for a long series (where it is measured faster)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.simulate.bloch import SERIES_EIGEN_DEPTH, SERIES_EIGEN_THICKNESSES, eigen_waves, resolve_solver, simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings

#: a long series, as Felix and the paper's data use: 100–2000 Å in 100 Å (20 thicknesses)
SERIES = dict(initial_thickness=100.0, final_thickness=2000.0, delta_thickness=100.0)


def _settings(**values: object) -> LacbedSettings:
    base = replace(LacbedSettings(), incident_beam_direction=(0, 0, 1), x_direction=(1, 0, 0), normal_direction=(0, 0, 1),
                   pixel_count=5, outer_convergence_angle=1.2, min_reflection_pool=90, min_strong_beams=35, absorb_flag=1,
                   absorption_per=7.8, debye_waller_constant=0.4, **SERIES)
    return replace(base, **values)


@pytest.mark.parametrize(
    ("prototype", "settings", "pool_mode"),
    [
        ("zincblende", _settings(), "shells"),
        ("zincblende", _settings(absorb_flag=2), "felix"),
        ("rocksalt", _settings(incident_beam_direction=(1, 1, 0), x_direction=(-1, 1, 0), normal_direction=(1, 1, 1)), "felix"),
    ],
)
def test_eigen_discs_equal_the_matrix_exponential(prototype: str, settings: LacbedSettings, pool_mode: str) -> None:
    crystal = load_prototypes()[prototype].crystal()
    options = BuiltinOptions(pool_mode=pool_mode, use_symmetry=False)
    pool = simulate_builtin(crystal, replace(settings, pixel_count=1), options, device="cpu").pool.hkl
    hkl = tuple(tuple(int(v) for v in pool[i]) for i in (0, 1, 2, 5))
    exact = simulate_builtin(crystal, settings, replace(options, solver="expm"), device="cpu", hkl=hkl)
    eigen = simulate_builtin(crystal, settings, replace(options, solver="eigen"), device="cpu", hkl=hkl)
    assert eigen.info["solver"] == "eigen" and len(settings.thicknesses) == 20
    for h, stack in exact.discs.items():
        assert stack.shape == (20, settings.side, settings.side)
        assert np.abs(eigen.discs[h] - stack).max() <= 1e-10, h
    assert not np.allclose(exact.discs[(0, 0, 0)][0], exact.discs[(0, 0, 0)][-1], atol=1e-2)


def test_auto_takes_the_eigendecomposition_only_for_a_long_deep_series_on_a_cpu() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")

    def series(first: float, last: float, step: float) -> list[float]:
        return list(np.arange(first, last + 0.5 * step, step))

    assert resolve_solver("auto", cpu, [500.0]) == "chebyshev"
    assert resolve_solver("auto", cpu, series(100, 2000, 10)) == "chebyshev"  # 191 thicknesses, 2000 Å
    assert resolve_solver("auto", cpu, series(1000, 1300, 1)) == "chebyshev"  # many, not deep
    assert len(series(100, SERIES_EIGEN_DEPTH, 10)) >= SERIES_EIGEN_THICKNESSES
    assert resolve_solver("auto", cpu, series(100, SERIES_EIGEN_DEPTH, 10)) == "eigen"
    assert resolve_solver("auto", cpu, series(100, SERIES_EIGEN_DEPTH - 10, 10)) == "chebyshev"
    assert resolve_solver("auto", gpu, series(100, 5000, 10)) == "expm"
    assert resolve_solver("eigen", cpu, [500.0]) == "eigen"


def test_eigen_waves_are_the_exponential_of_a_non_hermitian_matrix() -> None:
    """ψ(t) = exp(iÃt)e₀ for random absorbing (non-Hermitian) matrices, to 1e-12."""
    rng = np.random.default_rng(3)
    n = 12
    h = rng.standard_normal((4, n, n)) + 1j * rng.standard_normal((4, n, n))
    a = torch.as_tensor(0.01 * (h + h.conj().transpose(0, 2, 1)) + 0.001j * np.abs(rng.standard_normal((4, n, n))))
    waves = eigen_waves(a, [0.0, 35.0, 700.0])
    for i, t in enumerate((0.0, 35.0, 700.0)):
        np.testing.assert_allclose(waves[i].numpy(), torch.linalg.matrix_exp(1j * t * a)[:, :, 0].numpy(), atol=1e-12)


def test_auto_solves_a_long_series_by_eigendecomposition() -> None:
    """A long, deep series (100–3500 Å in 10 Å, 341 thicknesses) of a tiny disc: `auto` reports the
    eigen solver and its discs equal the Chebyshev series' to 1e-10."""
    crystal = load_prototypes()["zincblende"].crystal()
    settings = _settings(pixel_count=2, final_thickness=3500.0, delta_thickness=10.0)
    assert len(settings.thicknesses) == 341
    auto = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu")
    series = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, solver="chebyshev"), device="cpu")
    assert auto.info["solver"] == "eigen"
    assert np.abs(auto.discs[(0, 0, 0)] - series.discs[(0, 0, 0)]).max() <= 1e-10
