"""The symmetric pool, the disc's symmetry and the symmetry speed-up (issue: simulation you can trust).

Every prototype along [001], [110] and [111]: the pool of complete shells is closed under the
crystal's operations that fix the beam, and the (000) disc equals its images under those
operations to ≤ 1e-10 relative, including operations that do not permute pixels (3-fold axes),
checked at rotated incident directions.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.simulate.bloch import bloch_structure, propagate, simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings
from lacbed_bridge.simulate.electron import wavenumber_from_voltage
from lacbed_bridge.crystal.orientation import microscope_frame
from lacbed_bridge.simulate.geometry import pixel_wavevectors
from lacbed_bridge.simulate.pool import reflection_pool
from lacbed_bridge.simulate.symmetry import disc_symmetry, pixel_orbits

PROTOTYPES = load_prototypes()
DIRECTIONS = {"001": ((0, 0, 1), (1, 0, 0)), "110": ((1, 1, 0), (1, -1, 0)), "111": ((1, 1, 1), (1, -1, 0))}
RELATIVE = 1e-10


def _settings(direction: str, **kw) -> LacbedSettings:
    beam, x = DIRECTIONS[direction]
    base = dict(incident_beam_direction=beam, x_direction=x, normal_direction=beam, pixel_count=4,
                outer_convergence_angle=1.0, initial_thickness=500.0, final_thickness=500.0,
                min_reflection_pool=60, min_strong_beams=20, absorb_flag=1, debye_waller_constant=0.5)
    base.update(kw)
    return replace(LacbedSettings(), **base)


def _crystal(key: str):
    return PROTOTYPES[key].crystal(u_iso={s.label: 0.006 for s in PROTOTYPES[key].sites})


def _mapped(image: np.ndarray, op: np.ndarray) -> np.ndarray:
    """image[R p] for every pixel p (R an operation with entries 0, ±1)."""
    side = image.shape[0]
    n = side / 2
    r, c = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x2, y2 = op @ np.stack([c.ravel() - n + 0.5, r.ravel() - n + 0.5])
    return image[np.rint(y2 + n - 0.5).astype(int), np.rint(x2 + n - 0.5).astype(int)].reshape(image.shape)


@pytest.mark.parametrize(("key", "direction", "group"), [
    ("zincblende", "001", "2mm"), ("zincblende", "110", "m"), ("zincblende", "111", "3m"),
    ("rocksalt", "001", "4mm"), ("rocksalt", "110", "2mm"), ("perovskite", "111", "3m"),
    ("spinel", "001", "4mm"), ("cuprite", "110", "2mm"), ("bcc", "111", "3m"),
    # non-cubic: wurtzite along c ([0001]), rutile along c, corundum along c (hexagonal axes)
    ("wurtzite", "001", "6mm"), ("wurtzite", "110", "m"), ("rutile", "001", "4mm"), ("rutile", "110", "2mm"),
    ("corundum", "001", "3m"),
])
def test_disc_symmetry_group_from_gemmi(key: str, direction: str, group: str) -> None:
    """The 2D group of the operations fixing the beam (Buxton et al. 1976, without reciprocity)."""
    c = _crystal(key)
    sym = disc_symmetry(c, microscope_frame(c, _settings(direction).geometry))
    assert sym.name == group
    assert np.allclose(sym.operations[0], np.eye(2))
    for op in sym.operations:
        assert np.allclose(op @ op.T, np.eye(2), atol=1e-12)


@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("key", sorted(PROTOTYPES))
def test_shell_pool_is_closed_and_the_disc_symmetric(key: str, direction: str) -> None:
    c = _crystal(key)
    settings = _settings(direction)
    frame = microscope_frame(c, settings.geometry)
    sym = disc_symmetry(c, frame)
    wavenumber = wavenumber_from_voltage(settings.accelerating_voltage)
    pool = reflection_pool(c, frame, settings.beam_selection, wavenumber, "shells")
    assert len(pool) >= settings.min_reflection_pool
    g = frame.g_vectors(pool)
    for lab in sym.lab_operations:  # R g is in the pool for every g: complete sets of equivalents
        images = g @ lab.T
        distance = np.linalg.norm(images[:, None, :] - g[None, :, :], axis=2).min(axis=1)
        assert distance.max() < 1e-8

    result = simulate_builtin(c, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu")
    image = result.disc()
    scale = np.abs(image).max()
    for op in sym.pixel_operations:
        assert np.abs(_mapped(image, op) - image).max() <= RELATIVE * scale

    # every operation, on the grid or not: I(R k) = I(k) at arbitrary incident directions
    structure = bloch_structure(c, frame, wavenumber, potential=settings.potential, beams=settings.beam_selection,
                                pool_mode="shells", device=torch.device("cpu"))
    k = pixel_wavevectors(settings.pixel_count, settings.outer_convergence_angle, wavenumber).reshape(-1, 3)[::3]
    values = [propagate(structure, k @ lab.T, settings.thicknesses, settings.min_strong_beams, [0],
                        cdtype=torch.complex128).intensities[0, 0] for lab in sym.lab_operations]
    for v in values[1:]:
        assert np.abs(v - values[0]).max() <= RELATIVE * scale


def test_felix_pool_cut_mid_shell_breaks_the_symmetry() -> None:
    """The check above can fail: Felix's pool (cut inside a shell) gives an asymmetric disc."""
    c = _crystal("zincblende")
    settings = _settings("001", pixel_count=8)
    image = simulate_builtin(c, settings, BuiltinOptions(pool_mode="felix", use_symmetry=False), device="cpu").disc()
    assert np.abs(image - image.T).max() > 1e-3 * np.abs(image).max()


@pytest.mark.parametrize(("key", "direction", "fraction"), [("rocksalt", "001", 1 / 8), ("zincblende", "111", 1 / 2)])
def test_symmetry_speedup_is_identical_to_the_full_calculation(key: str, direction: str, fraction: float) -> None:
    c = _crystal(key)
    settings = _settings(direction, pixel_count=8, initial_thickness=300.0, final_thickness=500.0, delta_thickness=100.0)
    full = simulate_builtin(c, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu")
    fast = simulate_builtin(c, settings, BuiltinOptions(pool_mode="shells", use_symmetry=True), device="cpu")
    assert fast.info["pixels_solved"] < full.info["pixels_solved"]
    assert fast.info["pixels_solved"] == pytest.approx(fraction * settings.side**2, rel=0.15)
    reference = full.discs[(0, 0, 0)]
    assert np.abs(fast.discs[(0, 0, 0)] - reference).max() <= RELATIVE * np.abs(reference).max()
    assert fast.info["beams_mean"] == pytest.approx(full.info["beams_mean"])


def test_symmetry_speedup_needs_complete_shells_and_the_000_disc_alone() -> None:
    c = _crystal("rocksalt")
    settings = _settings("001")
    assert simulate_builtin(c, settings, BuiltinOptions(pool_mode="felix", use_symmetry=True), device="cpu").info["pixels_solved"] == settings.side**2
    both = simulate_builtin(c, settings, BuiltinOptions(pool_mode="shells", use_symmetry=True), device="cpu", hkl=((0, 0, 0), (2, 0, 0)))
    assert both.info["pixels_solved"] == settings.side**2


def test_pixel_orbits_cover_the_disc() -> None:
    c = _crystal("rocksalt")
    sym = disc_symmetry(c, microscope_frame(c, _settings("001").geometry))
    reps, source = pixel_orbits(32, sym.pixel_operations)
    assert len(reps) == 136  # 4mm on 32²: 16·17/2 pixels of one eighth, diagonal included
    assert set(np.unique(source)) == set(reps)
    assert np.all(source[reps] == reps)
