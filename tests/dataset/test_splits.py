"""Splits: random 80/10/10 per seed, and leave-one-space-group-out holding out exactly that group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.dataset.splits import canonical_group, loso_split, random_split, read_split
from lacbed_bridge.dataset.torch_dataset import PairedImageDataset
from lacbed_bridge.errors import InputError


def test_random_split_is_a_seeded_partition():
    labels = random_split(200, (0.8, 0.1, 0.1), seed=5)
    assert [int(np.sum(labels == s)) for s in ("train", "val", "test")] == [160, 20, 20]
    np.testing.assert_array_equal(labels, random_split(200, (0.8, 0.1, 0.1), seed=5))
    assert not np.array_equal(labels, random_split(200, (0.8, 0.1, 0.1), seed=6))
    assert not np.array_equal(labels, random_split(200, (0.8, 0.1, 0.1), seed=5, number=1))
    with pytest.raises(InputError, match="summing to 1"):
        random_split(10, (0.5, 0.1, 0.1), seed=0)


@pytest.mark.parametrize("held_out", ["F -4 3 m", "Pm-3m", "F m -3 m"])
def test_loso_holds_out_exactly_the_named_group(held_out):
    groups = ["F -4 3 m"] * 7 + ["F m -3 m"] * 5 + ["P m -3 m"] * 6
    labels = loso_split(groups, held_out, val_fraction=0.1, seed=2)
    in_group = np.array([canonical_group(g) == canonical_group(held_out) for g in groups])
    np.testing.assert_array_equal(labels == "test", in_group)
    assert (labels[~in_group] != "test").all() and (labels[~in_group] == "val").sum() == round(0.1 * (~in_group).sum())


def test_loso_unknown_group_is_an_error():
    with pytest.raises(InputError, match="not in the dataset"):
        loso_split(["F -4 3 m", "P 1"], "I a -3 d", val_fraction=0.1, seed=0)


def test_built_loso_split_files_hold_out_their_group(results, tmp_path):
    root, csvs = results
    refs = sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed")
    info = build_dataset(refs, tmp_path / "ds", seed=4)
    manifest = pd.read_csv(tmp_path / "ds" / "manifest.csv")
    assert {n for n in info.splits if n.startswith("loso_")} == {"loso_F-43m", "loso_Fm-3m", "loso_Pm-3m"}
    for name, spec in info.splits.items():
        split = read_split(tmp_path / "ds" / "splits" / f"{name}.csv")
        assert split["sample_id"].tolist() == manifest["sample_id"].tolist()
        if spec["kind"] != "loso":
            continue
        test_ids = set(split.loc[split["subset"] == "test", "sample_id"])
        group_ids = set(manifest.loc[manifest["spacegroup"].map(canonical_group) == spec["group"], "sample_id"])
        assert test_ids == group_ids and len(group_ids) > 0
        data = PairedImageDataset(tmp_path / "ds", split=name, subset="test")
        assert set(data.sample_ids) == group_ids
        assert set(data.rows()["spacegroup"].map(canonical_group)) == {spec["group"]}
