"""The simulator's own geometry: the pixel → incident-wave-vector map and the lattice-centring rule.

The microscope frame itself (lattice bases, X̂ ∥ IXDirection, Ẑ ∥ IIncidentBeamDirection, Ŷ = Ẑ × X̂)
is :mod:`lacbed_bridge.crystal.orientation`, shared with the EDD projection. Conventions (Felix,
docs/felix_physics.md §4; bloch_mod.f90:105-112):
- reciprocal vectors **include 2π**, so |g| = 2π/d [1/Å];
- pixel (row r, column c), 0-based, of the 2N × 2N image: k_x = (c − N + ½)Δk along X̂,
  k_y = (r − N + ½)Δk along Ŷ, Δk = 2π·R_conv/N, k_z = √(K² − k_x² − k_y²).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError


def pixel_wavevectors(pixel_count: int, disc_radius: float, wavenumber: float) -> np.ndarray:
    """Incident wave vectors of all pixels, shape (2N, 2N, 3) [1/Å, with 2π], index [row, col],
    for N = ``pixel_count`` (IPixelCount) and the disc radius [1/Å, no 2π] (ROuterConvergenceAngle).

    Δk = 2π·ROuterConvergenceAngle/N; k_x = (c − N + ½)Δk, k_y = (r − N + ½)Δk (docs/felix_physics.md §4).
    """
    n = pixel_count
    dk = 2.0 * math.pi * disc_radius / n
    centres = (np.arange(2 * n) - n + 0.5) * dk
    ky, kx = np.meshgrid(centres, centres, indexing="ij")
    kz2 = wavenumber**2 - kx**2 - ky**2
    if np.any(kz2 <= 0):
        raise InputError(
            "the convergence disc reaches beyond the Ewald sphere (|k⊥| ≥ K)", field="ROuterConvergenceAngle"
        )
    return np.stack([kx, ky, np.sqrt(kz2)], axis=-1)


def centring_allowed(hkl: np.ndarray, centring: str) -> np.ndarray:
    """Boolean mask of reflections allowed by the lattice centring: the first letter of the H-M
    symbol (R: rhombohedral in hexagonal axes, obverse, −h + k + l = 3n), or ``R_reverse``
    (h − k + l = 3n, the reverse setting; what Felix's own test for "R" checks)."""
    h, k, l = hkl[:, 0], hkl[:, 1], hkl[:, 2]
    c = centring if centring == "R_reverse" else centring.upper()
    if c == "F":
        return ((h + k) % 2 == 0) & ((k + l) % 2 == 0) & ((l + h) % 2 == 0)
    if c == "I":
        return (h + k + l) % 2 == 0
    if c == "A":
        return (k + l) % 2 == 0
    if c == "B":
        return (h + l) % 2 == 0
    if c == "C":
        return (h + k) % 2 == 0
    if c == "R":
        return (-h + k + l) % 3 == 0
    if c == "R_reverse":
        return (h - k + l) % 3 == 0
    if c == "P":
        return np.ones(len(hkl), dtype=bool)
    raise InputError(f"unknown lattice centring {centring!r}", field="space group")
