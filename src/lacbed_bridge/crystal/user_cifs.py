"""A family from a folder of the user's own CIFs (config ``families[].cif_dir``).

Each CIF of the folder (sorted by file name) becomes a one-compound prototype: its space group
(found by gemmi from the CIF's symmetry operations, so the setting is the CIF's own), its cell
(the parameters the lattice leaves free, :mod:`.lattice`), its sites at their coordinates with the
element the CIF names, and a role per element from the family's ``roles`` (``{Ga: cation, As:
anion}``; elements not listed are ``neutral``). Variants then sample around each CIF exactly as
around a shipped prototype: lattice scale (and ``cell_scale``), U_iso, the charge transfer δ from
the cation to the anion atoms, κ. Base crystal b of the family uses CIF number b mod (number of
CIFs), so n_variants / charge_states base crystals cycle through the folder.

Limits (each refused with the file and the item named): partial occupancies (the charge model
moves electrons between fully occupied sites), symmetry operations gemmi cannot match to a space
group, a cell incompatible with that space group.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import gemmi

from ..errors import ConfigError, InputError
from .cif import read_cif
from .lattice import free_parameters
from .prototypes import Compound, Coordinate, Prototype, PrototypeSite, ROLES


def cif_files(cif_dir: str | os.PathLike[str], where: str) -> list[Path]:
    """The ``*.cif`` files of a family's folder, sorted by name (ConfigError if none)."""
    folder = Path(cif_dir)
    if not folder.is_dir():
        raise ConfigError(f"folder {str(folder)!r} not found (a folder of CIF files, relative to the working directory)",
                          field=f"{where}.cif_dir")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".cif")
    if not files:
        raise ConfigError(f"no .cif files in {str(folder)!r}", field=f"{where}.cif_dir")
    return files


def prototype_from_cif(path: str | os.PathLike[str], roles: Mapping[str, str]) -> Prototype:
    """A one-compound :class:`Prototype` from a user's CIF (module docstring)."""
    p = Path(path)
    crystal = read_cif(p)
    partial = [s.label for s in crystal.sites if abs(s.occupancy - 1.0) > 1e-6]
    if partial:
        raise InputError(f"sites {partial} are partially occupied; a CIF family needs fully occupied sites "
                         "(the charge model moves electrons between whole atoms)", path=p, field="_atom_site_occupancy")
    sg = gemmi.find_spacegroup_by_ops(gemmi.GroupOps(crystal.operations()))
    if sg is None:
        raise InputError("the symmetry operations match no space-group setting in gemmi's tables", path=p,
                         field="_space_group_symop_operation_xyz")
    if not gemmi.UnitCell(*crystal.cell).is_compatible_with_spacegroup(sg, 1e-4):
        raise InputError(f"the cell {crystal.cell} does not fit the lattice of {sg.xhm()}", path=p, field="_cell_length_a")
    spacegroup, _, setting = sg.xhm().partition(":")
    cell = dict(zip(("a", "b", "c", "alpha", "beta", "gamma"), crystal.cell, strict=True))
    values = tuple((name, float(cell[name])) for name in free_parameters(sg))
    counts = crystal.site_multiplicities(tol=1e-4)
    sites = []
    for site, n in zip(crystal.sites, counts, strict=True):
        role = roles.get(site.element, "neutral")
        coordinates = tuple(Coordinate(float(v)) for v in site.fract)
        # the Wyckoff letter is not known from a CIF: the multiplicity is what the checks use
        sites.append(PrototypeSite(site.label, f"{n}?", (coordinates[0], coordinates[1], coordinates[2]), role, (site.element,)))
    elements = tuple((s.label, s.element) for s in crystal.sites)
    return Prototype(key=f"cif:{p.stem}", structure_type=f"user CIF {p.name}", spacegroup=spacegroup, number=sg.number,
                     setting=setting, cell=values, sites=tuple(sites), compounds=(Compound(elements, values),))


def check_roles(roles: Mapping[str, str], where: str) -> dict[str, str]:
    """``roles``: element symbol → cation | anion | neutral."""
    out = {}
    for element, role in (roles or {}).items():
        if role not in ROLES:
            raise ConfigError(f"expected one of {', '.join(ROLES)}, got {role!r}", field=f"{where}.roles.{element}")
        out[str(element)] = str(role)
    return out
