"""Prototype crystal structures per space group (``felix_inputs/prototypes.yaml``, docs/architecture.md §3).

A prototype is a structure type in one space group (any crystal system): the reference cell
parameters the lattice leaves free (a; c for tetragonal and hexagonal cells, ...;
:mod:`.lattice`), Wyckoff sites with fractional coordinates, which may use named free
parameters (wurtzite ``[1/3, 2/3, u]``, rutile ``[x, x, 0]``), a role (cation / anion / neutral)
and the elements allowed on each site, plus the cells (and free coordinates) of known compounds.
:func:`load_prototype` reads and checks one entry of the YAML file (entry format:
``felix_inputs/README.md``), so one bad entry only fails the families that use it; adding a space
group is adding one entry there.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import gemmi
import numpy as np

from ..errors import InputError
from ..io import read_yaml
from .cif import element_from_type_symbol
from .lattice import CELL_KEYS, LENGTHS, cell_from, cell_volume, describe_constraints, free_parameters, lattice_system
from .model import Crystal, Site

#: The prototype file shipped inside the package (``felix_inputs/prototypes.yaml`` links to it).
DEFAULT_PROTOTYPES = Path(__file__).resolve().parent / "data" / "prototypes.yaml"
ROLES = ("cation", "anion", "neutral")
#: A free-coordinate name: a lower-case letter, then letters, digits or _ (``u``, ``x``, ``z_O``).
_NAME = re.compile(r"^[a-z][A-Za-z0-9_]*$")
#: One term of a coordinate: [number or fraction][*]name, or a number or fraction alone.
_TERM = re.compile(r"^(?P<coef>\d+(?:\.\d*)?(?:/\d+)?|\.\d+)?\*?(?P<name>[a-z][A-Za-z0-9_]*)?$")


@dataclass(frozen=True)
class Coordinate:
    """A fractional coordinate linear in the free parameters: constant + Σ coef · parameter.

    ``1/2+u`` is Coordinate(0.5, (("u", 1.0),)); ``-x`` is Coordinate(0.0, (("x", -1.0),)).
    """

    constant: float
    terms: tuple[tuple[str, float], ...] = ()

    def value(self, free: Mapping[str, float]) -> float:
        """The coordinate for the given free-parameter values."""
        return self.constant + sum(coef * free[name] for name, coef in self.terms)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.terms)


@dataclass(frozen=True)
class PrototypeSite:
    """One Wyckoff site of a prototype.

    label: site label (CIF ``_atom_site_label`` of every variant; table columns ``*_<label>``).
    wyckoff: multiplicity and letter, e.g. ``4a`` (the multiplicity is checked against the
        symmetry expansion).
    coordinates: the fractional coordinates (x, y, z), each linear in the prototype's free
        parameters (:class:`Coordinate`).
    role: ``cation`` (gives electrons in a charge transfer δ), ``anion`` (receives them) or
        ``neutral`` (takes no part).
    elements: the element symbols allowed on this site.
    """

    label: str
    wyckoff: str
    coordinates: tuple[Coordinate, Coordinate, Coordinate]
    role: str
    elements: tuple[str, ...]

    def position(self, free: Mapping[str, float]) -> tuple[float, float, float]:
        """Fractional (x, y, z) for the given free-parameter values."""
        x, y, z = (c.value(free) for c in self.coordinates)
        return (x, y, z)

    @property
    def multiplicity(self) -> int:
        """Atoms of this site per conventional cell (the number in the Wyckoff symbol)."""
        return int("".join(ch for ch in self.wyckoff if ch.isdigit()))


@dataclass(frozen=True)
class Compound:
    """A known compound of a prototype: element per site label, its free cell parameters
    (a [Å], c [Å], ... as the lattice system needs) and, where known, its free coordinates."""

    elements: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict[str, str]:
        return dict(self.elements)

    @property
    def a(self) -> float:
        """Lattice parameter a [Å]."""
        return dict(self.values)["a"]


@dataclass(frozen=True)
class Prototype:
    """A prototype structure (one entry of ``prototypes.yaml``).

    key: the entry's key (``zincblende``); structure_type: free text; spacegroup: H-M symbol as
    gemmi spells it (``F -4 3 m``); number: International Tables number; setting: origin choice
    or other gemmi setting suffix (``"2"`` for ``F d -3 m:2``, ``"H"`` for hexagonal axes),
    empty for the default; cell: the reference values of the cell parameters the lattice system
    leaves free (:func:`~.lattice.free_parameters`: ``(("a", 3.189), ("c", 5.185))``) [Å, deg];
    free: reference values of the free coordinates (``(("u", 0.377),)``); sites; compounds:
    known compounds with their cell (and free coordinates where given).
    """

    key: str
    structure_type: str
    spacegroup: str
    number: int
    setting: str
    cell: tuple[tuple[str, float], ...]
    sites: tuple[PrototypeSite, ...]
    compounds: tuple[Compound, ...]
    free: tuple[tuple[str, float], ...] = ()

    @property
    def gemmi_name(self) -> str:
        """The name that selects the setting in gemmi (``F d -3 m:2``)."""
        return f"{self.spacegroup}:{self.setting}" if self.setting else self.spacegroup

    def gemmi_spacegroup(self) -> gemmi.SpaceGroup:
        return gemmi.find_spacegroup_by_name(self.gemmi_name)

    @property
    def a(self) -> float:
        """The prototype's reference lattice parameter a [Å]."""
        return dict(self.cell)["a"]

    @property
    def cell_parameters(self) -> tuple[str, ...]:
        """Names of the free cell parameters (``("a", "c")`` for a hexagonal cell)."""
        return tuple(name for name, _ in self.cell)

    @property
    def free_names(self) -> tuple[str, ...]:
        """Names of the free coordinates (``("u",)`` for wurtzite)."""
        return tuple(name for name, _ in self.free)

    def symops(self) -> tuple[str, ...]:
        """All symmetry operations of the space group in this setting (xyz triplets)."""
        return tuple(op.triplet() for op in self.gemmi_spacegroup().operations())

    def full_cell(self, values: Mapping[str, float]) -> tuple[float, float, float, float, float, float]:
        """(a, b, c [Å], α, β, γ [deg]) from values of the free cell parameters."""
        return cell_from(self.gemmi_spacegroup(), values)

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

    def reference(self, elements: dict[str, str]) -> dict[str, float]:
        """Reference values of the free cell parameters and free coordinates for the given element
        per site label, each found separately:

        1. the listed compound with exactly these elements, if it gives the value;
        2. otherwise an additive (Vegard-like) estimate v ≈ v₀ + Σ_sites c_site(element), fitted
           by least squares to the listed compounds that give the value (the additivity of ionic
           radii in a given structure type), used only when the combination lies in the span of
           those compounds (so the estimate is unique);
        3. otherwise the prototype's value.
        """
        key = tuple((s.label, elements[s.label]) for s in self.sites)
        return {name: self._estimate(key, name, default) for name, default in (*self.cell, *self.free)}

    def reference_a(self, elements: dict[str, str]) -> float:
        """Reference lattice parameter a [Å] for the given elements (:meth:`reference`)."""
        return self.reference(elements)["a"]

    def _estimate(self, key: tuple[tuple[str, str], ...], name: str, default: float) -> float:
        known = [c for c in self.compounds if name in dict(c.values)]
        for compound in known:
            if compound.elements == key:
                return dict(compound.values)[name]
        if not known:
            return default
        columns = sorted({pair for c in known for pair in c.elements})
        if not all(pair in columns for pair in key):
            return default
        index = {pair: i + 1 for i, pair in enumerate(columns)}

        def row(pairs: tuple[tuple[str, str], ...]) -> np.ndarray:
            r = np.zeros(len(columns) + 1)
            r[0] = 1.0
            for pair in pairs:
                r[index[pair]] = 1.0
            return r

        design = np.array([row(c.elements) for c in known])
        target = np.array([dict(c.values)[name] for c in known])
        query = row(key)
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        # unique only if the query lies in the row space of the design matrix
        proj, *_ = np.linalg.lstsq(design.T, query, rcond=None)
        if np.allclose(design.T @ proj, query, atol=1e-9):
            return float(query @ coef)
        return default

    def crystal(
        self,
        elements: dict[str, str] | None = None,
        *,
        a: float | None = None,
        name: str | None = None,
        u_iso: dict[str, float] | None = None,
        values: Mapping[str, float] | None = None,
    ) -> Crystal:
        """The prototype as a :class:`Crystal` (first allowed element per site by default).

        Cell and free coordinates default to :meth:`reference` for the elements; ``values``
        overrides any of them (``{"c": 5.2, "u": 0.38}``) and ``a`` [Å] the lattice parameter
        (the other lengths keep their reference ratio to a). u_iso [Å²] per label defaults to 0.
        """
        chosen = {s.label: s.elements[0] for s in self.sites} | (elements or {})
        ref = self.reference(chosen)
        if a is not None:
            for length in LENGTHS:
                if length in ref and length != "a":
                    ref[length] *= float(a) / ref["a"]
            ref["a"] = float(a)
        ref |= dict(values or {})
        cell = self.full_cell(ref)
        sites = tuple(
            Site(s.label, chosen[s.label], s.position(ref), 1.0, (u_iso or {}).get(s.label, 0.0)) for s in self.sites
        )
        return Crystal(
            name=name or self.key,
            cell=cell,
            spacegroup=self.spacegroup,
            sites=sites,
            symops=self.symops(),
            formula=self.formula(chosen),
            cell_volume=cell_volume(cell),
        )


# ----- loading and validation -------------------------------------------------------------------
_COORDINATE_HELP = "a number, a fraction like 1/4, or a linear expression in free parameters like 1/2+u, -x, 2x"


def _number(text: str) -> float:
    return float(Fraction(text))


def _coordinate(value: Any, where: str, path: Path, free: Mapping[str, float]) -> Coordinate:
    """A coordinate: a number, a fraction text (``1/4``) or a linear expression in the entry's
    free parameters (``u``, ``1/2+u``, ``-x``, ``2x``, ``1/2-z``)."""
    if isinstance(value, bool):
        raise InputError(f"expected {_COORDINATE_HELP}, got {value!r}", path=path, field=where)
    if isinstance(value, (int, float)):
        return Coordinate(float(value))
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"expected {_COORDINATE_HELP}, got {value!r}", path=path, field=where)
    text = value.replace(" ", "")
    constant = 0.0
    terms: dict[str, float] = {}
    if not re.fullmatch(r"[+-]?[^+-]+([+-][^+-]+)*", text):
        raise InputError(f"expected {_COORDINATE_HELP}, got {value!r}", path=path, field=where)
    for sign, body in re.findall(r"([+-]?)([^+-]+)", text):
        match = _TERM.match(body)
        if match is None:
            raise InputError(f"expected {_COORDINATE_HELP}, got {value!r}", path=path, field=where)
        factor = -1.0 if sign == "-" else 1.0
        coef, name = match.group("coef"), match.group("name")
        try:
            number = _number(coef) if coef else 1.0
        except (ValueError, ZeroDivisionError):
            raise InputError(f"expected {_COORDINATE_HELP}, got {value!r}", path=path, field=where) from None
        if name is None:
            if coef is None:
                raise InputError(f"expected {_COORDINATE_HELP}, got {value!r}", path=path, field=where)
            constant += factor * number
        elif name not in free:
            known = ", ".join(free) or "none"
            raise InputError(f"unknown free parameter {name!r} in {value!r} (the entry's `free` lists: {known})",
                             path=path, field=where)
        else:
            terms[name] = terms.get(name, 0.0) + factor * number
    return Coordinate(constant, tuple((n, c) for n, c in terms.items() if c != 0.0))


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


def _parse_site(raw: Any, where: str, path: Path, free: Mapping[str, float]) -> PrototypeSite:
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
    xyz = tuple(_coordinate(v, f"{where}.fract", path, free) for v in fract)
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


def _positive(value: Any, where: str, path: Path, unit: str = "Å") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"expected a positive number [{unit}], got {value!r}", path=path, field=where)
    return float(value)


def _cell_value(value: Any, name: str, where: str, path: Path) -> float:
    """A cell length [Å] > 0 or an angle [deg] in (0, 180)."""
    if name in LENGTHS:
        return _positive(value, where, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 180:
        raise InputError(f"expected an angle in (0, 180) degrees, got {value!r}", path=path, field=where)
    return float(value)


def _parse_cell(entry: dict[str, Any], key: str, sg: gemmi.SpaceGroup, path: Path) -> tuple[tuple[str, float], ...]:
    """The free cell parameters of an entry, checked against the lattice of its space group.

    The free ones (:func:`~.lattice.free_parameters`) are required; a parameter the lattice fixes
    may be given only with the value it fixes (``b: 3.25`` beside ``a: 3.25`` in a hexagonal cell).
    """
    free = free_parameters(sg)
    system = lattice_system(sg)
    values = {}
    for name in free:
        if name not in entry:
            raise InputError(f"missing key {name!r}: a {system} cell ({sg.xhm()}) needs {', '.join(free)}",
                             path=path, field=key)
        values[name] = _cell_value(entry[name], name, f"{key}.{name}", path)
    full = dict(zip(CELL_KEYS, cell_from(sg, values), strict=True))
    for name in CELL_KEYS:
        if name in entry and name not in free:
            given = _cell_value(entry[name], name, f"{key}.{name}", path)
            if not math.isclose(given, full[name], rel_tol=1e-6):
                raise InputError(f"{name} = {given} does not fit the {system} lattice of {sg.xhm()} ({describe_constraints(sg)}, "
                                 f"so {name} = {full[name]:g}); give only {', '.join(free)}", path=path, field=f"{key}.{name}")
    cell = gemmi.UnitCell(*(full[n] for n in CELL_KEYS))
    if not cell.is_compatible_with_spacegroup(sg, 1e-4):
        raise InputError(f"the cell {tuple(full.values())} is not compatible with {sg.xhm()}", path=path, field=key)
    return tuple((n, values[n]) for n in free)


def _parse_free(entry: dict[str, Any], key: str, path: Path) -> dict[str, float]:
    """The entry's free coordinates ``free: {u: 0.382}`` (reference values, fractional)."""
    raw = entry.get("free") or {}
    if not isinstance(raw, dict):
        raise InputError("expected a mapping of free-parameter names to values, e.g. {u: 0.382}", path=path, field=f"{key}.free")
    free = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _NAME.match(name) or name in CELL_KEYS:
            raise InputError(f"a free-parameter name is a lower-case letter then letters, digits or _, and not a cell "
                             f"parameter name; got {name!r}", path=path, field=f"{key}.free")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"expected a fractional coordinate (number), got {value!r}", path=path, field=f"{key}.free.{name}")
        free[name] = float(value)
    return free


def _parse_compound(raw: Any, where: str, path: Path, sites: tuple[PrototypeSite, ...], cell_names: tuple[str, ...],
                    free: Mapping[str, float]) -> Compound:
    labels = [s.label for s in sites]
    expected = f"{{elements: {{<label>: <element>, ...}}, {', '.join(f'{n}: <value>' for n in cell_names)}" + \
        (", free: {<name>: <value>}}" if free else "}")
    if not isinstance(raw, dict) or not isinstance(raw.get("elements"), dict):
        raise InputError(f"expected {expected}", path=path, field=where)
    unknown = set(raw) - {"elements", "free", *cell_names}
    missing = [n for n in cell_names if n not in raw]
    if unknown or missing:
        detail = f"unknown key(s) {sorted(unknown)}" if unknown else f"missing key(s) {missing}"
        raise InputError(f"{detail}; expected {expected}", path=path, field=where)
    if set(raw["elements"]) != set(labels):
        raise InputError(f"expected one element for each site label {labels}, got {sorted(raw['elements'])}", path=path, field=where)
    for site in sites:
        if raw["elements"][site.label] not in site.elements:
            raise InputError(
                f"element {raw['elements'][site.label]!r} is not allowed on site {site.label} {list(site.elements)}",
                path=path,
                field=f"{where}.elements",
            )
    values = [(n, _cell_value(raw[n], n, f"{where}.{n}", path)) for n in cell_names]
    given = raw.get("free") or {}
    if not isinstance(given, dict) or set(given) - set(free):
        raise InputError(f"expected values of the entry's free parameters {list(free)}, got {given!r}", path=path, field=f"{where}.free")
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"expected a fractional coordinate (number), got {value!r}", path=path, field=f"{where}.free.{name}")
        values.append((name, float(value)))
    return Compound(tuple((s.label, raw["elements"][s.label]) for s in sites), tuple(values))


_ENTRY_KEYS = {"structure_type", "spacegroup", "number", "setting", "sites", "compounds", "free", *CELL_KEYS}


def parse_prototype(key: str, entry: Any, path: Path) -> Prototype:
    """Check one YAML entry and build its :class:`Prototype` (InputError naming the key)."""
    if not isinstance(entry, dict):
        raise InputError("expected a mapping", path=path, field=key)
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise InputError(f"unknown key(s) {sorted(unknown)} (allowed: {', '.join(sorted(_ENTRY_KEYS))})", path=path, field=key)
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
    cell = _parse_cell(entry, key, sg, path)
    free = _parse_free(entry, key, path)
    raw_sites = _require(entry, "sites", key, path)
    if not isinstance(raw_sites, list) or not raw_sites:
        raise InputError("expected a non-empty list of sites", path=path, field=f"{key}.sites")
    sites = tuple(_parse_site(s, f"{key}.sites[{i}]", path, free) for i, s in enumerate(raw_sites))
    labels = [s.label for s in sites]
    if len(set(labels)) != len(labels):
        raise InputError(f"duplicate site labels {labels}", path=path, field=f"{key}.sites")
    used = {name for site in sites for c in site.coordinates for name in c.names}
    unused = [name for name in free if name not in used]
    if unused:
        raise InputError(f"free parameter(s) {unused} appear in no site's fract", path=path, field=f"{key}.free")
    cell_names = tuple(name for name, _ in cell)
    compounds = tuple(
        _parse_compound(raw, f"{key}.compounds[{i}]", path, sites, cell_names, free)
        for i, raw in enumerate(entry.get("compounds") or [])
    )
    prototype = Prototype(key, structure_type, spacegroup, int(number), setting, cell, sites, compounds, tuple(free.items()))
    check_wyckoff(prototype, prototype.reference({s.label: s.elements[0] for s in sites}), path=path)
    return prototype


def check_wyckoff(prototype: Prototype, values: Mapping[str, float], *, path: Path | None = None,
                  field: str | None = None) -> None:
    """Each Wyckoff multiplicity must equal the number of distinct symmetry images of the site at
    the given free-coordinate values (this catches a coordinate in the wrong origin choice, or a
    free coordinate on a special value that moves the site onto another Wyckoff position)."""
    counts = prototype.crystal(values=values).site_multiplicities(tol=1e-4)
    for i, (site, n) in enumerate(zip(prototype.sites, counts, strict=True)):
        if n != site.multiplicity:
            raise InputError(
                f"site {site.label} at {tuple(round(v, 6) for v in site.position(values))} has {n} images in "
                f"{prototype.gemmi_name}, but its Wyckoff symbol {site.wyckoff!r} says {site.multiplicity}",
                path=path,
                field=field or f"{prototype.key}.sites[{i}].wyckoff",
            )


def _read_entries(path: str | os.PathLike[str] | None) -> tuple[Path, dict[str, Any]]:
    p = Path(path) if path is not None else DEFAULT_PROTOTYPES
    data = read_yaml(p, missing="prototype file not found")
    if not isinstance(data, dict) or not data:
        raise InputError("expected a mapping of prototype keys to entries", path=p)
    return p, {str(key): entry for key, entry in data.items()}


def load_prototype(key: str, path: str | os.PathLike[str] | None = None) -> Prototype:
    """Read and check one entry of a prototype file (default ``felix_inputs/prototypes.yaml``).

    Only this entry is checked, so a bad entry elsewhere in the file does not stop the families
    that use good ones. An unknown key raises :class:`InputError` listing the known keys.
    """
    p, entries = _read_entries(path)
    if key not in entries:
        raise InputError(f"unknown prototype {key!r} (known: {', '.join(sorted(entries))})", path=p, field=key)
    return parse_prototype(key, entries[key], p)


def prototype_keys(path: str | os.PathLike[str] | None = None) -> list[str]:
    """The entry keys of a prototype file, unchecked."""
    return list(_read_entries(path)[1])


def load_prototypes(path: str | os.PathLike[str] | None = None) -> dict[str, Prototype]:
    """Read and check every entry of a prototype file (default ``felix_inputs/prototypes.yaml``).

    Returns the prototypes by key. A bad entry raises :class:`InputError` naming the file and the
    entry's key path (e.g. ``zincblende.sites[1].role``).
    """
    p, entries = _read_entries(path)
    return {key: parse_prototype(key, entry, p) for key, entry in entries.items()}
