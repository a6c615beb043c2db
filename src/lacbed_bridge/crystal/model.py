"""The crystal data model shared by every stage (docs/architecture.md §3).

A :class:`Crystal` is what a CIF holds for our purposes: the cell, the space group (by name and,
where the CIF lists them, its symmetry operations), and the asymmetric-unit sites with the
Hansen–Coppens charge parameters. Coordinates are fractional; lengths in Å; angles in degrees;
displacement U_iso in Å² (B = 8π²U).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import gemmi
import numpy as np


#: Felix's accepted range of B [Å²]; outside it (or B = 0) RDebyeWallerConstant is used.
B_ISO_MAX = 10.0


def effective_b_iso(b_iso: float, default: float) -> float:
    """Felix's rule for the Debye–Waller B [Å²] (read_cif_mod.f90:349-360, ug_matrix_mod.f90:88):
    a B of 0 (< 1e-9), negative or above 10 Å² is replaced by ``default`` (RDebyeWallerConstant).
    Both the simulator and the EDD images use it, so the two images see the same atoms."""
    return float(default) if (b_iso < 1e-9 or b_iso > B_ISO_MAX) else float(b_iso)


@dataclass(frozen=True)
class Site:
    """One asymmetric-unit site.

    Attributes
    ----------
    label: CIF ``_atom_site_label`` (e.g. ``Ga1``).
    element: element symbol (e.g. ``Ga``), neutral-atom symbol, never an ion name.
    fract: fractional coordinates (x, y, z) [dimensionless].
    occupancy: site occupancy in [0, 1].
    u_iso: isotropic displacement U_iso [Å²]; the Debye–Waller B = 8π² U_iso [Å²].
    pv: Hansen–Coppens valence population P_v [e]; ``None`` means the neutral atom's valence count.
    kappa: Hansen–Coppens expansion/contraction κ of the valence shell (1 = free atom).
    """

    label: str
    element: str
    fract: tuple[float, float, float]
    occupancy: float = 1.0
    u_iso: float = 0.0
    pv: float | None = None
    kappa: float = 1.0

    @property
    def b_iso(self) -> float:
        """Debye–Waller B [Å²] = 8π² U_iso."""
        return 8.0 * math.pi**2 * self.u_iso


@dataclass(frozen=True)
class Crystal:
    """A crystal structure: cell, symmetry and asymmetric-unit sites.

    Attributes
    ----------
    name: data-block name / sample id.
    cell: (a, b, c [Å], alpha, beta, gamma [deg]).
    spacegroup: Hermann–Mauguin symbol as in the CIF (e.g. ``F -4 3 m``).
    sites: asymmetric-unit sites.
    symops: symmetry operations as xyz triplets when the CIF lists them (else generated from
        ``spacegroup`` by gemmi).
    formula: structural formula text (``_chemical_formula_structural``, e.g. ``Ga As``).
    cell_volume: ``_cell_volume`` [Å³] when the CIF gives it (Felix uses it in U_g = γF/(πV)).
    """

    name: str
    cell: tuple[float, float, float, float, float, float]
    spacegroup: str
    sites: tuple[Site, ...]
    symops: tuple[str, ...] = ()
    formula: str = ""
    cell_volume: float | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    # ----- derived quantities -------------------------------------------------------------
    def gemmi_cell(self) -> gemmi.UnitCell:
        """The cell as a :class:`gemmi.UnitCell`."""
        return gemmi.UnitCell(*self.cell)

    @property
    def volume(self) -> float:
        """Cell volume [Å³]: ``_cell_volume`` if the CIF gave it, else from the parameters."""
        if self.cell_volume is not None:
            return float(self.cell_volume)
        return float(self.gemmi_cell().volume)

    def operations(self) -> list[gemmi.Op]:
        """All symmetry operations (including centring translations)."""
        if self.symops:
            return [gemmi.Op(op.replace(" ", "")) for op in self.symops]
        sg = gemmi.find_spacegroup_by_name(self.spacegroup)
        if sg is None:
            raise ValueError(f"unknown space group {self.spacegroup!r}")
        return list(sg.operations())

    def unit_cell_atoms(self, tol: float = 1e-6) -> list[tuple[int, np.ndarray]]:
        """Every atom of the unit cell as (site index, fractional position in [0, 1)).

        Each symmetry operation is applied to each site and the result is wrapped into [0, 1);
        images closer than ``tol`` (fractional, per axis, periodic) to an earlier one of the same
        site are dropped (as Felix does, crystallography_mod.f90:285-348).
        """
        ops = self.operations()
        atoms: list[tuple[int, np.ndarray]] = []
        for index, site in enumerate(self.sites):
            seen: list[np.ndarray] = []
            for op in ops:
                pos = np.mod(np.array(op.apply_to_xyz(list(site.fract)), dtype=float), 1.0)
                pos[np.isclose(pos, 1.0, atol=1e-12)] = 0.0
                duplicate = False
                for other in seen:
                    d = np.abs(pos - other)
                    d = np.minimum(d, 1.0 - d)
                    if np.all(d < tol):
                        duplicate = True
                        break
                if not duplicate:
                    seen.append(pos)
                    atoms.append((index, pos))
        return atoms

    def site_multiplicities(self, tol: float = 1e-6) -> list[int]:
        """Atoms per unit cell of each site (its symmetry images, :meth:`unit_cell_atoms`)."""
        counts = [0] * len(self.sites)
        for index, _ in self.unit_cell_atoms(tol=tol):
            counts[index] += 1
        return counts

    def with_debye_waller_default(self, b_default: float) -> Crystal:
        """A copy whose sites' B follow :func:`effective_b_iso` with ``b_default`` [Å²]."""
        sites = []
        for site in self.sites:
            b = effective_b_iso(site.b_iso, b_default)
            sites.append(site if b == site.b_iso else replace(site, u_iso=b / (8.0 * math.pi**2)))
        return self.with_sites(tuple(sites))

    def with_sites(self, sites: tuple[Site, ...]) -> Crystal:
        """A copy with other sites."""
        return replace(self, sites=tuple(sites))
