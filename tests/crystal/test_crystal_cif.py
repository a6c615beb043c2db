"""CIF reading and writing (crystal/cif.py): real files, round trips through gemmi, bad input."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import gemmi
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lacbed_bridge.cli import main
from lacbed_bridge.crystal.cif import cif_text, parse_number, read_cif, write_cif
from lacbed_bridge.crystal.model import Crystal, Site
from lacbed_bridge.errors import InputError

DATA = Path(__file__).resolve().parent / "data"

NACL = DATA / "NaCl_modern_items.cif"
SRTIO3 = DATA / "SrTiO3_kappa_no_symops.cif"


# ----- real files --------------------------------------------------------------------------------
def test_reference_felix_cif(reference_cif: Path) -> None:
    crystal = read_cif(reference_cif)
    assert crystal.name == "GaAs_F-43m"
    assert crystal.cell == (5.65325, 5.65325, 5.65325, 90.0, 90.0, 90.0)
    assert crystal.cell_volume == 180.55
    assert crystal.spacegroup == "F -4 3 m"
    assert len(crystal.symops) == 96
    assert crystal.formula == "Ga As"  # structural preferred over sum ('As1 Ga1')
    assert [(s.label, s.element) for s in crystal.sites] == [("Ga1", "Ga"), ("As1", "As")]
    # B_iso 0.5854 / 0.3528 Å² in the file -> U = B / (8 pi^2)
    assert crystal.sites[0].u_iso == pytest.approx(0.5854 / (8 * math.pi**2), rel=1e-12)
    assert crystal.sites[1].b_iso == pytest.approx(0.3528, rel=1e-12)
    assert all(s.pv is None and s.kappa == 1.0 and s.occupancy == 1.0 for s in crystal.sites)
    atoms = crystal.unit_cell_atoms()
    assert len(atoms) == 8
    assert sorted(crystal.sites[i].element for i, _ in atoms) == ["As"] * 4 + ["Ga"] * 4


def test_reference_expansion_matches_gemmi(reference_cif: Path) -> None:
    """Our symmetry expansion and gemmi's give the same positions."""
    crystal = read_cif(reference_cif)
    ours = sorted((crystal.sites[i].element, *map(lambda v: round(v, 9), p)) for i, p in crystal.unit_cell_atoms())
    ss = gemmi.read_small_structure(str(reference_cif))
    theirs = sorted(
        (s.element.name, *(round(v % 1.0, 9) % 1.0 for v in (s.fract.x, s.fract.y, s.fract.z)))
        for s in ss.get_all_unit_cell_sites()
    )
    assert ours == theirs


def test_modern_spellings_charges_and_uncertainties() -> None:
    crystal = read_cif(NACL)
    assert crystal.cell[:3] == (5.6402, 5.6402, 5.6402)  # "5.6402(3)": s.u. dropped
    assert crystal.spacegroup == "F m -3 m"  # _space_group_name_H-M_alt
    assert len(crystal.symops) == 192  # _space_group_symop_operation_xyz
    assert crystal.formula == "Cl Na"  # only _chemical_formula_sum given
    assert crystal.cell_volume is None
    assert [s.element for s in crystal.sites] == ["Na", "Cl"]  # Na1+ / Cl1- stripped
    assert crystal.sites[0].u_iso == 0.0152
    assert crystal.sites[1].occupancy == 1.0  # '.' -> default
    assert len(crystal.unit_cell_atoms()) == 8


def test_no_symops_kappa_items_and_blocks() -> None:
    with pytest.raises(InputError, match="2 data blocks .SrTiO3_first, SrTiO3_second.; expected one crystal"):
        read_cif(SRTIO3)  # never silently the first of several crystals
    first = read_cif(SRTIO3, block="SrTiO3_first")
    assert first.name == "SrTiO3_first"
    assert first.symops == ()
    assert len(first.operations()) == 48  # from the H-M name through gemmi
    assert [s.element for s in first.sites] == ["Sr", "Ti", "O"]  # from the labels
    assert [s.pv for s in first.sites] == [1.6, 3.8, None]
    assert [s.kappa for s in first.sites] == [0.98, 1.02, 1.0]
    assert first.sites[2].u_iso == pytest.approx(0.60 / (8 * math.pi**2))
    second = read_cif(SRTIO3, block="SrTiO3_second")
    assert second.cell[0] == 3.95
    assert all(s.pv is None and s.kappa == 1.0 and s.u_iso == 0.0 for s in second.sites)
    with pytest.raises(InputError, match="SrTiO3_first, SrTiO3_second"):
        read_cif(SRTIO3, block="nope")


@pytest.mark.parametrize(
    ("text", "value"),
    [("5.6532(3)", 5.6532), ("-0.25", -0.25), (".5", 0.5), ("1e-3", 1e-3), ("2.0E+1(12)", 20.0), ("90", 90.0)],
)
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["5.65x", "(3)", "1/2", "", "1.0(3", "nan"])
def test_parse_number_rejects(text: str) -> None:
    with pytest.raises(InputError, match="expected a number"):
        parse_number(text, item="_cell_length_a")


# ----- writing and round trips -------------------------------------------------------------------
def test_round_trip_reference(reference_cif: Path, tmp_path: Path) -> None:
    crystal = read_cif(reference_cif)
    out = tmp_path / "GaAs.cif"
    write_cif(crystal, out)
    assert read_cif(out) == crystal
    assert out.read_text() == cif_text(read_cif(out))  # write -> read -> write is stable
    assert not [p for p in tmp_path.iterdir() if p.name != "GaAs.cif"]  # no temporary left over


def test_written_file_readable_by_plain_gemmi(tmp_path: Path) -> None:
    crystal = read_cif(SRTIO3, block="SrTiO3_first")
    out = tmp_path / "SrTiO3.cif"
    write_cif(crystal, out)
    text = out.read_text()
    assert "_atom_site_pv" in text and "_atom_site_kappa" in text
    assert len(re.findall(r"^\d+ ", text, flags=re.M)) == 48  # full symop loop written
    ss = gemmi.read_small_structure(str(out))
    assert [(s.label, s.element.name) for s in ss.sites] == [("Sr1", "Sr"), ("Ti1", "Ti"), ("O1", "O")]
    assert ss.cell.a == 3.905
    assert ss.sites[2].u_iso == pytest.approx(crystal.sites[2].u_iso, rel=1e-15)
    assert len(ss.get_all_unit_cell_sites()) == 5
    again = read_cif(out)
    assert again.sites == crystal.sites
    assert again.symops == tuple(op.triplet() for op in gemmi.find_spacegroup_by_name("P m -3 m").operations())


def test_no_charge_columns_without_charges() -> None:
    text = cif_text(read_cif(NACL))
    assert "_atom_site_pv" not in text and "_atom_site_kappa" not in text


_SPACEGROUPS = ["P 1", "P -1", "P 21/c", "C m c m", "P 4/m m m", "R -3 m:H", "F d -3 m:2", "I m -3 m", "P 63/m m c"]
_ELEMENTS = ["H", "C", "O", "Na", "Si", "Ti", "Ga", "As", "Sr", "Ba", "W", "U"]
_finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def crystals(draw: st.DrawFn) -> Crystal:
    sg = gemmi.find_spacegroup_by_name(draw(st.sampled_from(_SPACEGROUPS)))
    n_sites = draw(st.integers(1, 4))
    charged = draw(st.booleans())
    sites = []
    for i in range(n_sites):
        sites.append(
            Site(
                label=f"{draw(st.sampled_from('ABXYZ'))}{i}",
                element=draw(st.sampled_from(_ELEMENTS)),
                fract=tuple(draw(st.floats(-1.0, 1.0, **_finite)) for _ in range(3)),
                occupancy=draw(st.floats(0.0, 1.0, **_finite)),
                u_iso=draw(st.floats(0.0, 0.1, **_finite)),
                pv=draw(st.one_of(st.none(), st.floats(0.0, 2.0, **_finite))) if charged else None,
                kappa=draw(st.floats(0.5, 1.5, **_finite)) if charged else 1.0,
            )
        )
    # what read_cif refuses: an empty cell, two atoms on one spot (occupancies adding up to > 1)
    assume(any(s.occupancy > 0 for s in sites))
    spots: dict[tuple[int, ...], float] = {}
    for s in sites:
        key = tuple(int(round((c % 1.0) * 1e4)) % 10_000 for c in s.fract)
        spots[key] = spots.get(key, 0.0) + s.occupancy
    assume(all(total <= 1.0 for total in spots.values()))
    # a cell the space group allows (read_cif refuses one that contradicts it), 3–60 Å
    lengths = [draw(st.floats(3.0, 60.0, **_finite)) for _ in range(3)]
    angles = [draw(st.floats(60.0, 120.0, **_finite)) for _ in range(3)]
    system = sg.crystal_system_str()
    if system in ("cubic",):
        lengths, angles = [lengths[0]] * 3, [90.0] * 3
    elif system == "tetragonal":
        lengths, angles = [lengths[0], lengths[0], lengths[2]], [90.0] * 3
    elif system in ("hexagonal", "trigonal"):
        lengths, angles = [lengths[0], lengths[0], lengths[2]], [90.0, 90.0, 120.0]
    elif system == "orthorhombic":
        angles = [90.0] * 3
    elif system == "monoclinic":
        angles = [90.0, angles[1], 90.0]
    cell = gemmi.UnitCell(*lengths, *angles)
    assume(cell.volume > 0)
    draft = Crystal(name="x", cell=(*lengths, *angles), spacegroup=sg.hm, sites=tuple(sites),
                    symops=tuple(op.triplet() for op in sg.operations()))
    assume(cell.volume > len(draft.unit_cell_atoms()))  # ≥ 1 Å³ per atom, as read_cif asks
    return Crystal(
        name=draw(st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,12}", fullmatch=True)),
        cell=(*lengths, *angles),
        spacegroup=sg.hm,
        sites=tuple(sites),
        symops=tuple(op.triplet() for op in sg.operations()),
        formula=draw(st.from_regex(r"[A-Za-z0-9 ()']{0,20}", fullmatch=True)).strip(),
        cell_volume=draw(st.one_of(st.none(), st.floats(1.0, 1e5, **_finite))),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crystal=crystals())
def test_round_trip_random(crystal: Crystal, tmp_path: Path) -> None:
    """read(write(c)) == c for random cells and sites, and plain gemmi reads the same atoms."""
    out = tmp_path / "random.cif"
    write_cif(crystal, out)
    assert read_cif(out) == crystal
    ss = gemmi.read_small_structure(str(out))
    assert [(s.label, s.element.name, s.occ) for s in ss.sites] == [(s.label, s.element, s.occupancy) for s in crystal.sites]
    assert [s.fract.tolist() for s in ss.sites] == [list(s.fract) for s in crystal.sites]


def test_write_rejects_unknown_element(tmp_path: Path) -> None:
    crystal = read_cif(NACL)
    bad = crystal.with_sites((Site("Q1", "Qq", (0.0, 0.0, 0.0)),))
    with pytest.raises(InputError, match="unknown element"):
        write_cif(bad, tmp_path / "bad.cif")
    assert not list(tmp_path.iterdir())


# ----- broken input ------------------------------------------------------------------------------
def _drop_symops(text: str) -> str:
    return re.sub(r"loop_\n_space_group_symop_id\n_space_group_symop_operation_xyz\n(?:\d+ '.*'\n)+", "", text)


BROKEN = {
    "missing_cell_item": (lambda t: re.sub(r"_cell_length_b .*\n", "", t), "_cell_length_b", "missing cell item"),
    "unknown_element": (lambda t: t.replace("Cl1-", "Xx1-"), "_atom_site_type_symbol", "unknown element"),
    "no_sites": (lambda t: t[: t.rindex("loop_")], "_atom_site_label", "no atom sites"),
    "occupancy_above_1": (lambda t: t.replace("0.0152(4) 1.0", "0.0152(4) 1.2"), "_atom_site_occupancy", "outside"),
    "occupancy_negative": (lambda t: t.replace("0.0152(4) 1.0", "0.0152(4) -0.1"), "_atom_site_occupancy", "outside"),
    "unparsable_number": (lambda t: t.replace("_cell_length_a 5.6402(3)", "_cell_length_a 5.64o2"), "_cell_length_a", "expected a number"),
    "unparsable_coordinate": (lambda t: t.replace("Cl1- 0.5", "Cl1- half"), "_atom_site_fract_x", "expected a number"),
    "not_a_cif": (lambda t: "This is a text file, not a CIF.\n'unterminated\n", None, "not a readable CIF"),
    "unknown_spacegroup": (
        lambda t: _drop_symops(t).replace("'F m -3 m'", "'Q 9 9'"),
        "_space_group_name_H-M_alt",
        "unknown space group",
    ),
    "no_spacegroup": (lambda t: _drop_symops(t).replace("_space_group_name_H-M_alt 'F m -3 m'\n", ""), "_symmetry_space_group_name_H-M", "no space group"),
    "bad_symop": (lambda t: t.replace("'x, y, z'", "'x, y, q'"), "_space_group_symop_operation_xyz", "not a symmetry operation"),
    "negative_length": (lambda t: t.replace("_cell_length_c 5.6402(3)", "_cell_length_c -5.6"), "_cell_length_c", "> 0"),
    # issue #11 item 2: non-finite numbers, an empty cell, two atoms on one spot, a second crystal
    "infinite_coordinate": (lambda t: t.replace("Cl1- 0.5", "Cl1- 1e999"), "_atom_site_fract_x", "finite"),
    "infinite_length": (lambda t: t.replace("_cell_length_a 5.6402(3)", "_cell_length_a 1e999"), "_cell_length_a", "finite"),
    "infinite_volume": (lambda t: t.replace("_cell_length_a 5.6402(3)", "_cell_length_a 5.6402(3)\n_cell_volume 1e999"),
                        "_cell_volume", "finite"),
    "empty_cell": (lambda t: t.replace("0.0152(4) 1.0", "0.0152(4) 0").replace("0.0127(3) .", "0.0127(3) 0.0"),
                   "_atom_site_occupancy", "occupancy 0"),
    "duplicate_atom": (lambda t: t + "Na2 Na 1.0 0.0 -0.0 0.01 1.0\n", "_atom_site_fract_x", "one position"),
    "second_block": (lambda t: t + "\ndata_another\n_cell_length_a 4.0\n", "data_", "2 data blocks"),
}


@pytest.fixture(params=sorted(BROKEN))
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str | None, str]:
    mutate, field, message = BROKEN[request.param]
    good = NACL.read_text()
    text = mutate(good)
    assert text != good, "the mutation must change the file"
    path = tmp_path / f"{request.param}.cif"
    path.write_text(text)
    return path, field, message


def test_broken_input_raises(broken: tuple[Path, str | None, str]) -> None:
    path, field, message = broken
    with pytest.raises(InputError) as info:
        read_cif(path)
    assert info.value.path == str(path)
    assert info.value.field == field
    assert message in str(info.value)


def test_broken_input_cli(broken: tuple[Path, str | None, str], capsys: pytest.CaptureFixture[str]) -> None:
    path, field, message = broken
    assert main(["cif-check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert str(path) in lines[0] and message in lines[0]
    if field:
        assert field in lines[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_cif(tmp_path / "absent.cif")


def test_cif_check_cli_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cif-check", str(NACL)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "F m -3 m" in out[0] and "Cl4 Na4" in out[0]


def test_a_mixed_site_may_share_a_position(tmp_path: Path) -> None:
    """Two species sharing a site (occupancies adding up to ≤ 1) are a mixed site, not a duplicate."""
    text = NACL.read_text().replace("Na1 Na1+ 0.0 0.0 0.0 0.0152(4) 1.0", "Na1 Na1+ 0.0 0.0 0.0 0.0152(4) 0.6\nK1 K1+ 1.0 0.0 0.0 0.0152(4) 0.4")
    path = tmp_path / "mixed.cif"
    path.write_text(text)
    crystal = read_cif(path)
    assert [s.occupancy for s in crystal.sites] == [0.6, 0.4, 1.0]


# ----- physically impossible crystals (issue #25 item 7) ------------------------------------------
@pytest.mark.parametrize(("edit", "field", "message"), [
    (lambda t: re.sub(r"_cell_angle_gamma \S+", "_cell_angle_gamma 179.9", t), "_cell_length_a", "contradicts the space group"),
    (lambda t: re.sub(r"_cell_length_([abc]) 5\.6\d*", r"_cell_length_\1 0.05", t), "_cell_length_a", "below 1 Å"),
    (lambda t: _site_value(t, 5, "1e300"), "_atom_site_U_iso_or_equiv", r"U_iso 1e\+300"),
    (lambda t: _site_value(t, 6, "1000000"), "_atom_site_pv", r"P_v 1e\+06"),
    (lambda t: _site_value(t, 7, "7.5"), "_atom_site_kappa", "κ 7.5"),
])
def test_a_crystal_no_beam_can_go_through_is_refused(edit, field: str, message: str, tmp_path: Path) -> None:
    crystal = read_cif(NACL)
    charged = crystal.with_sites(tuple(replace(s, pv=s.pv if s.pv is not None else 1.0, kappa=1.0) for s in crystal.sites))
    text = cif_text(charged)
    bad = tmp_path / "bad.cif"
    bad.write_text(edit(text))
    assert bad.read_text() != text
    with pytest.raises(InputError, match=message) as err:
        read_cif(bad)
    assert f"{bad}: {field}" in str(err.value)


def _site_value(text: str, column: int, value: str) -> str:
    """Replace one column of the first atom-site row (label, type, x, y, z, U, pv, kappa, occupancy…)."""
    lines = text.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("_atom_site_")]
    names = [lines[i].strip() for i in header]
    wanted = ["_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z",
              "_atom_site_U_iso_or_equiv", "_atom_site_pv", "_atom_site_kappa"][column]
    row = header[-1] + 1
    cells = lines[row].split()
    cells[names.index(wanted)] = value
    lines[row] = " ".join(cells)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("cell", "name", "setting"), [
    ((5.0, 5.0, 5.0, 60.0, 60.0, 60.0), "R -3 m:R", "R -3 m:R"),  # rhombohedral axes, named or by operations
    ((5.0, 6.0, 7.0, 90.0, 90.0, 100.0), "P 21/c", "P 1 1 21/b"),  # monoclinic, unique axis c
])
def test_valid_cells_in_other_settings_are_read(cell, name: str, setting: str, tmp_path: Path) -> None:
    """The physical check takes the space group in the CIF's own setting (its operations)."""
    sg = gemmi.find_spacegroup_by_name(setting)
    crystal = Crystal("x", cell, name, (Site("Na1", "Na", (0.1, 0.2, 0.3), 1.0, 0.005),),
                      tuple(op.triplet() for op in sg.operations()))
    write_cif(crystal, tmp_path / "x.cif")
    assert read_cif(tmp_path / "x.cif").cell == cell
