"""Reading and writing crystals as CIF through gemmi (docs/architecture.md §3).

Reading (:func:`read_cif`) takes the items we need from one data block of a small-molecule CIF:

- cell ``_cell_length_a/b/c`` [Å], ``_cell_angle_alpha/beta/gamma`` [deg] (all six required),
  ``_cell_volume`` [Å³] (optional, kept: Felix uses it in U_g = γF_g/(πV), docs/felix_physics.md §1);
- space group: ``_space_group_name_H-M_alt`` or ``_symmetry_space_group_name_H-M``;
- symmetry operations: ``_space_group_symop_operation_xyz`` or ``_symmetry_equiv_pos_as_xyz``
  (when absent, the H-M name must be one gemmi knows);
- formula: ``_chemical_formula_structural``, else ``_chemical_formula_sum``;
- sites (``_atom_site_*``): label, type symbol (charges such as ``O2-`` are stripped to the
  element; without a type symbol the element is taken from the label), fract x/y/z, occupancy
  (default 1), U_iso (``_atom_site_U_iso_or_equiv`` [Å²]) or B_iso (``_atom_site_B_iso_or_equiv``
  [Å²], converted U = B/(8π²)), and the Hansen–Coppens items ``_atom_site_pv`` [e] and
  ``_atom_site_kappa`` (absent: ``None`` / 1.0).

Numbers may carry standard uncertainties (``5.6532(3)`` → 5.6532). Every problem raises
:class:`~lacbed_bridge.errors.InputError` naming the file and the CIF item.

Writing (:func:`cif_text`, :func:`write_cif`) produces deterministic text in the DDL1 core
spellings that the Fortran Felix reads (``_symmetry_space_group_name_H-M``,
``_symmetry_equiv_pos_as_xyz``): floats in Python's shortest round-trip form (``repr``), so
read → write → read gives an equal :class:`~lacbed_bridge.crystal.model.Crystal`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import gemmi

from ..errors import InputError
from ..io import write_text_atomic
from .model import Crystal, Site

#: CIF numbers: optional sign, digits with optional point, optional exponent, optional s.u. "(n)".
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:\(\d+\))?$")
#: Type symbols: element, optionally followed by an oxidation state such as 2-, 3+, +, -2.
_TYPE_SYMBOL = re.compile(r"^([A-Za-z]{1,2})(?:\d*[+-]\d*)?$")
#: Element at the start of a site label (``Ga1`` → ``Ga``, ``O2a`` → ``O``).
_LABEL_ELEMENT = re.compile(r"^([A-Z][a-z]?)")

_CELL_ITEMS = (
    "_cell_length_a",
    "_cell_length_b",
    "_cell_length_c",
    "_cell_angle_alpha",
    "_cell_angle_beta",
    "_cell_angle_gamma",
)
_HM_ITEMS = ("_space_group_name_H-M_alt", "_symmetry_space_group_name_H-M")
_SYMOP_ITEMS = ("_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz")
_FORMULA_ITEMS = ("_chemical_formula_structural", "_chemical_formula_sum")
_SITE_COLUMNS = (
    "label",
    "?type_symbol",
    "fract_x",
    "fract_y",
    "fract_z",
    "?occupancy",
    "?U_iso_or_equiv",
    "?B_iso_or_equiv",
    "?pv",
    "?kappa",
)
_EIGHT_PI_SQ = 8.0 * math.pi**2


# ----- reading ---------------------------------------------------------------------------------
def _is_null(raw: str | None) -> bool:
    """CIF 'unknown' (``?``) and 'not applicable' (``.``) values, or an absent item."""
    return raw is None or raw in ("?", ".")


def parse_number(raw: str, *, path: str | os.PathLike[str] | None = None, item: str | None = None) -> float:
    """A CIF numeric value as float; a trailing standard uncertainty ``(n)`` is dropped.

    Raises :class:`InputError` (naming ``path`` and ``item``) if ``raw`` is not a CIF number.
    """
    text = gemmi.cif.as_string(raw).strip() if raw[:1] in ("'", '"') else raw.strip()
    match = _NUMBER.match(text)
    if not match:
        raise InputError(f"expected a number, got {raw!r}", path=path, field=item)
    value = float(match.group(1))
    if not math.isfinite(value):  # 1e999 parses as inf: refuse it here, not as NaN images later
        raise InputError(f"expected a finite number, got {raw!r}", path=path, field=item)
    return value


def element_from_type_symbol(symbol: str, *, path: str | os.PathLike[str] | None = None, item: str | None = None) -> str:
    """The element of a CIF type symbol: charges are stripped (``O2-`` → ``O``, ``Ga3+`` → ``Ga``).

    Raises :class:`InputError` when the symbol names no element of the periodic table.
    """
    match = _TYPE_SYMBOL.match(symbol.strip())
    candidate = match.group(1).capitalize() if match else None
    if candidate is None or gemmi.Element(candidate).atomic_number == 0 or gemmi.Element(candidate).name != candidate:
        raise InputError(f"unknown element {symbol!r} (expected an element symbol such as Ga or O2-)", path=path, field=item)
    return candidate


def _first_value(block: gemmi.cif.Block, items: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(item, raw value) of the first of ``items`` present with a non-null value."""
    for item in items:
        raw = block.find_value(item)
        if not _is_null(raw):
            return item, raw
    return None, None


def _first_loop(block: gemmi.cif.Block, items: tuple[str, ...]) -> tuple[str | None, list[str]]:
    for item in items:
        column = block.find_values(item)
        if len(column):
            return item, [gemmi.cif.as_string(v).strip() for v in column]
    return None, []


def _read_symops(block: gemmi.cif.Block, path: Path) -> tuple[str, ...]:
    item, values = _first_loop(block, _SYMOP_ITEMS)
    for value in values:
        try:
            gemmi.Op(value.replace(" ", ""))
        except (RuntimeError, ValueError) as exc:
            raise InputError(f"not a symmetry operation: {value!r} ({exc})", path=path, field=item) from None
    return tuple(values)


def _read_spacegroup(block: gemmi.cif.Block, symops: tuple[str, ...], path: Path) -> str:
    item, raw = _first_value(block, _HM_ITEMS)
    name = gemmi.cif.as_string(raw).strip() if raw is not None else ""
    if symops:
        if not name:
            found = gemmi.find_spacegroup_by_ops(gemmi.GroupOps([gemmi.Op(op.replace(" ", "")) for op in symops]))
            name = found.hm if found is not None else ""
        return name
    if not name:
        raise InputError(
            "no space group: neither an H-M name nor symmetry operations "
            f"(expected one of {', '.join(_HM_ITEMS)} or a loop of {' / '.join(_SYMOP_ITEMS)})",
            path=path,
            field=_HM_ITEMS[1],
        )
    if gemmi.find_spacegroup_by_name(name) is None:
        raise InputError(
            f"unknown space group {name!r} and no symmetry operations listed "
            f"(expected a Hermann–Mauguin name gemmi knows, or a loop of {' / '.join(_SYMOP_ITEMS)})",
            path=path,
            field=item,
        )
    return name


def _read_cell(block: gemmi.cif.Block, path: Path) -> tuple[float, float, float, float, float, float]:
    values = []
    for item in _CELL_ITEMS:
        raw = block.find_value(item)
        if _is_null(raw):
            raise InputError("missing cell item (expected a number)", path=path, field=item)
        value = parse_number(raw, path=path, item=item)
        if "length" in item and not value > 0:
            raise InputError(f"cell length must be > 0 Å, got {value}", path=path, field=item)
        if "angle" in item and not 0 < value < 180:
            raise InputError(f"cell angle must be in (0, 180) degrees, got {value}", path=path, field=item)
        values.append(value)
    return tuple(values)  # type: ignore[return-value]


def _read_sites(block: gemmi.cif.Block, path: Path) -> tuple[Site, ...]:
    table = block.find("_atom_site_", list(_SITE_COLUMNS))
    if not table or len(table) == 0:
        raise InputError(
            "no atom sites (expected a loop with _atom_site_label and _atom_site_fract_x/y/z)",
            path=path,
            field="_atom_site_label",
        )
    sites: list[Site] = []
    labels: set[str] = set()
    for row in table:
        label = gemmi.cif.as_string(row[0]).strip()
        if label in labels:
            raise InputError(f"duplicate site label {label!r}", path=path, field="_atom_site_label")
        labels.add(label)
        if row.has(1) and not _is_null(row[1]):
            element = element_from_type_symbol(gemmi.cif.as_string(row[1]), path=path, item="_atom_site_type_symbol")
        else:
            match = _LABEL_ELEMENT.match(label)
            element = element_from_type_symbol(match.group(1) if match else label, path=path, item="_atom_site_label")
        fract = []
        for col, axis in zip((2, 3, 4), "xyz", strict=True):
            item = f"_atom_site_fract_{axis}"
            if _is_null(row[col]):
                raise InputError(f"site {label}: missing coordinate (expected a number)", path=path, field=item)
            fract.append(parse_number(row[col], path=path, item=item))
        occupancy = 1.0
        if row.has(5) and not _is_null(row[5]):
            occupancy = parse_number(row[5], path=path, item="_atom_site_occupancy")
            if not 0.0 <= occupancy <= 1.0:
                raise InputError(f"site {label}: occupancy {occupancy} outside [0, 1]", path=path, field="_atom_site_occupancy")
        u_iso = 0.0
        if row.has(6) and not _is_null(row[6]):
            u_iso = parse_number(row[6], path=path, item="_atom_site_U_iso_or_equiv")
        elif row.has(7) and not _is_null(row[7]):
            u_iso = parse_number(row[7], path=path, item="_atom_site_B_iso_or_equiv") / _EIGHT_PI_SQ
        if u_iso < 0:
            raise InputError(f"site {label}: negative displacement parameter {u_iso} Å²", path=path, field="_atom_site_U_iso_or_equiv")
        pv = None
        if row.has(8) and not _is_null(row[8]):
            pv = parse_number(row[8], path=path, item="_atom_site_pv")
            if pv < 0:
                raise InputError(f"site {label}: negative valence population {pv} e", path=path, field="_atom_site_pv")
        kappa = 1.0
        if row.has(9) and not _is_null(row[9]):
            kappa = parse_number(row[9], path=path, item="_atom_site_kappa")
            if not kappa > 0:
                raise InputError(f"site {label}: kappa must be > 0, got {kappa}", path=path, field="_atom_site_kappa")
        sites.append(Site(label, element, (fract[0], fract[1], fract[2]), occupancy, u_iso, pv, kappa))
    if not any(site.occupancy > 0 for site in sites):
        raise InputError("every site has occupancy 0: the cell is empty", path=path, field="_atom_site_occupancy")
    _check_shared_positions(sites, path)
    return tuple(sites)


def _check_shared_positions(sites: list[Site], path: Path, tolerance: float = 1e-4) -> None:
    """Sites on one position (fractional coordinates equal modulo 1) may share it as a mixed
    site only when their occupancies add up to at most 1; more is two atoms on one spot."""
    groups: dict[tuple[int, int, int], list[Site]] = {}
    for site in sites:
        key = tuple(int(round((c % 1.0) / tolerance)) % int(round(1 / tolerance)) for c in site.fract)
        groups.setdefault(key, []).append(site)  # type: ignore[arg-type]
    for shared in groups.values():
        total = sum(s.occupancy for s in shared)
        if len(shared) > 1 and total > 1.0 + 1e-6:
            labels = ", ".join(s.label for s in shared)
            raise InputError(f"sites {labels} sit on one position {shared[0].fract} with total occupancy {total:g} > 1 "
                             "(duplicate atoms?)", path=path, field="_atom_site_fract_x")


def crystal_from_block(block: gemmi.cif.Block, path: str | os.PathLike[str] = "<string>") -> Crystal:
    """The :class:`Crystal` of one parsed CIF data block (``path`` is only used in messages)."""
    p = Path(path)
    cell = _read_cell(block, p)
    volume_raw = block.find_value("_cell_volume")
    cell_volume = None if _is_null(volume_raw) else parse_number(volume_raw, path=p, item="_cell_volume")
    if cell_volume is not None and not cell_volume > 0:
        raise InputError(f"cell volume must be > 0 Å³, got {cell_volume}", path=p, field="_cell_volume")
    symops = _read_symops(block, p)
    spacegroup = _read_spacegroup(block, symops, p)
    _, formula_raw = _first_value(block, _FORMULA_ITEMS)
    formula = gemmi.cif.as_string(formula_raw).strip() if formula_raw is not None else ""
    sites = _read_sites(block, p)
    crystal = Crystal(
        name=block.name,
        cell=cell,
        spacegroup=spacegroup,
        sites=sites,
        symops=symops,
        formula=formula,
        cell_volume=cell_volume,
    )
    check_physical(crystal, p)
    return crystal


#: physical bounds a crystal must keep (what lies beyond describes no crystal a beam can go through)
MIN_CELL_LENGTH = 1.0  # Å: shorter, atoms of neighbouring cells overlap
MIN_VOLUME_PER_ATOM = 1.0  # Å³ (the densest solids have ≈ 5 Å³ per atom)
MAX_U_ISO = 1.0  # Å² (B = 79 Å²; room-temperature crystals have U ≈ 0.005–0.05 Å²)
MIN_U_ISO = 0.0  # Å² (a negative value is refused where the sites are read)
KAPPA_RANGE = (0.5, 2.0)  # Hansen–Coppens valence expansion (refinements give 0.8–1.3)


def check_physical(crystal: Crystal, path: str | os.PathLike[str] = "<string>") -> None:
    """Refuse a crystal that contradicts its space group or a physical bound, naming the CIF item:
    a cell the space group does not allow (a cubic group with γ = 179.9°; gemmi's test, 1 % of
    slack for rounded cells), a cell length below 1 Å or less than 1 Å³ per atom, U_iso outside
    [0, 1] Å², P_v outside [0, a closed shell] (8 electrons, 2 for H and He, or the neutral atom's
    valence where that is more), κ outside [0.5, 2]."""
    from .charge import neutral_valence

    p = Path(path)
    # the group in the CIF's own setting: from its symmetry operations where it lists them (a
    # rhombohedral-axes R group, a c-unique monoclinic one), else from the name with the cell's
    # angles (which pick R groups' rhombohedral or hexagonal axes)
    sg = None
    if crystal.symops:
        try:
            sg = gemmi.find_spacegroup_by_ops(gemmi.GroupOps([gemmi.Op(t) for t in crystal.symops]))
        except (RuntimeError, ValueError):
            sg = None
    if sg is None and crystal.spacegroup:
        sg = gemmi.find_spacegroup_by_name(crystal.spacegroup, crystal.cell[3], crystal.cell[5])
    cell = gemmi.UnitCell(*crystal.cell)
    if sg is not None and not cell.is_compatible_with_spacegroup(sg, 1e-2):
        a, b, c, alpha, beta, gamma = crystal.cell
        raise InputError(f"the cell a={a:g} b={b:g} c={c:g} Å, α={alpha:g} β={beta:g} γ={gamma:g}° contradicts the space group "
                         f"{sg.hm} ({sg.crystal_system_str()} lattice)", path=p, field="_cell_length_a")
    for item, value in zip(_CELL_ITEMS[:3], crystal.cell[:3], strict=True):
        if value < MIN_CELL_LENGTH:
            raise InputError(f"cell length {value:g} Å is below {MIN_CELL_LENGTH:g} Å: no crystal is that small", path=p, field=item)
    atoms = len(crystal.unit_cell_atoms())
    if not cell.volume > MIN_VOLUME_PER_ATOM * max(atoms, 1):
        raise InputError(f"the cell's volume {cell.volume:.4g} Å³ holds {atoms} atoms: less than {MIN_VOLUME_PER_ATOM:g} Å³ per atom "
                         "(a degenerate cell?)", path=p, field="_cell_angle_gamma")
    for site in crystal.sites:
        if site.u_iso is not None and not MIN_U_ISO <= site.u_iso <= MAX_U_ISO:
            raise InputError(f"site {site.label}: U_iso {site.u_iso:g} Å² is outside [{MIN_U_ISO:g}, {MAX_U_ISO:g}] Å²",
                             path=p, field="_atom_site_U_iso_or_equiv")
        if site.pv is not None:
            closed = 2.0 if site.element in ("H", "He") else 8.0
            try:
                top = max(closed, neutral_valence(site.element))
            except InputError:  # an element beyond the charge model: the closed shell bounds it
                top = closed
            if not 0.0 <= site.pv <= top:
                raise InputError(f"site {site.label}: P_v {site.pv:g} e is outside [0, {top:g}] e (a closed valence shell "
                                 f"of {site.element})", path=p, field="_atom_site_pv")
        if not KAPPA_RANGE[0] <= site.kappa <= KAPPA_RANGE[1]:
            raise InputError(f"site {site.label}: κ {site.kappa:g} is outside [{KAPPA_RANGE[0]:g}, {KAPPA_RANGE[1]:g}]", path=p,
                             field="_atom_site_kappa")


def _read_document(path: Path) -> gemmi.cif.Document:
    if not path.is_file():
        raise InputError("CIF file not found", path=path)
    try:
        return gemmi.cif.read(str(path))
    except (RuntimeError, ValueError, UnicodeDecodeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable CIF file ({message})", path=path) from None


def read_cif(path: str | os.PathLike[str], block: str | None = None) -> Crystal:
    """Read one crystal from a CIF file.

    Parameters
    ----------
    path: the CIF file.
    block: name of the data block (without ``data_``); needed when the file holds several
        (never silently the first of several crystals).

    Raises :class:`InputError` naming the file and the item for a file that is not a CIF, several
    data blocks without ``block``, a missing, unparsable or non-finite number, an unknown element,
    no sites, an occupancy outside [0, 1], an empty cell (every occupancy 0), sites on one position
    with occupancies adding up to more than 1, or an unknown space group without symmetry operations.
    """
    p = Path(path)
    doc = _read_document(p)
    if len(doc) == 0:
        raise InputError("no data block (expected data_<name>)", path=p)
    if block is None:
        if len(doc) > 1:
            names = ", ".join(b.name for b in doc)
            raise InputError(f"{len(doc)} data blocks ({names}); expected one crystal per file", path=p, field="data_")
        found = doc[0]
    else:
        found = doc.find_block(block)
        if found is None:
            names = ", ".join(b.name for b in doc)
            raise InputError(f"no data block {block!r} (the file has: {names})", path=p, field=f"data_{block}")
    return crystal_from_block(found, p)


# ----- writing ---------------------------------------------------------------------------------
def format_float(value: float) -> str:
    """Shortest text that reads back to the same float (``repr``); ``-0.0`` is written ``0.0``."""
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"cannot write a non-finite number ({value}) to a CIF")
    if value == 0.0:
        value = 0.0
    return repr(value)


def _quote(text: str) -> str:
    return gemmi.cif.quote(text) if text else "?"


def _symops_of(crystal: Crystal) -> list[str]:
    if crystal.symops:
        return list(crystal.symops)
    sg = gemmi.find_spacegroup_by_name(crystal.spacegroup)
    if sg is None:
        raise InputError(f"unknown space group {crystal.spacegroup!r} and no symmetry operations to write", field="spacegroup")
    return [op.triplet() for op in sg.operations()]


def cif_text(crystal: Crystal) -> str:
    """The CIF text of ``crystal`` (deterministic: same crystal → same bytes).

    Writes the cell, ``_cell_volume`` when the crystal has one, the H-M name, the Hall symbol and
    IT number of the group the operations form (when gemmi knows it), the full symmetry-operation loop (generated from the H-M name
    when the crystal lists none), the formula and one ``_atom_site_`` loop with U_iso [Å²] and
    occupancy; ``_atom_site_pv`` / ``_atom_site_kappa`` columns are added for every site when
    any site has a P_v or κ ≠ 1 (a site without P_v gets ``?``).
    """
    for site in crystal.sites:
        if not site.label or any(ch.isspace() for ch in site.label):
            raise InputError(f"site label {site.label!r} must be non-empty without spaces", field="_atom_site_label")
        element_from_type_symbol(site.element, item="_atom_site_type_symbol")
    name = re.sub(r"\s+", "_", crystal.name) or "crystal"
    lines = [f"data_{name}"]
    if crystal.formula:
        lines.append(f"_chemical_formula_structural {_quote(crystal.formula)}")
    for item, value in zip(_CELL_ITEMS, crystal.cell, strict=True):
        lines.append(f"{item} {format_float(value)}")
    if crystal.cell_volume is not None:
        lines.append(f"_cell_volume {format_float(crystal.cell_volume)}")
    lines.append(f"_symmetry_space_group_name_H-M {_quote(crystal.spacegroup)}")
    symops = _symops_of(crystal)
    # the group the operations form (its Hall symbol names the setting, e.g. Fd-3m origin 2)
    sg = gemmi.find_spacegroup_by_ops(gemmi.GroupOps([gemmi.Op(op.replace(" ", "")) for op in symops]))
    if sg is not None:
        lines.append(f"_symmetry_space_group_name_Hall {_quote(sg.hall)}")
        lines.append(f"_symmetry_Int_Tables_number {sg.number}")
    lines += ["loop_", "_symmetry_equiv_pos_site_id", "_symmetry_equiv_pos_as_xyz"]
    for index, op in enumerate(symops, start=1):
        lines.append(f"{index} {gemmi.cif.quote(op)}")
    with_charge = any(s.pv is not None or s.kappa != 1.0 for s in crystal.sites)
    lines += [
        "loop_",
        "_atom_site_label",
        "_atom_site_type_symbol",
        "_atom_site_fract_x",
        "_atom_site_fract_y",
        "_atom_site_fract_z",
        "_atom_site_U_iso_or_equiv",
        "_atom_site_occupancy",
    ]
    if with_charge:
        lines += ["_atom_site_pv", "_atom_site_kappa"]
    for site in crystal.sites:
        fields = [
            gemmi.cif.quote(site.label),
            site.element,
            *(format_float(x) for x in site.fract),
            format_float(site.u_iso),
            format_float(site.occupancy),
        ]
        if with_charge:
            fields += ["?" if site.pv is None else format_float(site.pv), format_float(site.kappa)]
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


def write_cif(crystal: Crystal, path: str | os.PathLike[str]) -> None:
    """Write ``crystal`` to ``path`` atomically (see :func:`cif_text`)."""
    write_text_atomic(path, cif_text(crystal))
