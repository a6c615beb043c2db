"""Prototypes and variants of any crystal system (lattice.py, free coordinates, per-entry loading)."""

from __future__ import annotations

import math
from pathlib import Path

import gemmi
import numpy as np
import pytest
import yaml

from lacbed_bridge.crystal.cif import read_cif, write_cif
from lacbed_bridge.crystal.lattice import cell_from, cell_volume, free_parameters, lattice_system
from lacbed_bridge.crystal.prototypes import DEFAULT_PROTOTYPES, Coordinate, _coordinate, load_prototype, load_prototypes
from lacbed_bridge.crystal.variants import generate_family
from lacbed_bridge.errors import ConfigError, InputError

SHIPPED = {  # key: (atoms per cell, formula, lattice system)
    "wurtzite": (4, "Ga N", "hexagonal"),
    "rutile": (6, "Ti O2", "tetragonal"),
    "corundum": (30, "Al2 O3", "hexagonal"),
}


@pytest.mark.parametrize(
    ("name", "free", "system"),
    [
        ("F -4 3 m", ("a",), "cubic"),
        ("P 42/m n m", ("a", "c"), "tetragonal"),
        ("P 63 m c", ("a", "c"), "hexagonal"),
        ("R -3 c:H", ("a", "c"), "hexagonal"),
        ("R -3 c:R", ("a", "alpha"), "rhombohedral"),
        ("P b n m", ("a", "b", "c"), "orthorhombic"),
        ("P 1 21/c 1", ("a", "b", "c", "beta"), "monoclinic"),
        ("C 1 2/m 1", ("a", "b", "c", "beta"), "monoclinic"),
        ("P 1 1 21/b", ("a", "b", "c", "gamma"), "monoclinic"),
        ("P -1", ("a", "b", "c", "alpha", "beta", "gamma"), "triclinic"),
    ],
)
def test_free_cell_parameters_and_the_cell_fit_gemmi(name: str, free: tuple[str, ...], system: str) -> None:
    sg = gemmi.find_spacegroup_by_name(name)
    assert lattice_system(sg) == system
    assert free_parameters(sg) == free
    values = dict(zip(("a", "b", "c", "alpha", "beta", "gamma"), (4.1, 5.3, 6.7, 84.0, 97.0, 101.0), strict=True))
    cell = cell_from(sg, values)
    # gemmi agrees that the cell built from the free values has the lattice of the group
    assert gemmi.UnitCell(*cell).is_compatible_with_spacegroup(sg, 1e-6)
    assert cell_volume(cell) == pytest.approx(gemmi.UnitCell(*cell).volume, rel=1e-12)
    # and a cell that breaks the lattice's rule is refused by gemmi (so the check can fail)
    if system != "triclinic":
        broken = list(cell)
        broken[1 if system in ("cubic", "tetragonal", "hexagonal") else 3] *= 1.05
        assert not gemmi.UnitCell(*broken).is_compatible_with_spacegroup(sg, 1e-3)


def test_cubic_volume_is_a_cubed_to_the_last_bit() -> None:
    for a in (5.65325, 4.212, 8.0832):
        assert cell_volume((a, a, a, 90.0, 90.0, 90.0)) == a**3


@pytest.mark.parametrize(
    ("text", "free", "value"),
    [("1/2+u", {"u": 0.38}, 0.88), ("-x", {"x": 0.3}, -0.3), ("2x", {"x": 0.1}, 0.2), ("1/2-z", {"z": 0.1}, 0.4),
     ("3/4", {}, 0.75), ("0.25", {}, 0.25), ("x+1/3", {"x": 0.0}, 1 / 3), ("2*x-1/4", {"x": 0.5}, 0.75)],
)
def test_coordinate_expressions(text: str, free: dict[str, float], value: float) -> None:
    coordinate = _coordinate(text, "e.sites[0].fract", Path("p.yaml"), free)
    assert isinstance(coordinate, Coordinate)
    assert coordinate.value(free) == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize("text", ["u*", "++u", "1/2+", "y", "u^2", "1/0", "", "a/4"])
def test_bad_coordinate_expressions_name_the_field(text: str) -> None:
    with pytest.raises(InputError) as info:
        _coordinate(text, "e.sites[0].fract", Path("p.yaml"), {"u": 0.3})
    assert info.value.field == "e.sites[0].fract" and info.value.path == "p.yaml"


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_shipped_noncubic_prototypes_through_plain_gemmi(key: str, tmp_path: Path) -> None:
    """Cell contents, lattice and formula counted by gemmi's own reading of the written CIF."""
    atoms, formula, system = SHIPPED[key]
    proto = load_prototypes()[key]
    crystal = proto.crystal()
    assert crystal.formula == formula
    assert lattice_system(proto.gemmi_spacegroup()) == system
    path = tmp_path / f"{key}.cif"
    write_cif(crystal, path)
    ss = gemmi.read_small_structure(str(path))
    assert ss.cell.is_compatible_with_spacegroup(proto.gemmi_spacegroup(), 1e-6)
    assert len(ss.get_all_unit_cell_sites()) == atoms == len(crystal.unit_cell_atoms())
    assert ss.cell.volume == pytest.approx(crystal.volume, rel=1e-9)
    # every site sits on the Wyckoff position its symbol names: image count = multiplicity
    counts = [0] * len(proto.sites)
    for index, _ in crystal.unit_cell_atoms(tol=1e-4):
        counts[index] += 1
    assert counts == [s.multiplicity for s in proto.sites]


def test_wurtzite_positions_and_per_compound_values() -> None:
    proto = load_prototypes()["wurtzite"]
    aln = proto.reference({"A": "Al", "N": "N"})
    assert (aln["a"], aln["c"], aln["u"]) == (3.112, 4.982, 0.3821)
    inn = proto.reference({"A": "In", "N": "N"})
    assert (inn["a"], inn["c"], inn["u"]) == (3.545, 5.703, 0.377)  # u: the prototype's
    crystal = proto.crystal({"A": "Al"})
    assert crystal.sites[1].fract == (1 / 3, 2 / 3, 0.3821)
    assert crystal.cell == (3.112, 3.112, 4.982, 90.0, 90.0, 120.0)
    # a moves c with it (c/a kept); `values` sets any free value
    scaled = proto.crystal({"A": "Al"}, a=3.2)
    assert scaled.cell[2] / scaled.cell[0] == pytest.approx(4.982 / 3.112, rel=1e-12)
    assert proto.crystal(values={"u": 0.39}).sites[1].fract[2] == 0.39


def _family(**extra: object) -> dict:
    return {"name": "w", "prototype": "wurtzite", "n_variants": 12, "seed": 7, **extra}


def test_noncubic_family_samples_c_over_a_and_u(tmp_path: Path) -> None:
    family = _family(cell_scale={"c": [0.98, 1.02]}, coordinates={"u": [0.37, 0.39]}, elements={"A": ["Ga"]})
    out = generate_family(family, 0)
    ratios, us = [], []
    for crystal, row in out:
        a, b, c, alpha, beta, gamma = crystal.cell
        assert (b, alpha, beta, gamma) == (a, 90.0, 90.0, 120.0)
        assert (row["a"], row["b"], row["c"], row["gamma"]) == (a, b, c, 120.0)
        assert 3.189 * 0.97 <= a <= 3.189 * 1.03
        ratios.append(c / a)
        us.append(row["coord_u"])
        assert crystal.sites[1].fract[2] == row["coord_u"]
        assert crystal.volume == pytest.approx(gemmi.UnitCell(*crystal.cell).volume, rel=1e-12)
        # the CIF round trip keeps the hexagonal cell and the four atoms
        path = tmp_path / f"{crystal.name}.cif"
        write_cif(crystal, path)
        back = read_cif(path)
        assert back.cell == crystal.cell and len(back.unit_cell_atoms()) == 4
        # the charge model works the same: Ga gives δ, N takes it
        assert row["pv_A"] == pytest.approx(3 - row["delta"]) and row["pv_N"] == pytest.approx(5 + row["delta"])
    c_over_a = 5.185 / 3.189
    assert min(ratios) >= c_over_a * 0.98 - 1e-6 and max(ratios) <= c_over_a * 1.02 + 1e-6
    assert np.ptp(ratios) > 0.005 * c_over_a, "c/a varies"
    assert min(us) >= 0.37 and max(us) <= 0.39 and np.ptp(us) > 0.005
    # deterministic, and the sampled cell does not change the cubic-style draws before it
    again = generate_family(family, 0)
    assert [r for _, r in again] == [r for _, r in out]
    plain = generate_family(_family(elements={"A": ["Ga"]}), 0)
    for (_, row), (_, ref) in zip(out, plain, strict=True):
        assert (row["lattice_scale"], row["u_iso_A"], row["delta"]) == (ref["lattice_scale"], ref["u_iso_A"], ref["delta"])
        assert ref["c"] / ref["a"] == pytest.approx(c_over_a, rel=1e-6) and ref["coord_u"] == 0.377


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"cell_scale": {"b": [0.99, 1.01]}}, "families[w].cell_scale", "not free in the hexagonal cell"),
        ({"coordinates": {"x": [0.3, 0.31]}}, "families[w].coordinates", "unknown free coordinate"),
        ({"coordinates": {"u": [0.39, 0.37]}}, "families[w].coordinates.u", "lower end above the upper end"),
    ],
)
def test_bad_family_ranges_name_the_key(extra: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        generate_family(_family(**extra), 0)
    assert info.value.field == field and words in str(info.value)


def test_a_coordinate_range_reaching_a_special_position_is_refused() -> None:
    """Rutile O at (x, x, 0) is on 4f; x = 0 puts it on the 2a site of Ti (2 images, not 4)."""
    family = {"name": "r", "prototype": "rutile", "n_variants": 2, "coordinates": {"x": [0.0, 0.31]}}
    with pytest.raises(ConfigError) as info:
        generate_family(family, 0)
    assert info.value.field == "families[r].coordinates.x"
    assert "x = 0.0" in str(info.value) and "has 2 images" in str(info.value)


def test_one_bad_entry_fails_only_the_families_that_use_it(tmp_path: Path) -> None:
    entries = yaml.safe_load(DEFAULT_PROTOTYPES.read_text())
    bad = dict(entries["wurtzite"])
    bad.pop("c")
    path = tmp_path / "protos.yaml"
    path.write_text(yaml.safe_dump({"zincblende": entries["zincblende"], "wurtzite": bad}))
    good = generate_family({"name": "z", "prototype": "zincblende", "n_variants": 2, "prototypes_file": str(path)}, 0)
    assert len(good) == 2
    with pytest.raises(InputError) as info:
        generate_family({"name": "w", "prototype": "wurtzite", "n_variants": 2, "prototypes_file": str(path)}, 0)
    assert info.value.field == "wurtzite" and "missing key 'c'" in str(info.value) and "needs a, c" in str(info.value)
    assert info.value.path == str(path)
    assert load_prototype("zincblende", path).key == "zincblende"
    with pytest.raises(InputError, match="unknown prototype 'rutile'"):
        load_prototype("rutile", path)


def test_cubic_variants_keep_their_cell_and_volume() -> None:
    for crystal, row in generate_family({"name": "z", "prototype": "zincblende", "n_variants": 3}, 0):
        a = row["a"]
        assert crystal.cell == (a, a, a, 90.0, 90.0, 90.0) and crystal.cell_volume == a**3
        assert math.isclose(row["c"], a) and "coord_u" not in row
