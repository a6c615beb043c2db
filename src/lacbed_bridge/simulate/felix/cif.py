"""The ``felix.cif`` a crystal is sent to Felix as: only what Felix's CIF reader uses.

Facts from Felix master 9034b2a, ``src/felix/read_cif_mod.f90`` (read here, not copied):

- formula: ``_chemical_formula_structural`` (else ``_iupac``, else ``_sum``), read into a
  32-character string; only [A-Za-z0-9] are kept and name the output files (``Ga As`` → ``GaAs``).
- cell: ``_cell_length_a/b/c``, ``_cell_angle_alpha/beta/gamma`` [deg], ``_cell_volume`` [Å³]
  (used as V in U_g = γF_g/(πV); computed from the cell when absent).
- space group: ``_symmetry_Int_Tables_number`` first, else the H-M name matched against Felix's
  own table; the first letter of the symbol is the lattice centring Felix uses.
- symmetry: the loop ``_symmetry_equiv_pos_as_xyz`` (else ``_space_group_symop_operation_xyz``),
  parsed by hand: each x/y/z takes the sign of the character before it, and one translation
  ``n/d`` with single-digit n and d (sign from the character before n). So every operation must be
  written as signed variables plus at most one single-digit fraction: gemmi's triplets are.
- atoms: ``_atom_site_label``; ``_atom_site_type_symbol`` cut to **two characters** (so no ion
  names: ``Ga3+`` would be read as ``Ga``); ``_atom_site_Wyckoff_symbol`` (refinement only);
  ``_atom_site_fract_x/y/z``; ``_atom_site_B_iso_or_equiv`` [Å²] (0 → RDebyeWallerConstant);
  ``_atom_site_occupancy`` (≤ 10⁻⁹ is read as **1**).
- no charges: Felix has four neutral-atom scattering-factor tables and no kappa model, so a crystal
  with a valence population other than the neutral atom's, or κ ≠ 1, cannot be sent to it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import reduce

import gemmi

from ...crystal.model import Crystal, Site
from ...errors import InputError
from .files import felix_formula

#: Felix reads the formula into CHARACTER(32) (read_cif_mod.f90); longer text is cut silently.
FORMULA_MAX_CHARS = 32
#: occupancies at or below this are read by Felix as 1 (read_cif_mod.f90, ``Occ.GT.TINY``).
FELIX_TINY = 1e-9
#: tolerance on "P_v equals the neutral valence" and "κ equals 1".
CHARGE_TOL = 1e-9
#: CIFtbx (Felix's CIF library) reads input lines of at most 80 characters by default (``line_``).
MAX_LINE = 80

_ELEMENT = re.compile(r"^[A-Z][a-z]?$")
# one component of a symmetry operation Felix can parse: signed variables + one n/d translation
_FELIX_SYMOP_PART = re.compile(r"^[+-]?[xyz]([+-][xyz])*([+-][1-9]/[1-9])?$")


def check_felix_compatible(crystal: Crystal) -> None:
    """Refuse a crystal Felix cannot represent: charged sites (P_v ≠ neutral valence, κ ≠ 1),
    element symbols that are not elements.

    Raises :class:`InputError` naming the crystal, the site and the offending value.
    """
    from ...crystal.charge import neutral_valence  # the charge model owns the valence counts

    if not crystal.sites:
        raise InputError("crystal has no atom sites", path=crystal.name, field="_atom_site_label")
    for site in crystal.sites:
        _check_element(crystal, site)
        if abs(site.kappa - 1.0) > CHARGE_TOL:
            raise InputError(
                f"site {site.label} has kappa = {site.kappa}; the Felix backend has no charge model "
                "(neutral-atom scattering factors only), so it needs kappa = 1: use the builtin backend",
                path=crystal.name,
                field="_atom_site_kappa",
            )
        if site.pv is not None:
            neutral = float(neutral_valence(site.element))
            if abs(site.pv - neutral) > CHARGE_TOL:
                raise InputError(
                    f"site {site.label} ({site.element}) has valence population P_v = {site.pv} "
                    f"(neutral: {neutral}); the Felix backend has no charges: use the builtin backend",
                    path=crystal.name,
                    field="_atom_site_pv",
                )


def _check_element(crystal: Crystal, site: Site) -> None:
    if not _ELEMENT.match(site.element) or gemmi.Element(site.element).atomic_number == 0:
        raise InputError(
            f"site {site.label}: element symbol {site.element!r} is not an element (Felix reads at most "
            "two letters of _atom_site_type_symbol, so ion names are not allowed)",
            path=crystal.name,
            field="_atom_site_type_symbol",
        )


def felix_formula_text(crystal: Crystal) -> str:
    """The ``_chemical_formula_structural`` text written for Felix.

    The crystal's own formula when it has one; otherwise the unit-cell content reduced by the
    greatest common divisor, elements in site order (``Ga As``, ``Sr Ti O3``). Felix names its
    output files after this text with everything but [A-Za-z0-9] removed (:func:`felix_formula`).
    """
    text = crystal.formula.strip()
    if not text:
        counts: Counter[str] = Counter()
        for index, _pos in crystal.unit_cell_atoms():
            counts[crystal.sites[index].element] += 1
        divisor = reduce(math.gcd, counts.values())
        order = list(dict.fromkeys(site.element for site in crystal.sites))
        text = " ".join(el if counts[el] == divisor else f"{el}{counts[el] // divisor}" for el in order)
    if len(text) > FORMULA_MAX_CHARS or not felix_formula(text):
        raise InputError(
            f"formula {text!r} cannot name Felix's output: Felix reads at most {FORMULA_MAX_CHARS} "
            "characters and needs at least one letter or digit",
            path=crystal.name,
            field="_chemical_formula_structural",
        )
    return text


def felix_symops(crystal: Crystal) -> list[str]:
    """All symmetry operations (centring included) as ``x, y+1/2, z+1/2`` strings Felix can parse.

    Each operation goes through gemmi's canonical triplet (variables first, one reduced
    translation in [0, 1)), then is checked against the form Felix's hand-written parser reads.
    """
    try:
        ops = crystal.operations()
    except (ValueError, RuntimeError) as exc:
        raise InputError(f"cannot get the symmetry operations: {exc}", path=crystal.name, field="_symmetry_equiv_pos_as_xyz") from None
    out: list[str] = []
    for op in ops:
        parts = op.triplet().split(",")
        for part in parts:
            if not _FELIX_SYMOP_PART.match(part):
                raise InputError(
                    f"symmetry operation {op.triplet()!r}: Felix parses only signed x/y/z plus one "
                    "single-digit fraction per component",
                    path=crystal.name,
                    field="_symmetry_equiv_pos_as_xyz",
                )
        out.append(", ".join(parts))
    return out


def _spacegroup_number(crystal: Crystal) -> int | None:
    sg = gemmi.find_spacegroup_by_name(crystal.spacegroup)
    return None if sg is None else int(sg.number)


def _wyckoff_letters(crystal: Crystal) -> list[str] | None:
    """Wyckoff letters per site when the crystal carries them (``crystal.extra``), else None.

    Felix uses the letter only to constrain coordinate refinement; without the column it reads
    ``x`` (read_cif_mod.f90), which is harmless in simulation mode.
    """
    letters = []
    for site in crystal.sites:
        letter = crystal.extra.get(f"wyckoff:{site.label}") if crystal.extra else None
        if not letter or not re.match(r"^[a-zA-Z]$", str(letter)):
            return None
        letters.append(str(letter))
    return letters


def _num(value: float) -> str:
    """A number for Felix: 10 significant digits (Felix reads single-precision REALs), short
    enough to keep every line within CIFtbx's 80 characters."""
    return f"{float(value):.10g}"


def _block_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name) or "crystal"


def _quote(text: str) -> str:
    if "'" in text:
        raise InputError(f"text {text!r} cannot be quoted in a CIF for Felix (contains ')")
    return f"'{text}'"


def felix_cif_text(crystal: Crystal) -> str:
    """A ``felix.cif`` for ``crystal`` holding only the items Felix reads.

    Sites with occupancy 0 are left out (Felix would read 0 as 1 — an empty site contributes
    nothing, so leaving it out is exact). B_iso = 8π² U_iso [Å²]; a B of 0 makes Felix use
    ``RDebyeWallerConstant`` instead. Raises :class:`InputError` for a crystal Felix cannot
    represent (see :func:`check_felix_compatible`).
    """
    check_felix_compatible(crystal)
    sites = [site for site in crystal.sites if site.occupancy > FELIX_TINY]
    if not sites:
        raise InputError("every site has occupancy 0", path=crystal.name, field="_atom_site_occupancy")
    for site in sites:
        if site.occupancy > 1.0 + 1e-9:
            raise InputError(f"site {site.label}: occupancy {site.occupancy} > 1", path=crystal.name, field="_atom_site_occupancy")
        if not re.match(r"^\S+$", site.label or ""):
            raise InputError(f"site label {site.label!r} must be one word", path=crystal.name, field="_atom_site_label")
    formula = felix_formula_text(crystal)
    number = _spacegroup_number(crystal)
    symops = felix_symops(crystal)
    a, b, c, alpha, beta, gamma = (float(v) for v in crystal.cell)

    lines = [f"data_{_block_name(crystal.name)}"]
    lines.append("# written by lacbed-bridge for Felix: only the items Felix's read_cif reads")
    lines.append(f"_chemical_formula_structural {_quote(formula)}")
    lines += [
        f"_cell_length_a {_num(a)}",
        f"_cell_length_b {_num(b)}",
        f"_cell_length_c {_num(c)}",
        f"_cell_angle_alpha {_num(alpha)}",
        f"_cell_angle_beta {_num(beta)}",
        f"_cell_angle_gamma {_num(gamma)}",
        f"_cell_volume {_num(crystal.volume)}",
        f"_symmetry_space_group_name_H-M {_quote(crystal.spacegroup)}",
    ]
    if number is not None:
        lines.append(f"_symmetry_Int_Tables_number {number}")
    lines += ["loop_", "_symmetry_equiv_pos_site_id", "_symmetry_equiv_pos_as_xyz"]
    lines += [f"{i} {_quote(op)}" for i, op in enumerate(symops, start=1)]
    wyckoff = _wyckoff_letters(crystal.with_sites(tuple(sites)))
    lines += ["loop_", "_atom_site_label", "_atom_site_type_symbol"]
    if wyckoff is not None:
        lines.append("_atom_site_Wyckoff_symbol")
    lines += [
        "_atom_site_fract_x",
        "_atom_site_fract_y",
        "_atom_site_fract_z",
        "_atom_site_B_iso_or_equiv",
        "_atom_site_occupancy",
    ]
    for i, site in enumerate(sites):
        x, y, z = (float(v) for v in site.fract)
        row = [site.label, site.element]
        if wyckoff is not None:
            row.append(wyckoff[i])
        # B [Å²] = 8π² U_iso
        row += [_num(x), _num(y), _num(z), _num(site.b_iso), _num(site.occupancy)]
        lines.append(" ".join(row))
    too_long = [line for line in lines if len(line) > MAX_LINE]
    if too_long:
        raise InputError(
            f"line {too_long[0]!r} is longer than the {MAX_LINE} characters Felix's CIF reader takes",
            path=crystal.name,
        )
    return "\n".join(lines) + "\n"
