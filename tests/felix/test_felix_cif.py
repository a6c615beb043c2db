"""felix.cif for Felix: the items Felix reads, equal in content to the reference felix.cif."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import gemmi
import numpy as np
import pytest
from support.felix_refdata import CASES, reference_case

from lacbed_bridge.crystal.charge import neutral_valence
from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.crystal.model import Crystal, Site
from lacbed_bridge.errors import InputError
from lacbed_bridge.simulate.felix.cif import felix_cif_text, felix_formula_text, felix_symops


def _block(text: str) -> gemmi.cif.Block:
    return gemmi.cif.read_string(text).sole_block()


def _value(block: gemmi.cif.Block, tag: str) -> str:
    return gemmi.cif.as_string(block.find_value(tag))


def _felix_parse_component(text: str) -> tuple[list[int], Fraction]:
    """One component of a symmetry operation read with the rules of Felix's read_cif
    (read_cif_mod.f90, described in felix_cif's docstring): the first x, y, z each take the sign of
    the character just before them; one '/' gives a translation n/d from the single digits around it,
    negative when the character two before the '/' is '-'."""
    row = [0, 0, 0]
    for axis, letters in enumerate(("xX", "yY", "zZ")):
        pos = min((text.find(c) for c in letters if c in text), default=-1)
        if pos >= 0:
            row[axis] = -1 if pos > 0 and text[pos - 1] == "-" else 1
    shift = Fraction(0)
    slash = text.find("/")
    if 0 < slash < len(text.rstrip()) - 1:
        sign = -1 if slash > 1 and text[slash - 2] == "-" else 1
        shift = sign * Fraction(int(text[slash - 1]), int(text[slash + 1]))
    return row, shift


def _felix_parse_op(text: str) -> gemmi.Op:
    left, right = text.find(","), text.rfind(",")
    parts = [text[:left], text[left + 1 : right], text[right + 1 :]]
    rows, shifts = zip(*(_felix_parse_component(p) for p in parts))
    names = "xyz"
    out = []
    for row, shift in zip(rows, shifts):
        terms = "".join(("+" if c > 0 else "-") + names[i] for i, c in enumerate(row) if c)
        if shift:
            terms += f"{'+' if shift > 0 else '-'}{abs(shift)}"
        out.append(terms.lstrip("+"))
    return gemmi.Op(",".join(out))


def _reference_crystal(case: str = "GaAs_m110_930A_64px") -> Crystal:
    return read_cif(reference_case(case) / "felix.cif")


@pytest.mark.parametrize("case", sorted(CASES))
def test_felix_cif_matches_reference_content(case: str) -> None:
    """Every item of the reference felix.cif that Felix reads comes back with the same value."""
    folder = reference_case(case)
    ours = _block(felix_cif_text(_reference_crystal(case)))
    ref = gemmi.cif.read(str(folder / "felix.cif")).sole_block()
    for tag in ("_chemical_formula_structural", "_symmetry_space_group_name_H-M"):
        assert _value(ours, tag) == _value(ref, tag)
    for tag in ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta",
                "_cell_angle_gamma", "_cell_volume", "_symmetry_Int_Tables_number"):
        assert float(ours.find_value(tag)) == float(ref.find_value(tag)), tag
    ours_ops = [gemmi.Op(gemmi.cif.as_string(v).replace(" ", "")) for v in ours.find_loop("_symmetry_equiv_pos_as_xyz")]
    ref_ops = [gemmi.Op(gemmi.cif.as_string(v).replace(" ", "")) for v in ref.find_loop("_symmetry_equiv_pos_as_xyz")]
    assert ours_ops == ref_ops  # same operations in the same order
    cols = ["label", "type_symbol", "fract_x", "fract_y", "fract_z", "B_iso_or_equiv", "occupancy"]
    ours_rows = [list(r) for r in ours.find("_atom_site_", cols)]
    ref_rows = [list(r) for r in ref.find("_atom_site_", cols)]
    assert len(ours_rows) == len(ref_rows) == 2
    for a, b in zip(ours_rows, ref_rows):
        assert a[:2] == b[:2]
        assert [float(x) for x in a[2:]] == pytest.approx([float(x) for x in b[2:]], abs=1e-12, rel=1e-12)
    # nothing Felix does not read: no charge items
    assert "_atom_site_pv" not in felix_cif_text(_reference_crystal(case))
    assert "_atom_site_kappa" not in felix_cif_text(_reference_crystal(case))


def test_felix_cif_reads_back_to_the_same_crystal() -> None:
    crystal = _reference_crystal()
    again = read_cif_text(felix_cif_text(crystal))
    assert again.cell == crystal.cell and again.cell_volume == crystal.cell_volume
    assert again.formula == crystal.formula
    for a, b in zip(again.sites, crystal.sites):
        assert (a.label, a.element, a.fract, a.occupancy) == (b.label, b.element, b.fract, b.occupancy)
        assert a.u_iso == pytest.approx(b.u_iso, rel=1e-9)


def read_cif_text(text: str) -> Crystal:
    from lacbed_bridge.crystal.cif import crystal_from_block

    return crystal_from_block(_block(text))


@pytest.mark.parametrize("hm", ["F -4 3 m", "F d -3 m", "P 63/m m c", "R -3 m", "P n m a", "I 41/a m d", "P 21/c"])
def test_symops_parse_under_felix_rules_to_the_same_operations(hm: str) -> None:
    """What Felix's hand-written parser makes of every written operation is the operation itself."""
    crystal = Crystal("t", (4.0, 4.0, 6.0, 90.0, 90.0, 120.0), hm, (Site("A1", "Si", (0.1, 0.2, 0.3)),))
    written = felix_symops(crystal)
    expected = list(gemmi.find_spacegroup_by_name(hm).operations())
    assert len(written) == len(expected) > 0
    assert [_felix_parse_op(text) for text in written] == expected


def test_crystal_without_symops_or_formula() -> None:
    """Rock salt from its H-M name alone: 192 operations; formula from the cell content."""
    crystal = Crystal("NaCl", (5.64, 5.64, 5.64, 90.0, 90.0, 90.0), "F m -3 m",
                      (Site("Na1", "Na", (0.0, 0.0, 0.0), u_iso=0.01), Site("Cl1", "Cl", (0.5, 0.5, 0.5), u_iso=0.01)))
    block = _block(felix_cif_text(crystal))
    assert len(block.find_loop("_symmetry_equiv_pos_as_xyz")) == 192
    assert _value(block, "_chemical_formula_structural") == "Na Cl"
    assert int(block.find_value("_symmetry_Int_Tables_number")) == 225
    assert float(block.find_value("_cell_volume")) == pytest.approx(5.64**3, rel=1e-12)
    b = [float(v) for v in block.find_loop("_atom_site_B_iso_or_equiv")]
    assert b == pytest.approx([8 * math.pi**2 * 0.01] * 2, rel=1e-9)
    perovskite = Crystal("STO", (3.905,) * 3 + (90.0,) * 3, "P m -3 m",
                         (Site("Sr1", "Sr", (0, 0, 0)), Site("Ti1", "Ti", (0.5, 0.5, 0.5)), Site("O1", "O", (0.5, 0.5, 0))))
    assert felix_formula_text(perovskite) == "Sr Ti O3"


def test_charged_crystals_are_refused() -> None:
    crystal = _reference_crystal()
    ga, as_ = crystal.sites
    # P_v at the neutral valence is a neutral atom: accepted
    neutral = crystal.with_sites((replace(ga, pv=neutral_valence("Ga")), replace(as_, pv=neutral_valence("As"))))
    assert "Ga1 Ga" in felix_cif_text(neutral)
    charged = crystal.with_sites((replace(ga, pv=neutral_valence("Ga") - 0.5), as_))
    with pytest.raises(InputError, match=r"Ga1.*valence population.*no charges"):
        felix_cif_text(charged)
    expanded = crystal.with_sites((ga, replace(as_, kappa=1.02)))
    with pytest.raises(InputError, match=r"As1.*kappa"):
        felix_cif_text(expanded)
    ion = crystal.with_sites((replace(ga, element="Ga3+"), as_))
    with pytest.raises(InputError, match="not an element"):
        felix_cif_text(ion)


def test_empty_sites_are_left_out_and_long_formulas_refused() -> None:
    crystal = _reference_crystal()
    ga, as_ = crystal.sites
    with_empty = crystal.with_sites((ga, as_, Site("Zn1", "Zn", (0.5, 0.5, 0.5), occupancy=0.0)))
    labels = [gemmi.cif.as_string(v) for v in _block(felix_cif_text(with_empty)).find_loop("_atom_site_label")]
    assert labels == ["Ga1", "As1"]  # Felix would read occupancy 0 as 1
    long = replace(crystal, formula="Ga As " * 8)
    with pytest.raises(InputError, match="32"):
        felix_cif_text(long)


def test_b_iso_is_8_pi_squared_u() -> None:
    crystal = _reference_crystal()
    values = [float(v) for v in _block(felix_cif_text(crystal)).find_loop("_atom_site_B_iso_or_equiv")]
    assert values == pytest.approx([8 * math.pi**2 * s.u_iso for s in crystal.sites], rel=1e-9)
    assert np.allclose(values, [0.5854, 0.3528])


def test_lines_fit_felix_cif_reader() -> None:
    """CIFtbx reads at most 80 characters per line: awkward floats and long names still fit."""
    crystal = Crystal("F-43m_zincblende_000123", (5.6532512345678901, 5.6532512345678901, 5.6532512345678901, 90.0, 90.0, 90.0),
                      "F -4 3 m", (Site("Ga1", "Ga", (1 / 3, 2 / 3, 0.123456789012345), 0.987654321987, 0.0123456789012),
                                   Site("As1", "As", (0.25, 0.25, 0.25), u_iso=0.004)))
    text = felix_cif_text(crystal)
    assert max(len(line) for line in text.splitlines()) <= 80
    block = _block(text)
    x = [float(v) for v in block.find_loop("_atom_site_fract_x")]
    assert x[0] == pytest.approx(1 / 3, rel=1e-9)  # far beyond Felix's single precision
    long_label = crystal.with_sites((replace(crystal.sites[0], label="Ga" + "x" * 60), crystal.sites[1]))
    with pytest.raises(InputError, match="80 characters"):
        felix_cif_text(long_label)
