"""Families from a folder of the user's own CIFs (families[].cif_dir)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from lacbed_bridge.config import validate_config
from lacbed_bridge.crystal.cif import read_cif, write_cif
from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.crystal.user_cifs import prototype_from_cif
from lacbed_bridge.crystal.variants import generate_family
from lacbed_bridge.errors import ConfigError, InputError
from lacbed_bridge.simulate.run import check_config

REPO = Path(__file__).resolve().parents[2]
PROTOTYPES = load_prototypes()
ROLES = {"Ga": "cation", "As": "anion", "Ti": "cation", "O": "anion"}


@pytest.fixture()
def cif_dir(tmp_path: Path) -> Path:
    """Two CIFs as a user would have them: GaAs (cubic) and rutile SnO2 (tetragonal, its own x)."""
    folder = tmp_path / "my_cifs"
    folder.mkdir()
    write_cif(PROTOTYPES["zincblende"].crystal({"A": "Ga", "B": "As"}, name="GaAs"), folder / "a_GaAs.cif")
    rutile = PROTOTYPES["rutile"].crystal({"M": "Ti"}, name="TiO2", values={"x": 0.3049})
    write_cif(rutile, folder / "b_TiO2.cif")
    (folder / "notes.txt").write_text("not a CIF\n")
    return folder


def _family(folder: Path, **extra: object) -> dict:
    return {"name": "mine", "cif_dir": str(folder), "n_variants": 8, "charge_states": 2, "roles": ROLES, "seed": 3, **extra}


def test_a_cif_family_cycles_through_the_cifs_and_keeps_each_structure(cif_dir: Path) -> None:
    out = generate_family(_family(cif_dir, cell_scale={"c": [0.99, 1.01]}), 0)
    assert len(out) == 8
    originals = {"cif:a_GaAs": read_cif(cif_dir / "a_GaAs.cif"), "cif:b_TiO2": read_cif(cif_dir / "b_TiO2.cif")}
    # base crystals 0, 1, 2, 3 (two charge states each) take CIF 0, 1, 0, 1
    assert [row["prototype"] for _, row in out] == ["cif:a_GaAs"] * 2 + ["cif:b_TiO2"] * 2 + ["cif:a_GaAs"] * 2 + ["cif:b_TiO2"] * 2
    for crystal, row in out:
        original = originals[row["prototype"]]
        assert row["spacegroup"] == original.spacegroup
        assert [s.fract for s in crystal.sites] == [tuple(round(v, 10) for v in s.fract) for s in original.sites]
        assert [s.element for s in crystal.sites] == [s.element for s in original.sites]
        assert crystal.cell[3:] == original.cell[3:]
        ratio, ratio0 = crystal.cell[2] / crystal.cell[0], original.cell[2] / original.cell[0]
        if row["prototype"] == "cif:a_GaAs":
            assert ratio == pytest.approx(1.0, abs=1e-12)  # cubic: c is a, nothing to scale
        else:
            assert 0.99 * ratio0 - 1e-6 <= ratio <= 1.01 * ratio0 + 1e-6
        # the charge transfer moves electrons from the named cations to the named anions
        pv = {s.element: s.pv for s in crystal.sites}
        if "Ga" in pv:
            assert pv["Ga"] == pytest.approx(3 - row["delta"]) and pv["As"] == pytest.approx(5 + row["delta"])
        else:
            assert pv["Ti"] == pytest.approx(4 - row["delta"])  # one Ti gives δ per formula unit TiO2
            assert pv["O"] == pytest.approx(6 + row["delta"] / 2)  # two O share it
    assert {out[0][1]["delta"], out[1][1]["delta"]} == {0.0, 1.0}  # a charge series per base crystal
    assert generate_family(_family(cif_dir), 0) == generate_family(_family(cif_dir), 0)


def test_the_cif_setting_is_kept(tmp_path: Path) -> None:
    spinel = PROTOTYPES["spinel"].crystal()
    write_cif(spinel, tmp_path / "spinel.cif")
    proto = prototype_from_cif(tmp_path / "spinel.cif", {"O": "anion", "Mg": "cation", "Al": "cation"})
    assert proto.gemmi_name == "F d -3 m:2" and proto.number == 227
    assert [s.multiplicity for s in proto.sites] == [8, 16, 32]
    assert proto.formula({"A": "Mg", "B": "Al", "O": "O"}) == "Mg Al2 O4"


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"roles": {}}, "families[mine].roles", "needs `roles`"),
        ({"roles": {"Ga": "donor"}}, "families[mine].roles.Ga", "expected one of cation, anion, neutral"),
        ({"prototype": "zincblende"}, "families[mine]", "exactly one of"),
        ({"elements": {"A": ["Ga"]}}, "families[mine].elements", "for prototype families"),
        ({"cif_dir": "/nonexistent/folder"}, "families[mine].cif_dir", "not found"),
    ],
)
def test_bad_cif_families_name_the_key(cif_dir: Path, extra: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        generate_family(_family(cif_dir, **extra), 0)
    assert info.value.field == field and words in str(info.value)


def test_no_charge_transfer_needs_no_roles(cif_dir: Path) -> None:
    out = generate_family(_family(cif_dir, roles={}, delta=[0.0, 0.0], charge_states=1), 0)
    assert all(row["delta"] == 0.0 for _, row in out)


def test_partial_occupancy_is_refused_naming_the_file(tmp_path: Path) -> None:
    crystal = PROTOTYPES["rocksalt"].crystal()
    crystal = crystal.with_sites((replace(crystal.sites[0], occupancy=0.5), crystal.sites[1]))
    write_cif(crystal, tmp_path / "half.cif")
    with pytest.raises(InputError) as info:
        prototype_from_cif(tmp_path / "half.cif", {})
    assert info.value.path == str(tmp_path / "half.cif") and info.value.field == "_atom_site_occupancy"


def test_config_check_accepts_a_cif_family_and_checks_its_geometry(cif_dir: Path) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["families"] = [_family(cif_dir)]
    check_config(validate_config(config))
    config["families"] = [_family(cif_dir, geometry={"incident_beam_direction": [1, 1, 0], "x_direction": [1, 0, 0]})]
    with pytest.raises(ConfigError) as info:
        check_config(validate_config(config))
    assert info.value.field == "families[0].geometry.x_direction"
