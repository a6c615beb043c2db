"""Structure-factor sums over the atoms of the cell — the one sum both images use.

    F(h) = Σ_j a_j(h) · Σ_{atoms r of site j} exp(±2πi h·r)        (h integer, r fractional)

with a_j(h) the site's amplitude at each reflection: occupancy × form factor × Debye–Waller
factor, which each stage supplies in its own convention:

- the LACBED simulator (``simulate/potential.py``): Kirkland electron factors f_e(q) [Å] (plus the
  κ model's Mott–Bethe correction), exp(−B q²/4) with q = 1/d, Felix's B rule, sign **−**
  (U_g ∝ Σ f exp(−2πi h·r), Felix ug_matrix_mod.f90:71-107), and the Bird–King amplitudes of U'
  summed with the same phases;
- the EDD projection (``edd/projection.py``): κ X-ray factors f_x(s) [e], exp(−B s²) with
  s = 1/(2d), sign **+** (F = Σ f exp(+2πi h·r), so that ρ = (1/V) Σ F exp(−2πi g·r)).

(exp(−B q²/4) = exp(−B s²): the two Debye–Waller forms are the same factor.) The atoms are
:meth:`Crystal.unit_cell_atoms <lacbed_bridge.crystal.model.Crystal.unit_cell_atoms>`, grouped by
site (:func:`atoms_by_site`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import Crystal

#: most (reflection, atom) phase terms held at once: 2²² complex128 = 64 MiB (:func:`phase_sum`)
PHASE_BLOCK = 1 << 22


def atoms_by_site(crystal: Crystal) -> list[np.ndarray]:
    """The fractional positions (m_j, 3) of the atoms of each asymmetric-unit site j, in site order
    (:meth:`~lacbed_bridge.crystal.model.Crystal.unit_cell_atoms`)."""
    atoms = crystal.unit_cell_atoms()
    return [np.array([pos for i, pos in atoms if i == index]) for index in range(len(crystal.sites))]


def phase_sum(hkl: np.ndarray, positions: np.ndarray, *, sign: int = -1, block: int = PHASE_BLOCK) -> np.ndarray:
    """Σ_atoms exp(sign · 2πi h·r) for each row h of ``hkl`` (n, 3) over fractional ``positions``
    (m, 3); ``sign`` −1 (the simulator's, default) or +1 (the EDD's).

    Evaluated in blocks of reflections so that at most ``block`` terms exist at once: memory stays
    O(n + block) whatever the number of equivalent positions (a general position of Fm-3m has 192)
    or of reflections (≈ 4·10⁶ differences for a 2000-reflection pool, millions of reflections
    for the EDD image of a 300 Å cell), instead of n × m."""
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    factor = 2j * math.pi if sign > 0 else -2j * math.pi
    hkl = np.asarray(hkl, dtype=float)
    positions = np.asarray(positions, dtype=float)
    out = np.empty(len(hkl), dtype=complex)
    rows = max(1, block // max(len(positions), 1))
    for start in range(0, len(hkl), rows):
        out[start : start + rows] = np.exp(factor * (hkl[start : start + rows] @ positions.T)).sum(axis=1)
    return out


def structure_factor_sum(hkl: np.ndarray, sites: Iterable[tuple[np.ndarray, np.ndarray]], *, sign: int) -> np.ndarray:
    """Σ_j a_j(h) · Σ_{r ∈ site j} exp(sign · 2πi h·r) for the reflections ``hkl`` (n, 3).

    ``sites`` yields (a_j, positions_j) per site: a_j the amplitude at each reflection, shape (n,)
    or (k, n) for k amplitudes summed with the same phases (the simulator's U and U'), real or
    complex, in the caller's units; positions_j fractional (m_j, 3). Returns complex, a_j's shape."""
    total: np.ndarray | None = None
    for amplitude, positions in sites:
        term = amplitude * phase_sum(hkl, positions, sign=sign)
        if total is None:
            total = np.zeros(np.shape(term), dtype=complex)
        total += term
    if total is None:
        return np.zeros(len(hkl), dtype=complex)
    return total


__all__ = ["PHASE_BLOCK", "atoms_by_site", "phase_sum", "structure_factor_sum"]
