"""Prototype crystal structures per space group (``felix_inputs/prototypes.yaml``, DESIGN §3).

A prototype is a cubic structure type in one space group: Wyckoff sites with fractional
coordinates, a role (cation / anion / neutral) and the elements allowed on each site, plus the
reference lattice parameter a [Å] of known compounds. :func:`load_prototypes` reads and checks
the YAML file (entry format: ``felix_inputs/README.md``); adding a space group is adding one
entry there.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import gemmi
import numpy as np

from ..errors import InputError
from ..io import read_yaml
from .cif import element_from_type_symbol
from .model import Crystal, Site

#: The prototype file shipped inside the package (``felix_inputs/prototypes.yaml`` links to it).
DEFAULT_PROTOTYPES = Path(__file__).resolve().parent / "data" / "prototypes.yaml"
ROLES = ("cation", "anion", "neutral")
_CUBIC_NUMBERS = range(195, 231)


@dataclass(frozen=True)
class PrototypeSite:
    """One Wyckoff site of a prototype.

    label: site label (CIF ``_atom_site_label`` of every variant; table columns ``*_<label>``).
    wyckoff: multiplicity and letter, e.g. ``4a`` (the multiplicity is checked against the
        symmetry expansion).
    fract: fractional coordinates (x, y, z).
    role: ``cation`` (gives electrons in a charge transfer δ), ``anion`` (receives them) or
        ``neutral`` (takes no part).
    elements: the element symbols allowed on this site.
    """

    label: str
    wyckoff: str
    fract: tuple[float, float, float]
    role: str
    elements: tuple[str, ...]

    @property
    def multiplicity(self) -> int:
        """Atoms of this site per conventional cell (the number in the Wyckoff symbol)."""
        return int("".join(ch for ch in self.wyckoff if ch.isdigit()))


@dataclass(frozen=True)
class Compound:
    """A known compound of a prototype: element per site label and its lattice parameter a [Å]."""

    elements: tuple[tuple[str, str], ...]
    a: float

    def as_dict(self) -> dict[str, str]:
        return dict(self.elements)


@dataclass(frozen=True)
class Prototype:
    """A cubic prototype structure (one entry of ``prototypes.yaml``).

    key: the entry's key (``zincblende``); structure_type: free text; spacegroup: H-M symbol as
    gemmi spells it (``F -4 3 m``); number: International Tables number; setting: origin choice
    or other gemmi setting suffix (``"2"`` for ``F d -3 m:2``), empty for the default; a: the
    prototype's reference lattice parameter [Å]; sites; compounds: known compounds with their a.
    """

    key: str
    structure_type: str
    spacegroup: str
    number: int
    setting: str
    a: float
    sites: tuple[PrototypeSite, ...]
    compounds: tuple[Compound, ...]

    @property
    def gemmi_name(self) -> str:
        """The name that selects the setting in gemmi (``F d -3 m:2``)."""
        return f"{self.spacegroup}:{self.setting}" if self.setting else self.spacegroup

    def symops(self) -> tuple[str, ...]:
        """All symmetry operations of the space group in this setting (xyz triplets)."""
        sg = gemmi.find_spacegroup_by_name(self.gemmi_name)
        return tuple(op.triplet() for op in sg.operations())

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(s.label for s in self.sites)

    def formula_units(self) -> int:
        """Formula units per conventional cell: gcd of the site multiplicities."""
        return math.gcd(*(s.multiplicity for s in self.sites))

    def formula(self, elements: dict[str, str]) -> str:
        """Structural formula per formula unit, sites in file order (``Sr Ti O3``, ``Mg Al2 O4``)."""
        z = self.formula_units()
        counts: dict[str, int] = {}
        for site in self.sites:
            el = elements[site.label]
            counts[el] = counts.get(el, 0) + site.multiplicity // z
        return " ".join(el if n == 1 else f"{el}{n}" for el, n in counts.items())

    def reference_a(self, elements: dict[str, str]) -> float:
        """Reference lattice parameter a [Å] for the given element per site label.

        1. The listed compound with exactly these elements, if any.
        2. Otherwise an additive (Vegard-like) estimate a ≈ a₀ + Σ_sites c_site(element), fitted
           by least squares to the listed compounds (the additivity of ionic radii in a given
           structure type), used only when the combination lies in the span of the listed ones
           (so the estimate is unique).
        3. Otherwise the prototype's a.
        """
        key = tuple((s.label, elements[s.label]) for s in self.sites)
        for compound in self.compounds:
            if compound.elements == key:
                return compound.a
        if self.compounds:
            columns = sorted({pair for c in self.compounds for pair in c.elements})
            if all(pair in columns for pair in key):
                index = {pair: i + 1 for i, pair in enumerate(columns)}

                def row(pairs: tuple[tuple[str, str], ...]) -> np.ndarray:
                    r = np.zeros(len(columns) + 1)
                    r[0] = 1.0
                    for pair in pairs:
                        r[index[pair]] = 1.0
                    return r

                design = np.array([row(c.elements) for c in self.compounds])
                target = np.array([c.a for c in self.compounds])
                query = row(key)
                coef, *_ = np.linalg.lstsq(design, target, rcond=None)
                # unique only if the query lies in the row space of the design matrix
                proj, *_ = np.linalg.lstsq(design.T, query, rcond=None)
                if np.allclose(design.T @ proj, query, atol=1e-9):
                    return float(query @ coef)
        return self.a

    def crystal(
        self,
        elements: dict[str, str] | None = None,
        *,
        a: float | None = None,
        name: str | None = None,
        u_iso: dict[str, float] | None = None,
    ) -> Crystal:
        """The prototype as a :class:`Crystal` (first allowed element per site by default).

        a [Å] defaults to :meth:`reference_a`; u_iso [Å²] per label defaults to 0.
        """
        chosen = {s.label: s.elements[0] for s in self.sites} | (elements or {})
        a_value = self.reference_a(chosen) if a is None else float(a)
        sites = tuple(
            Site(s.label, chosen[s.label], s.fract, 1.0, (u_iso or {}).get(s.label, 0.0)) for s in self.sites
        )
        return Crystal(
            name=name or self.key,
            cell=(a_value, a_value, a_value, 90.0, 90.0, 90.0),
            spacegroup=self.spacegroup,
            sites=sites,
            symops=self.symops(),
            formula=self.formula(chosen),
            cell_volume=a_value**3,
        )


# ----- loading and validation -------------------------------------------------------------------
def _coordinate(value: Any, where: str, path: Path) -> float:
    """A coordinate given as a number or a fraction text such as ``1/4``."""
    if isinstance(value, bool):
        raise InputError(f"expected a number or a fraction like 1/4, got {value!r}", path=path, field=where)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(Fraction(value.strip()))
        except (ValueError, ZeroDivisionError):
            pass
    raise InputError(f"expected a number or a fraction like 1/4, got {value!r}", path=path, field=where)


def _require(entry: dict[str, Any], name: str, where: str, path: Path) -> Any:
    if name not in entry:
        raise InputError(f"missing key {name!r}", path=path, field=where)
    return entry[name]


def _element(symbol: Any, where: str, path: Path) -> str:
    if not isinstance(symbol, str):
        raise InputError(f"expected an element symbol, got {symbol!r}", path=path, field=where)
    element = element_from_type_symbol(symbol, path=path, item=where)
    if element != symbol:
        raise InputError(f"expected a neutral element symbol such as {element!r}, got {symbol!r}", path=path, field=where)
    return element


def _parse_site(raw: Any, where: str, path: Path) -> PrototypeSite:
    if not isinstance(raw, dict):
        raise InputError("expected a mapping with label, wyckoff, fract, role, elements", path=path, field=where)
    unknown = set(raw) - {"label", "wyckoff", "fract", "role", "elements"}
    if unknown:
        raise InputError(f"unknown key(s) {sorted(unknown)}", path=path, field=where)
    label = str(_require(raw, "label", where, path))
    if not label or not label.replace("_", "").isalnum():
        raise InputError(f"site label must be letters, digits or _, got {label!r}", path=path, field=f"{where}.label")
    wyckoff = str(_require(raw, "wyckoff", where, path))
    if not (wyckoff[:-1].isdigit() and wyckoff[-1:].isalpha()):
        raise InputError(f"expected multiplicity and letter such as 4a, got {wyckoff!r}", path=path, field=f"{where}.wyckoff")
    fract = _require(raw, "fract", where, path)
    if not isinstance(fract, list) or len(fract) != 3:
        raise InputError(f"expected three fractional coordinates, got {fract!r}", path=path, field=f"{where}.fract")
    xyz = tuple(_coordinate(v, f"{where}.fract", path) for v in fract)
    role = _require(raw, "role", where, path)
    if role not in ROLES:
        raise InputError(f"expected one of {', '.join(ROLES)}, got {role!r}", path=path, field=f"{where}.role")
    elements = _require(raw, "elements", where, path)
    if not isinstance(elements, list) or not elements:
        raise InputError("expected a non-empty list of element symbols", path=path, field=f"{where}.elements")
    els = tuple(_element(e, f"{where}.elements", path) for e in elements)
    if len(set(els)) != len(els):
        raise InputError(f"duplicate elements in {list(els)}", path=path, field=f"{where}.elements")
    return PrototypeSite(label, wyckoff, (xyz[0], xyz[1], xyz[2]), role, els)


def _positive(value: Any, where: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"expected a positive number [Å], got {value!r}", path=path, field=where)
    return float(value)


def parse_prototype(key: str, entry: Any, path: Path) -> Prototype:
    """Check one YAML entry and build its :class:`Prototype` (InputError naming the key)."""
    if not isinstance(entry, dict):
        raise InputError("expected a mapping", path=path, field=key)
    allowed = {"structure_type", "spacegroup", "number", "setting", "a", "sites", "compounds"}
    unknown = set(entry) - allowed
    if unknown:
        raise InputError(f"unknown key(s) {sorted(unknown)} (allowed: {', '.join(sorted(allowed))})", path=path, field=key)
    structure_type = str(_require(entry, "structure_type", key, path))
    spacegroup = str(_require(entry, "spacegroup", key, path))
    number = _require(entry, "number", key, path)
    setting = str(entry.get("setting") or "")
    gemmi_name = f"{spacegroup}:{setting}" if setting else spacegroup
    sg = gemmi.find_spacegroup_by_name(gemmi_name)
    if sg is None:
        raise InputError(f"unknown space group {gemmi_name!r} (expected an H-M symbol such as 'F -4 3 m')", path=path, field=f"{key}.spacegroup")
    if number != sg.number:
        raise InputError(f"space group {spacegroup!r} is number {sg.number}, not {number!r}", path=path, field=f"{key}.number")
    if sg.number not in _CUBIC_NUMBERS:
        raise InputError(f"only cubic space groups (195-230) are supported, got {sg.number}", path=path, field=f"{key}.spacegroup")
    a = _positive(_require(entry, "a", key, path), f"{key}.a", path)
    raw_sites = _require(entry, "sites", key, path)
    if not isinstance(raw_sites, list) or not raw_sites:
        raise InputError("expected a non-empty list of sites", path=path, field=f"{key}.sites")
    sites = tuple(_parse_site(s, f"{key}.sites[{i}]", path) for i, s in enumerate(raw_sites))
    labels = [s.label for s in sites]
    if len(set(labels)) != len(labels):
        raise InputError(f"duplicate site labels {labels}", path=path, field=f"{key}.sites")
    compounds = []
    for i, raw in enumerate(entry.get("compounds") or []):
        where = f"{key}.compounds[{i}]"
        if not isinstance(raw, dict) or set(raw) != {"elements", "a"} or not isinstance(raw["elements"], dict):
            raise InputError("expected {elements: {<label>: <element>, ...}, a: <Å>}", path=path, field=where)
        if set(raw["elements"]) != set(labels):
            raise InputError(f"expected one element for each site label {labels}, got {sorted(raw['elements'])}", path=path, field=where)
        for site in sites:
            if raw["elements"][site.label] not in site.elements:
                raise InputError(
                    f"element {raw['elements'][site.label]!r} is not allowed on site {site.label} {list(site.elements)}",
                    path=path,
                    field=f"{where}.elements",
                )
        compounds.append(Compound(tuple((s.label, raw["elements"][s.label]) for s in sites), _positive(raw["a"], f"{where}.a", path)))
    prototype = Prototype(key, structure_type, spacegroup, int(number), setting, a, sites, tuple(compounds))
    _check_multiplicities(prototype, path)
    return prototype


def _check_multiplicities(prototype: Prototype, path: Path) -> None:
    """Each Wyckoff multiplicity must equal the number of distinct symmetry images of the site."""
    probe = prototype.crystal()
    counts = [0] * len(prototype.sites)
    for index, _ in probe.unit_cell_atoms(tol=1e-4):
        counts[index] += 1
    for i, (site, n) in enumerate(zip(prototype.sites, counts, strict=True)):
        if n != site.multiplicity:
            raise InputError(
                f"site {site.label} at {site.fract} has {n} images in {prototype.gemmi_name}, "
                f"but its Wyckoff symbol {site.wyckoff!r} says {site.multiplicity}",
                path=path,
                field=f"{prototype.key}.sites[{i}].wyckoff",
            )


def load_prototypes(path: str | os.PathLike[str] | None = None) -> dict[str, Prototype]:
    """Read and check a prototype file (default ``felix_inputs/prototypes.yaml``).

    Returns the prototypes by key. A bad entry raises :class:`InputError` naming the file and the
    entry's key path (e.g. ``zincblende.sites[1].role``).
    """
    p = Path(path) if path is not None else DEFAULT_PROTOTYPES
    data = read_yaml(p, missing="prototype file not found")
    if not isinstance(data, dict) or not data:
        raise InputError("expected a mapping of prototype keys to entries", path=p)
    return {str(key): parse_prototype(str(key), entry, p) for key, entry in data.items()}
