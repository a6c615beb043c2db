"""The reflection pool: Felix's HKLMake rule (setup_reflections_mod.f90:180-310; docs/felix_physics.md §5),
and the symmetric pool of complete shells.

Two modes (:data:`POOL_MODES`):

- ``shells`` (the workflow's default): the reflections nearest the origin, ordered by |g|, with
  every reflection of the same |g| as the last one taken added too, so the pool is never cut
  inside a set of symmetry-equivalent reflections and the disc keeps the symmetry of the crystal
  along the beam (:mod:`.symmetry`). At least IMinReflectionPool reflections (000 included).
- ``felix`` (the drop-in's default): Felix's own pool, below, reproduced bit for bit by
  :mod:`.felix.pool` (which reflection on a shell boundary enters is decided by Felix's own
  floating-point rounding).

Felix's rule:
- Only the lattice-centring rule filters reflections (P, F, I, A, B, C, R obverse); screw/glide
  absences are kept, since they are not absent in dynamical diffraction.
- Reflections are taken shell by shell, shell ℓ holding (ℓ−1)Δ < |g| ≤ ℓΔ with
  Δ = min(|a*|, |b*|, |c*|); within a shell in the loop order h, then k, then l ascending.
  Reflections exactly on a boundary |g| = ℓΔ are decided by Felix's floating-point rounding.
- A reflection enters only if it is near the zero-order Laue condition of the untilted beam:
  | K − |k₀ + g| | / |g| ≤ 0.08 (k₀ = (0, 0, K)).
- Filling stops mid-shell when the pool (000 included) reaches IMinReflectionPool; with
  RgLimit > 0 the shells up to RgLimit·2π cap it instead.
- The pool is then ordered by Felix's HKLSort: |g|² ascending by an unstable shell sort (000 first).
"""

from __future__ import annotations

import math

import numpy as np

from ..crystal.model import Crystal
from ..errors import InputError
from .felix.pool import felix_pool
from ..crystal.orientation import BeamGeometry, MicroscopeFrame
from .geometry import centring_allowed
from .settings import BeamSelection, PoolMode, nint

TINY = 1e-9
#: relative tolerance of "the same |g|" (equivalent reflections differ by rounding, ~1e-15)
SAME_SHELL = 1e-9
POOL_MODES: tuple[str, ...] = ("shells", "felix")


def lattice_centring(spacegroup: str, cell: tuple[float, ...]) -> str:
    """Lattice-centring letter from the H-M symbol (R in rhombohedral axes counts as P)."""
    letter = spacegroup.strip()[:1].upper()
    if letter == "R":
        a, b, c, alpha, beta, gamma = cell
        if abs(gamma - 120.0) > 1e-3:  # rhombohedral axes: primitive
            return "P"
    return letter



def _search(
    frame: MicroscopeFrame, wavenumber: float, centring: str, radius: float, box: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allowed reflections with 0 < |g| ≤ radius inside the index box that pass Felix's ZOLZ
    filter |K − |k₀ + g||/|g| ≤ 0.08 (k₀ = (0, 0, K)): (hkl in h, k, l loop order, g, |g|)."""
    recip = frame.reciprocal
    # |h_i| ≤ |g|·|a_i|/2π bounds the indices of all g within a radius (a_i·a*_j = 2π δ_ij);
    # for oblique cells |a_i|/2π exceeds 1/|a*_i|
    direct_over_2pi = np.linalg.norm(np.linalg.inv(recip).T, axis=1)
    ext = np.minimum(box, np.ceil(radius * direct_over_2pi).astype(int) + 1)
    axes = [np.arange(-e, e + 1) for e in ext]
    hkl = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)  # h, k, l lexicographic
    hkl = hkl[np.any(hkl != 0, axis=1)]
    hkl = hkl[centring_allowed(hkl, centring)]
    g = hkl @ recip
    gmag = np.linalg.norm(g, axis=1)
    keep = gmag <= radius
    hkl, g, gmag = hkl[keep], g[keep], gmag[keep]
    k0 = np.array([0.0, 0.0, wavenumber])
    dev = np.abs(wavenumber - np.linalg.norm(g + k0, axis=1)) / gmag
    near = (dev - 0.08) < TINY
    return hkl[near], g[near], gmag[near]


def _limits(frame: MicroscopeFrame, settings: BeamSelection) -> tuple[float, int, np.ndarray, float]:
    """(g_limit [1/Å, with 2π], most reflections including 000, index box, shell width Δ)."""
    mags = np.linalg.norm(frame.reciprocal, axis=1)
    if settings.g_limit < TINY:
        g_limit = 10.0 * 2.0 * math.pi
        n_max = settings.min_reflection_pool
    else:
        g_limit = settings.g_limit * 2.0 * math.pi
        n_max = 66666
    box = np.array([nint(g_limit / m) for m in mags])
    return g_limit, n_max, box, float(mags.min())


def reflection_pool(
    crystal: Crystal,
    frame: MicroscopeFrame,
    settings: BeamSelection,
    wavenumber: float,
    mode: PoolMode = "felix",
    constants: str = "codata",
    *,
    felix_inputs: tuple[BeamGeometry, float] | None = None,
) -> np.ndarray:
    """Miller indices of the pool, (n, 3) int, 000 first, ordered by |g| ascending (``felix``:
    in Felix's own order, the order of its StructureFactors.txt).

    ``felix_inputs`` = (beam geometry, accelerating voltage [kV]): mode ``felix`` rebuilds Felix's
    own frame and wavenumber from them, as Felix does (its rounding decides shell boundaries)."""
    if mode == "shells":
        pool = _shell_pool(frame, settings, wavenumber, lattice_centring(crystal.spacegroup, crystal.cell))
    elif mode == "felix":
        if felix_inputs is None:
            raise InputError("Felix's pool rule needs the beam geometry and voltage (felix_inputs)", field="simulation.pool")
        pool = _felix_pool(crystal, settings, *felix_inputs, constants)
    else:
        raise InputError(f"expected one of {list(POOL_MODES)}, got {mode!r}", field="simulation.pool")
    if len(pool) <= settings.min_strong_beams:
        raise InputError(
            f"beam pool of {len(pool)} reflections is not larger than IMinStrongBeams = "
            f"{settings.min_strong_beams}; increase IMinReflectionPool or RgLimit",
            field="IMinReflectionPool",
        )
    return pool


def _shell_pool(frame: MicroscopeFrame, settings: BeamSelection, wavenumber: float, centring: str) -> np.ndarray:
    """Complete shells of equal |g|: at least IMinReflectionPool reflections (000 included), or
    with RgLimit > 0 every reflection with |g| ≤ 2π·RgLimit."""
    g_limit, n_max, box, shell = _limits(frame, settings)
    radius = 4.0 * shell
    while True:
        hkl, _, gmag = _search(frame, wavenumber, centring, min(radius, g_limit), box)
        order = np.argsort(gmag, kind="stable")
        hkl, gmag = hkl[order], gmag[order]
        if settings.g_limit >= TINY:
            cutoff = g_limit
        elif len(hkl) >= n_max - 1:
            cutoff = float(gmag[n_max - 2]) * (1.0 + SAME_SHELL)
        else:
            cutoff = math.inf
        if cutoff < radius or radius >= g_limit:  # every reflection up to the cutoff was searched
            break
        radius *= 2.0
    chosen = hkl[gmag <= cutoff]
    return np.vstack([np.zeros((1, 3), dtype=int), chosen])


def _felix_pool(crystal: Crystal, settings: BeamSelection, geometry: BeamGeometry, voltage: float,
                constants: str) -> np.ndarray:
    """Felix's HKLMake and HKLSort reproduced bit for bit (:mod:`.felix.pool`): shell by shell,
    h, k, l order within a shell, cut when full, in Felix's StructureFactors.txt order."""
    centring = lattice_centring(crystal.spacegroup, crystal.cell)
    return felix_pool(crystal.cell, centring, geometry.incident_beam_direction, geometry.x_direction,
                      geometry.normal_direction, voltage, settings.min_reflection_pool,
                      settings.g_limit, constants=constants)
