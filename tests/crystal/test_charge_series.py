"""Charge series: K states per base crystal (same elements, a, U_iso; δ spread over its range),
and splits that keep every state of a base crystal in one subset (issue: surrogates that see the
charge, item 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lacbed_bridge.config import validate_config
from lacbed_bridge.crystal.variants import generate_family
from lacbed_bridge.dataset.splits import loso_split, random_split
from lacbed_bridge.errors import ConfigError

FAMILY = {"name": "F-43m_series", "prototype": "zincblende", "n_variants": 12, "charge_states": 4, "seed": 3,
          "delta": [0.0, 0.9], "kappa": [0.95, 1.05]}


def _rows(family: dict) -> pd.DataFrame:
    return pd.DataFrame([row for _, row in generate_family(family, 0)])


def test_states_share_the_base_crystal_and_spread_delta() -> None:
    rows = _rows(FAMILY)
    assert len(rows) == 12 and rows["base_id"].nunique() == 3
    assert rows["charge_state"].tolist() == [0, 1, 2, 3] * 3
    for base, states in rows.groupby("base_id"):
        assert base == states["sample_id"].iloc[0]
        for column in ("element_A", "element_B", "a", "u_iso_A", "u_iso_B"):
            assert states[column].nunique() == 1, column
        np.testing.assert_allclose(states["delta"], [0.0, 0.3, 0.6, 0.9], atol=1e-9)
        assert states["kappa_A"].nunique() == 4  # κ drawn per state
    # different base crystals differ
    assert rows.drop_duplicates("base_id")[["a", "u_iso_A"]].drop_duplicates().shape[0] == 3


def test_single_state_families_are_their_own_base() -> None:
    rows = _rows({**FAMILY, "charge_states": 1})
    assert (rows["base_id"] == rows["sample_id"]).all() and (rows["charge_state"] == 0).all()
    assert rows["delta"].nunique() == 12  # δ sampled per crystal, as before


def test_n_variants_must_be_whole_series() -> None:
    with pytest.raises(ConfigError, match="charge_states"):
        generate_family({**FAMILY, "n_variants": 10}, 0)


@pytest.mark.parametrize("seed", range(6))
def test_no_base_crystal_is_in_two_subsets(seed: int) -> None:
    bases = [f"b{i // 4}" for i in range(80)]  # 20 series of 4
    groups = ["F-43m" if i < 40 else "Fm-3m" for i in range(80)]
    for labels in (random_split(80, (0.6, 0.2, 0.2), seed, 0, groups=bases),
                   loso_split(groups, "F-43m", val_fraction=0.25, seed=seed, bases=bases)):
        frame = pd.DataFrame({"base": bases, "subset": labels})
        assert (frame.groupby("base")["subset"].nunique() == 1).all()
        assert set(labels) == {"train", "val", "test"}
    counts = pd.Series(random_split(80, (0.6, 0.2, 0.2), seed, 0, groups=bases)).value_counts()
    assert counts["train"] == 48 and counts["val"] == 16 and counts["test"] == 16  # fractions of whole series


def test_one_sample_per_group_is_the_plain_split() -> None:
    ids = [f"s{i}" for i in range(50)]
    groups = ["A" if i % 3 else "B" for i in range(50)]
    assert np.array_equal(random_split(50, (0.8, 0.1, 0.1), 7, 1, groups=ids), random_split(50, (0.8, 0.1, 0.1), 7, 1))
    assert np.array_equal(loso_split(groups, "A", val_fraction=0.2, seed=7, bases=ids), loso_split(groups, "A", val_fraction=0.2, seed=7))


def test_kappa_per_series_keeps_the_base_crystals_kappa() -> None:
    """kappa_per: series (issue #28's lever: a series that shows δ alone) shares one κ per base
    crystal and changes nothing else; absent, κ is drawn per state as before."""
    per_state = _rows(FAMILY)
    per_series = _rows({**FAMILY, "kappa_per": "series"})
    assert _rows({**FAMILY, "kappa_per": "state"}).equals(per_state)
    for _, states in per_series.groupby("base_id"):
        assert states["kappa_A"].nunique() == 1 and states["kappa_B"].nunique() == 1
    unchanged = [c for c in per_state.columns if not c.startswith("kappa_")]
    pd.testing.assert_frame_equal(per_series[unchanged], per_state[unchanged])
    assert (per_series["kappa_A"] != per_state["kappa_A"]).any()


def test_kappa_per_is_checked_by_the_schema() -> None:
    text = (Path(__file__).resolve().parents[2] / "config.yaml").read_text()
    assert "kappa_per" not in validate_config(yaml.safe_load(text))["families"][0]  # no default: family hashes unchanged
    demo = yaml.safe_load(text)
    demo["families"][0]["kappa_per"] = "crystal"
    with pytest.raises(ConfigError, match="kappa_per"):
        validate_config(demo)
    demo["families"][0]["kappa_per"] = "series"
    validate_config(demo)
