"""Physical invariants of the builtin simulator, independent of Felix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from support.sim_refdata import CASES_64, load_case

from lacbed_bridge.crystal.model import Crystal, Site
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings
from lacbed_bridge.simulate.electron import wavenumber_from_voltage
from lacbed_bridge.crystal.orientation import microscope_frame
from lacbed_bridge.simulate.pool import reflection_pool

GAAS_OPS = None


def gaas(pv_ga: float | None = None, pv_as: float | None = None, kappa: float = 1.0) -> Crystal:
    """GaAs F-43m from the space-group name (gemmi generates the operations)."""
    b = 8 * np.pi**2
    return Crystal(
        name="GaAs",
        cell=(5.65325, 5.65325, 5.65325, 90.0, 90.0, 90.0),
        spacegroup="F -4 3 m",
        sites=(
            Site("Ga", "Ga", (0.0, 0.0, 0.0), 1.0, 0.5854 / b, pv_ga, kappa),
            Site("As", "As", (0.25, 0.25, 0.25), 1.0, 0.3528 / b, pv_as, kappa),
        ),
        formula="Ga As",
    )


def small(**overrides) -> LacbedSettings:
    """A fast [001] setting: 12×12 px, small pool."""
    base = dict(
        pixel_count=6,
        min_reflection_pool=40,
        min_strong_beams=15,
        incident_beam_direction=(0, 0, 1),
        x_direction=(1, 0, 0),
        normal_direction=(0, 0, 1),
        outer_convergence_angle=0.6,
        absorb_flag=0,
        initial_thickness=300.0,
        final_thickness=300.0,
    )
    base.update(overrides)
    return LacbedSettings(**base).validate()


def test_unitarity_without_absorption() -> None:
    """No absorption and n̂ ∥ beam in the ZOLZ: exp(iÃt) is unitary, Σ_g |ψ_g|² = 1 per pixel."""
    settings = small()
    crystal = gaas()
    frame = microscope_frame(crystal, settings.geometry)
    pool = reflection_pool(crystal, frame, settings.beam_selection, wavenumber_from_voltage(200.0),
                           felix_inputs=(settings.geometry, settings.accelerating_voltage))
    g = frame.g_vectors(pool)
    assert np.allclose(g @ frame.normal, 0.0, atol=1e-9)  # no HOLZ member: all factors M = 1
    result = simulate_builtin(crystal, settings, BuiltinOptions.as_felix(), hkl=tuple(map(tuple, pool)), device="cpu")
    total = sum(stack[0] for stack in result.discs.values())
    assert np.allclose(total, 1.0, atol=1e-10)
    assert result.disc().max() <= 1.0 + 1e-12


def test_absorption_removes_intensity() -> None:
    crystal = gaas()
    plain = simulate_builtin(crystal, small(), BuiltinOptions.as_felix(), device="cpu").disc()
    absorbed = simulate_builtin(crystal, small(absorb_flag=1, absorption_per=10.0), BuiltinOptions.as_felix(), device="cpu").disc()
    assert not np.allclose(plain, absorbed)
    assert np.abs(plain - absorbed).max() > 1e-3


def test_thin_crystal_limit() -> None:
    """At t → 0 the (000) beam carries everything: I₀₀₀ = 1 − O(t²)."""
    crystal = gaas()
    img1 = simulate_builtin(crystal, small(initial_thickness=1.0, final_thickness=1.0), BuiltinOptions.as_felix(), device="cpu").disc()
    img2 = simulate_builtin(crystal, small(initial_thickness=2.0, final_thickness=2.0), BuiltinOptions.as_felix(), device="cpu").disc()
    d1, d2 = 1 - img1, 1 - img2
    assert np.all(d1 >= -1e-12) and d1.max() < 1e-3
    # second order in t: doubling t multiplies the loss by ~4
    ratio = d2.sum() / d1.sum()
    assert 3.8 < ratio < 4.2


def test_fourfold_symmetry_of_rocksalt_001() -> None:
    """Bright-field disc of m-3m along [001] has 4mm symmetry (rows ↔ k_y, columns ↔ k_x)."""
    b = 8 * np.pi**2
    mgo = Crystal(
        name="MgO",
        cell=(4.212, 4.212, 4.212, 90.0, 90.0, 90.0),
        spacegroup="F m -3 m",
        sites=(Site("Mg", "Mg", (0, 0, 0), 1.0, 0.3 / b), Site("O", "O", (0.5, 0.5, 0.5), 1.0, 0.4 / b)),
        formula="Mg O",
    )
    # a pool of complete shells keeps the beam set symmetric: 1 + 4 + 4 + 4 + 8 + ... (ZOLZ only at this size)
    img = simulate_builtin(mgo, small(min_reflection_pool=25, min_strong_beams=9), BuiltinOptions.as_felix(), device="cpu").disc()
    for transformed in (img[:, ::-1], img[::-1, :], img.T, np.rot90(img)):
        assert np.allclose(img, transformed, atol=1e-6)


def test_thickness_series_equals_single_runs() -> None:
    crystal = gaas()
    series = simulate_builtin(crystal, small(initial_thickness=200.0, final_thickness=400.0, delta_thickness=100.0), BuiltinOptions.as_felix(), device="cpu")
    assert series.thicknesses == [200.0, 300.0, 400.0]
    for i, t in enumerate(series.thicknesses):
        single = simulate_builtin(crystal, small(initial_thickness=t, final_thickness=t), BuiltinOptions.as_felix(), device="cpu")
        assert np.allclose(series.disc((0, 0, 0), i), single.disc(), atol=1e-10)


def test_chunking_does_not_change_the_result() -> None:
    crystal = gaas()
    whole = simulate_builtin(crystal, small(), BuiltinOptions.as_felix(), device="cpu", pixel_chunk=10_000).disc()
    pieces = simulate_builtin(crystal, small(), BuiltinOptions.as_felix(), device="cpu", pixel_chunk=7).disc()
    tiny_memory = simulate_builtin(crystal, small(), BuiltinOptions.as_felix(), device="cpu", max_memory_gb=1e-6).disc()
    assert np.array_equal(whole, pieces)
    assert np.allclose(whole, tiny_memory, atol=1e-12)


def test_complex64_close_to_complex128() -> None:
    crystal = gaas()
    c128 = simulate_builtin(crystal, small(), BuiltinOptions.as_felix(), device="cpu").disc()
    c64 = simulate_builtin(crystal, small(), BuiltinOptions.as_felix(complex_dtype="complex64"), device="cpu").disc()
    assert np.abs(c128 - c64).max() < 1e-4


def test_charge_transfer_changes_the_pattern_and_neutral_pv_does_not() -> None:
    settings = small()
    neutral = simulate_builtin(gaas(), settings, BuiltinOptions.as_felix(), device="cpu").disc()
    explicit = simulate_builtin(gaas(pv_ga=3.0, pv_as=5.0), settings, BuiltinOptions.as_felix(), device="cpu").disc()
    charged = simulate_builtin(gaas(pv_ga=2.5, pv_as=5.5), settings, BuiltinOptions.as_felix(), device="cpu").disc()
    assert np.allclose(neutral, explicit, atol=1e-12)
    assert np.abs(charged - neutral).max() > 1e-3


def test_result_metadata() -> None:
    crystal, settings = load_case(CASES_64[0])
    settings = dataclasses.replace(settings, pixel_count=4)
    result = simulate_builtin(crystal, settings, BuiltinOptions.as_felix(), device="cpu", hkl=((0, 0, 0), (2, 2, 0), (99, 0, 0)))
    assert result.backend == "builtin" and result.seconds > 0
    assert result.info["pool_size"] == 200
    assert result.info["beams_min"] >= settings.min_strong_beams
    assert result.info["missing_hkl"] == [[99, 0, 0]]
    assert result.disc().shape == (8, 8)


@pytest.mark.cuda
def test_cuda_matches_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    crystal = gaas()
    cpu = simulate_builtin(crystal, small(), BuiltinOptions.as_felix(), device="cpu").disc()
    gpu = simulate_builtin(crystal, small(), BuiltinOptions.as_felix(), device="cuda").disc()
    assert np.abs(cpu - gpu).max() < 1e-4


_MEMORY_SCRIPT = """
import dataclasses, sys
def peak_kib():
    # VmHWM: this process's own peak resident set. Not ru_maxrss: Linux carries the parent's peak
    # across fork + exec, so under a pytest process that has already grown, it never moves.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
from lacbed_bridge.crystal.model import Crystal, Site
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings
b = 78.95683520871486
gaas = Crystal("GaAs", (5.65325,) * 3 + (90.0,) * 3, "F -4 3 m",
               (Site("Ga", "Ga", (0, 0, 0), 1.0, 0.5854 / b), Site("As", "As", (0.25, 0.25, 0.25), 1.0, 0.3528 / b)))
settings = LacbedSettings(pixel_count=16, min_reflection_pool=300, min_strong_beams=100, absorb_flag=1).validate()
before = peak_kib()
result = simulate_builtin(gaas, settings, BuiltinOptions.as_felix(solver=sys.argv[2]), device="cpu", pixel_chunk=100000,
                          max_memory_gb=float(sys.argv[1]))
print(result.info["largest_chunk"], result.info["beams_max"], (peak_kib() - before) / 2**20)
"""


@pytest.mark.slow
def test_memory_is_bounded_by_chunking() -> None:
    """Peak memory of the batched exponential follows max_memory_gb (≈ 0.5 GiB + the bound); the
    Chebyshev solver works on 4 × 4-pixel blocks and stays small whatever the bound. Run in fresh
    processes."""
    import subprocess
    import sys

    def run(limit: float, solver: str = "expm") -> tuple[int, int, float]:
        out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(limit), solver], capture_output=True, text=True,
                             check=True)
        chunk, beams, gib = out.stdout.split()
        return int(chunk), int(beams), float(gib)

    small_chunk, beams, small = run(0.25)
    big_chunk, _, big = run(4.0)
    block, _, chebyshev = run(4.0, "chebyshev")
    assert block == 16 and chebyshev < small, (block, chebyshev, small)
    assert beams >= 100
    # ~10 matrices of beams² complex128 per pixel must fit in the bound (beams of the first chunk ≤ max)
    bound = 0.25 * 2**30 // (10 * 100 * 100 * 16)
    assert 0.8 * int(0.25 * 2**30 // (10 * beams * beams * 16)) <= small_chunk <= bound and big_chunk == 1024
    assert small < 0.5 + 0.25 + 0.35, small  # GiB above the interpreter's own
    assert big > small + 0.3


def test_long_complex64_series_stays_accurate() -> None:
    """Repeated products in single precision drift; fresh exponentials every few steps bound it."""
    crystal = gaas()
    settings = small(initial_thickness=100.0, final_thickness=2100.0, delta_thickness=50.0)
    c128 = simulate_builtin(crystal, settings, BuiltinOptions.as_felix(), device="cpu").discs[(0, 0, 0)]
    c64 = simulate_builtin(crystal, settings, BuiltinOptions.as_felix(complex_dtype="complex64"), device="cpu").discs[(0, 0, 0)]
    assert len(settings.thicknesses) == 41
    assert np.abs(c128 - c64).max() < 1e-4


def test_normal_must_point_along_the_beam() -> None:
    from lacbed_bridge.errors import InputError

    with pytest.raises(InputError, match="INormalDirection"):
        simulate_builtin(gaas(), small(normal_direction=(1, 0, 0)), BuiltinOptions.as_felix(), device="cpu")
    with pytest.raises(InputError, match="INormalDirection"):
        simulate_builtin(gaas(), small(normal_direction=(0, 0, -1)), BuiltinOptions.as_felix(), device="cpu")
    tilted = simulate_builtin(gaas(), small(normal_direction=(1, 0, 3)), BuiltinOptions.as_felix(), device="cpu").disc()
    assert np.isfinite(tilted).all()


@pytest.mark.parametrize("pool_mode", ["felix", "shells"])
def test_a_pool_of_extinct_reflections_is_an_error_not_a_uniform_disc(pool_mode: str) -> None:
    """issue #11 item 2: a 3×3×3 supercell of fcc Cu written in P 1 (108 atoms): every reflection
    of the supercell below (333) is extinct, so a 60-reflection pool couples nothing."""
    import itertools

    from lacbed_bridge.errors import InputError

    basis = [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
    sites = tuple(
        Site(f"Cu{4 * m + j}", "Cu", ((b[0] + i) / 3, (b[1] + k) / 3, (b[2] + l) / 3), 1.0, 0.006, None, 1.0)
        for m, (i, k, l) in enumerate(itertools.product(range(3), repeat=3))
        for j, b in enumerate(basis)
    )
    crystal = Crystal(name="Cu_333", cell=(3 * 3.615,) * 3 + (90.0,) * 3, spacegroup="P 1", sites=sites, formula="Cu108")
    with pytest.raises(InputError, match="structure factor 0") as err:
        simulate_builtin(crystal, small(min_reflection_pool=60, min_strong_beams=20), BuiltinOptions(pool_mode=pool_mode, use_symmetry=False), device="cpu")
    assert err.value.field == "simulation.min_reflection_pool"


_HUGE_CELL_SCRIPT = """
import resource
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
import numpy as np
from lacbed_bridge.crystal.model import Crystal, Site
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings
big = Crystal("GaAs", (312.0,) * 3 + (90.0,) * 3, "F -4 3 m",
              (Site("Ga", "Ga", (0, 0, 0), 1.0, 0.0074), Site("As", "As", (0.25, 0.25, 0.25), 1.0, 0.0045),
               Site("N", "N", (0.11, 0.23, 0.37), 0.01, 0.01)))  # a general position: 96 atoms in the cell
settings = LacbedSettings(pixel_count=4, min_reflection_pool=1000, min_strong_beams=100, absorb_flag=1).validate()
result = simulate_builtin(big, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu", max_memory_gb=0.5)
disc = result.disc()
print(bool(np.isfinite(disc).all()), result.info["beams_max"])
"""


@pytest.mark.slow
def test_a_huge_cell_runs_in_bounded_memory() -> None:
    """Issue #11 item 2: a = 312 Å (the dense reciprocal lattice fills the pool with tiny g) with a
    96-fold general position and a 1000-reflection pool runs under a 3 GiB address-space limit
    (phases summed in blocks, tests/simulate/test_sim_structure_factors.py; pixels in chunks of
    max_memory_gb 0.5: the many near-zero-|g| beams make each pixel's matrix large)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _HUGE_CELL_SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    finite, beams = out.stdout.split()
    assert finite == "True" and int(beams) >= 100
