"""Prototype structures (felix_inputs/prototypes.yaml and crystal/prototypes.py)."""

from __future__ import annotations

from pathlib import Path

import gemmi
import pytest
import yaml

from lacbed_bridge.crystal.cif import cif_text, write_cif
from lacbed_bridge.crystal.prototypes import DEFAULT_PROTOTYPES, load_prototypes
from lacbed_bridge.errors import InputError


@pytest.fixture(scope="module")
def prototypes():
    return load_prototypes()


def test_required_structure_types_present(prototypes) -> None:
    numbers = {p.number for p in prototypes.values()}
    assert len(numbers) >= 9
    systems = {p.gemmi_spacegroup().crystal_system_str() for p in prototypes.values()}
    assert {"cubic", "hexagonal", "tetragonal", "trigonal"} <= systems
    assert prototypes["wurtzite"].number == 186 and prototypes["rutile"].number == 136
    assert prototypes["zincblende"].spacegroup == "F -4 3 m"
    assert prototypes["rocksalt"].spacegroup == "F m -3 m"
    assert prototypes["fluorite"].spacegroup == "F m -3 m"
    assert prototypes["perovskite"].spacegroup == "P m -3 m"
    assert prototypes["spinel"].number == 227
    assert any(p.spacegroup.startswith("I") for p in prototypes.values())  # a body-centred group
    zb = prototypes["zincblende"]
    assert set(zb.sites[0].elements) == {"Ga", "Al", "In"} and set(zb.sites[1].elements) == {"As", "P", "Sb"}
    assert {s.role for s in zb.sites} == {"cation", "anion"}


def test_gaas_from_prototype_matches_reference(prototypes) -> None:
    gaas = prototypes["zincblende"].crystal({"A": "Ga", "B": "As"})
    assert gaas.cell[0] == 5.65325
    assert gaas.formula == "Ga As"
    assert len(gaas.unit_cell_atoms()) == 8


@pytest.mark.parametrize(
    ("key", "atoms", "formula"),
    [
        ("zincblende", 8, "Ga As"),
        ("rocksalt", 8, "Mg O"),
        ("fluorite", 12, "Ca F2"),
        ("perovskite", 5, "Sr Ti O3"),
        ("spinel", 56, "Mg Al2 O4"),
        ("diamond", 8, "Si"),
        ("cesium_chloride", 2, "Cs Cl"),
        ("cuprite", 6, "O Cu2"),
        ("bcc", 2, "W"),
    ],
)
def test_cell_content_through_plain_gemmi(prototypes, key: str, atoms: int, formula: str, tmp_path: Path) -> None:
    """Textbook cell contents, counted by gemmi's own symmetry expansion of the written CIF."""
    crystal = prototypes[key].crystal()
    assert crystal.formula == formula
    path = tmp_path / f"{key}.cif"
    write_cif(crystal, path)
    ss = gemmi.read_small_structure(str(path))
    assert len(ss.get_all_unit_cell_sites()) == atoms
    assert len(crystal.unit_cell_atoms()) == atoms


def test_spinel_oxygen_u_and_setting(prototypes) -> None:
    spinel = prototypes["spinel"]
    assert spinel.gemmi_name == "F d -3 m:2"
    assert spinel.sites[2].position({}) == (0.2624, 0.2624, 0.2624)
    # origin choice 2: inversion centre at the origin
    assert "-x,-y,-z" in spinel.symops()


def test_written_cif_names_the_setting(prototypes) -> None:
    """The Hall symbol written beside the H-M name fixes the origin choice for name-only readers."""
    text = cif_text(prototypes["spinel"].crystal())
    hall = gemmi.find_spacegroup_by_name("F d -3 m:2").hall
    assert f"_symmetry_space_group_name_Hall '{hall}'" in text
    assert gemmi.find_spacegroup_by_name("F d -3 m:1").hall not in text


def test_every_compound_value_is_used(prototypes) -> None:
    """A listed compound's own cell (and free coordinates) are its reference, exactly."""
    for proto in prototypes.values():
        for compound in proto.compounds:
            assert proto.reference_a(compound.as_dict()) == compound.a
            reference = proto.reference(compound.as_dict())
            for name, value in compound.values:
                assert reference[name] == value, (proto.key, compound.elements, name)


def test_additive_estimate(prototypes) -> None:
    """SrZrO3 (not listed) = SrTiO3 + BaZrO3 − BaTiO3 (additive site contributions)."""
    perov = prototypes["perovskite"]
    a = {tuple(c.as_dict()[k] for k in ("A", "B")): c.a for c in perov.compounds}
    expected = a[("Sr", "Ti")] + a[("Ba", "Zr")] - a[("Ba", "Ti")]
    assert perov.reference_a({"A": "Sr", "B": "Zr", "O": "O"}) == pytest.approx(expected, abs=1e-9)


def test_fallback_to_prototype_a(prototypes) -> None:
    zb = prototypes["zincblende"]
    assert zb.reference_a({"A": "Zn", "B": "Se"}) == zb.a  # elements no compound covers


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "protos.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _base() -> dict:
    with open(DEFAULT_PROTOTYPES) as handle:
        return {"zincblende": yaml.safe_load(handle)["zincblende"]}


def test_adding_a_space_group_is_one_entry(tmp_path: Path) -> None:
    data = _base()
    data["antifluorite"] = {
        "structure_type": "antifluorite (Li2O)",
        "spacegroup": "F m -3 m",
        "number": 225,
        "a": 4.61,
        "sites": [
            {"label": "O", "wyckoff": "4a", "fract": [0, 0, 0], "role": "anion", "elements": ["O"]},
            {"label": "Li", "wyckoff": "8c", "fract": ["1/4", "1/4", "1/4"], "role": "cation", "elements": ["Li"]},
        ],
    }
    protos = load_prototypes(_write(tmp_path, data))
    li2o = protos["antifluorite"].crystal()
    assert li2o.formula == "O Li2"
    assert len(li2o.unit_cell_atoms()) == 12


BAD_ENTRIES = {
    "unknown_key": (lambda e: e.update(colour="red"), "zincblende"),
    "missing_a": (lambda e: e.pop("a"), "zincblende"),
    "negative_a": (lambda e: e.update(a=-1.0), "zincblende.a"),
    "unknown_spacegroup": (lambda e: e.update(spacegroup="Q 9 9"), "zincblende.spacegroup"),
    "wrong_number": (lambda e: e.update(number=225), "zincblende.number"),
    "hexagonal_without_c": (lambda e: e.update(spacegroup="P 63 m c", number=186), "zincblende"),
    "c_against_the_cubic_lattice": (lambda e: e.update(c=6.0), "zincblende.c"),
    "unknown_free_parameter": (lambda e: e["sites"][1].update(fract=["1/4", "1/4", "1/4+u"]), "zincblende.sites[1].fract"),
    "unused_free_parameter": (lambda e: e.update(free={"u": 0.25}), "zincblende.free"),
    "compound_without_c": (lambda e: e.update(spacegroup="P 42/m n m", number=136, c=5.0,
                                              sites=[{"label": "A", "wyckoff": "2a", "fract": [0, 0, 0], "role": "cation", "elements": ["Ga"]},
                                                     {"label": "B", "wyckoff": "4f", "fract": [0.3, 0.3, 0], "role": "anion", "elements": ["As"]}],
                                              compounds=[{"elements": {"A": "Ga", "B": "As"}, "a": 5.0}]),
                           "zincblende.compounds[0]"),
    "bad_role": (lambda e: e["sites"][0].update(role="metal"), "zincblende.sites[0].role"),
    "unknown_element": (lambda e: e["sites"][1].update(elements=["As", "Qq"]), "zincblende.sites[1].elements"),
    "ion_symbol": (lambda e: e["sites"][1].update(elements=["As3-"]), "zincblende.sites[1].elements"),
    "bad_fraction": (lambda e: e["sites"][1].update(fract=["1/4", "1/4", "a/4"]), "zincblende.sites[1].fract"),
    "two_coordinates": (lambda e: e["sites"][1].update(fract=[0.25, 0.25]), "zincblende.sites[1].fract"),
    "wrong_multiplicity": (lambda e: e["sites"][1].update(wyckoff="24f"), "zincblende.sites[1].wyckoff"),
    "duplicate_label": (lambda e: e["sites"][1].update(label="A"), "zincblende.sites"),
    "compound_element_not_allowed": (lambda e: e["compounds"][0]["elements"].update(B="N"), "zincblende.compounds[0].elements"),
    "compound_missing_site": (lambda e: e["compounds"][0]["elements"].pop("B"), "zincblende.compounds[0]"),
    "no_sites": (lambda e: e.update(sites=[]), "zincblende.sites"),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
def test_bad_entry(case: str, tmp_path: Path) -> None:
    data = _base()
    mutate, field = BAD_ENTRIES[case]
    mutate(data["zincblende"])
    path = _write(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_prototypes(path)
    assert info.value.field == field
    assert info.value.path == str(path)


def test_bad_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_prototypes(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("zincblende: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_prototypes(bad)
    bad.write_text("- a list\n")
    with pytest.raises(InputError, match="mapping"):
        load_prototypes(bad)
