"""Variant families (crystal/variants.py): sampling, the charge-transfer model, determinism."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import gemmi
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacbed_bridge.config import load_config, validate_config
from lacbed_bridge.crystal.charge import neutral_valence
from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.crystal.model import Crystal
from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.crystal.variants import (
    family_seed,
    generate_family,
    sample_ids,
    transfer_charges,
    write_family,
)
from lacbed_bridge.errors import ConfigError, InputError

REPO_ROOT = Path(__file__).resolve().parents[2]

MASTER = 20261126


def _config(**family) -> dict:
    base = load_config(REPO_ROOT / "config.yaml")
    base["families"] = [{"name": "test_family", "prototype": "zincblende", "n_variants": 6} | family]
    return validate_config(base)


def _cell_charge_balance(crystal: Crystal) -> tuple[float, float]:
    """(Σ_cell (Z − q), Σ_cell Z) with q = P_v,0 − P_v, over every atom of the unit cell."""
    electrons = 0.0
    nuclear = 0.0
    for index, _ in crystal.unit_cell_atoms():
        site = crystal.sites[index]
        z = gemmi.Element(site.element).atomic_number
        q = neutral_valence(site.element) - site.pv
        electrons += site.occupancy * (z - q)
        nuclear += site.occupancy * z
    return electrons, nuclear


@pytest.mark.parametrize("prototype", ["zincblende", "perovskite", "spinel", "fluorite", "cuprite", "rocksalt_halide"])
def test_cell_stays_neutral(prototype: str) -> None:
    family = {"name": f"n_{prototype}", "prototype": prototype, "n_variants": 5, "delta": [0.2, 1.5]}
    for crystal, row in generate_family(family, MASTER):
        electrons, nuclear = _cell_charge_balance(crystal)
        assert electrons == pytest.approx(nuclear, abs=1e-6)
        assert row["delta"] > 0.0
        assert all(s.pv >= 0 for s in crystal.sites)


def test_gaas_rule() -> None:
    """docs/architecture.md §3: P_v(Ga) = 3 − δ and P_v(As) = 5 + δ."""
    family = {"name": "gaas", "prototype": "zincblende", "n_variants": 10, "elements": {"A": ["Ga"], "B": ["As"]}}
    deltas = []
    for crystal, row in generate_family(family, MASTER):
        delta = row["delta"]
        deltas.append(delta)
        assert crystal.sites[0].pv == pytest.approx(3.0 - delta, abs=1e-9)
        assert crystal.sites[1].pv == pytest.approx(5.0 + delta, abs=1e-9)
        assert row["pv_A"] == crystal.sites[0].pv and row["pv_B"] == crystal.sites[1].pv
    assert min(deltas) >= 0.0 and max(deltas) <= 1.0 and len(set(deltas)) == 10


def test_perovskite_shares_by_multiplicity() -> None:
    """SrTiO3: δ per formula unit; Sr and Ti (1 atom each) lose δ/2, each of the 3 O gains δ/3."""
    charges, applied = transfer_charges(["cation", "cation", "anion"], ["Sr", "Ti", "O"], [1, 1, 3], 0.6, 1)
    assert applied == pytest.approx(0.6)
    assert charges == pytest.approx([0.3, 0.3, -0.2])


def test_capped_cation_gives_what_it_has() -> None:
    """NaCl with δ = 1.8: Na has one valence electron and Cl takes one -> fully ionic, δ applied 1."""
    charges, applied = transfer_charges(["cation", "anion"], ["Na", "Cl"], [4, 4], 1.8, 4)
    assert applied == pytest.approx(1.0)
    assert charges == pytest.approx([1.0, -1.0])
    # spinel-like: an A cation with little to give leaves the rest to the B cations
    charges, applied = transfer_charges(["cation", "cation", "anion"], ["Li", "Ti", "O"], [8, 16, 32], 6.0, 8)
    assert applied == pytest.approx(6.0)
    assert charges[0] == pytest.approx(1.0)  # Li: all it has
    assert 8 * charges[0] + 16 * charges[1] + 32 * charges[2] == pytest.approx(0.0, abs=1e-12)


def test_no_transfer_without_anions() -> None:
    family = {"name": "metal", "prototype": "bcc", "n_variants": 3, "delta": [0.5, 1.0]}
    for crystal, row in generate_family(family, MASTER):
        assert row["delta"] == 0.0
        assert crystal.sites[0].pv == neutral_valence(crystal.sites[0].element)


@settings(max_examples=60, deadline=None)
@given(
    delta=st.floats(0.0, 3.0),
    cations=st.lists(st.tuples(st.sampled_from(["Na", "Mg", "Al", "Ti", "Sr", "Cu"]), st.sampled_from([1, 2, 4, 8, 16])), min_size=1, max_size=3),
    anions=st.lists(st.tuples(st.sampled_from(["O", "F", "S", "N", "Cl"]), st.sampled_from([1, 3, 4, 8, 32])), min_size=1, max_size=2),
)
def test_transfer_invariants(delta, cations, anions) -> None:
    """Σ m q = 0; cations only lose (≤ their valence), anions only gain (≤ the closed shell)."""
    roles = ["cation"] * len(cations) + ["anion"] * len(anions)
    elements = [e for e, _ in cations + anions]
    mult = [m for _, m in cations + anions]
    z_f = math.gcd(*mult)
    charges, applied = transfer_charges(roles, elements, mult, delta, z_f)
    assert sum(m * q for m, q in zip(mult, charges)) == pytest.approx(0.0, abs=1e-9)
    assert 0.0 <= applied <= delta + 1e-12
    assert sum(m * q for m, q, r in zip(mult, charges, roles) if r == "cation") == pytest.approx(applied * z_f)
    for element, q, role in zip(elements, charges, roles):
        if role == "cation":
            assert -1e-12 <= q <= neutral_valence(element) + 1e-12
        else:
            assert -1e-12 <= -q <= 8 - neutral_valence(element) + 1e-12


def test_sampling_ranges_and_table() -> None:
    family = {
        "name": "zb",
        "prototype": "zincblende",
        "n_variants": 12,
        "lattice_scale": [0.98, 1.02],
        "u_iso": [0.004, 0.006],
        "delta": [0.1, 0.3],
        "kappa": [0.9, 1.1],
    }
    proto = load_prototypes()["zincblende"]
    generated = generate_family(family, MASTER)
    assert [c.name for c, _ in generated] == sample_ids(family) == [f"zb_{i:06d}" for i in range(12)]
    for crystal, row in generated:
        elements = {"A": row["element_A"], "B": row["element_B"]}
        assert elements["A"] in proto.sites[0].elements and elements["B"] in proto.sites[1].elements
        ref = proto.reference_a(elements)
        assert 0.98 * ref - 1e-6 <= row["a"] <= 1.02 * ref + 1e-6
        assert crystal.cell == (row["a"],) * 3 + (90.0,) * 3
        for label, site in zip("AB", crystal.sites):
            assert 0.004 <= row[f"u_iso_{label}"] <= 0.006 and site.u_iso == row[f"u_iso_{label}"]
            assert 0.9 <= row[f"kappa_{label}"] <= 1.1 and site.kappa == row[f"kappa_{label}"]
        assert 0.1 <= row["delta"] <= 0.3
        assert row["spacegroup"] == "F -4 3 m" and row["formula"] == f"{elements['A']} {elements['B']}"
        assert len(crystal.unit_cell_atoms()) == 8
    assert len({row["element_A"] for _, row in generated}) > 1  # the element choice does vary


def test_write_family_files_and_determinism(tmp_path: Path) -> None:
    config = _config()
    first = write_family(config, "test_family", tmp_path / "one")
    second = write_family(config, "test_family", tmp_path / "two")
    names = sorted(p.name for p in first.parent.iterdir())
    assert names == sorted([f"test_family_{i:06d}.cif" for i in range(6)] + ["variants.csv"])
    assert names == sorted(p.name for p in second.parent.iterdir())
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    table = pd.read_csv(first)
    required = {"sample_id", "family", "prototype", "spacegroup", "formula", "a", "delta", "seed"}
    per_site = {f"{p}_{label}" for p in ("kappa", "u_iso", "pv", "element") for label in "AB"}
    assert required | per_site <= set(table.columns)
    assert list(table["sample_id"]) == [f"test_family_{i:06d}" for i in range(6)]
    # every CIF reads back to the crystal the generator made, with the table's values
    generated = generate_family(config["families"][0], config["seed"])
    for crystal, row in generated:
        back = read_cif(first.parent / f"{crystal.name}.cif")
        assert back == crystal
        assert back.sites[0].pv == pytest.approx(table.set_index("sample_id").loc[crystal.name, "pv_A"])


def test_seed_changes_output(tmp_path: Path) -> None:
    one = write_family(_config(seed=1), "test_family", tmp_path / "one").parent
    two = write_family(_config(seed=2), "test_family", tmp_path / "two").parent
    cif = "test_family_000000.cif"
    assert (one / cif).read_bytes() != (two / cif).read_bytes()
    assert (one / "variants.csv").read_bytes() != (two / "variants.csv").read_bytes()


def test_family_seed_derivation() -> None:
    assert family_seed({"name": "x", "seed": 7}, MASTER) == 7
    derived = family_seed({"name": "x"}, MASTER)
    # sha256-derived (stable across processes, unlike hash()): recompute independently
    expected = int.from_bytes(hashlib.sha256(f"{MASTER}:x".encode()).digest()[:8], "little") & (2**63 - 1)
    assert derived == expected
    assert derived != family_seed({"name": "y"}, MASTER) != family_seed({"name": "x"}, MASTER + 1)


def test_variant_independent_of_family_size() -> None:
    small = generate_family({"name": "f", "prototype": "perovskite", "n_variants": 2}, MASTER)
    large = generate_family({"name": "f", "prototype": "perovskite", "n_variants": 5}, MASTER)
    assert [c for c, _ in small] == [c for c, _ in large[:2]]


def test_embedded_config_families_generate() -> None:
    config = load_config(REPO_ROOT / "config.yaml")
    for family in config["families"]:
        generated = generate_family(family, config["seed"])
        assert len(generated) == family["n_variants"]


@pytest.mark.parametrize(
    ("family", "field", "message"),
    [
        ({"prototype": "nope"}, "families[bad].prototype", "known: "),
        ({"elements": {"Z": ["Ga"]}}, "families[bad].elements", "unknown site label"),
        ({"elements": {"A": ["Qq"]}}, "families[bad].elements.A", "unknown element"),
        ({"delta": [0.8, 0.2]}, "families[bad].delta", "lower end"),
        ({"prototypes_file": "/nonexistent/protos.yaml"}, None, "not found"),
    ],
)
def test_bad_family(family: dict, field: str | None, message: str) -> None:
    cfg = {"name": "bad", "prototype": "zincblende", "n_variants": 2} | family
    with pytest.raises(InputError, match=message) as info:
        generate_family(cfg, MASTER)
    if field:
        assert info.value.field == field


def test_unknown_family_lists_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"known: test_family"):
        write_family(_config(), "other", tmp_path)
