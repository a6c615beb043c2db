"""The torch Dataset: memory-mapped stacks, both directions, subsets, worker pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.dataset.torch_dataset import PairedImageDataset, denormalise
from lacbed_bridge.errors import InputError
from lacbed_bridge.io import read_tiff


@pytest.fixture
def dataset_dir(results, tmp_path):
    root, csvs = results
    refs = sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed")
    build_dataset(refs, tmp_path / "ds", seed=0)
    return tmp_path / "ds", {r.sample_id: r for r in refs}


def test_directions_swap_input_and_target(dataset_dir):
    path, refs = dataset_dir
    fwd = PairedImageDataset(path, direction="edd2lacbed", split="random_0", subset="train")
    rev = PairedImageDataset(path, direction="lacbed2edd", split="random_0", subset="train")
    assert len(fwd) == len(rev) == round(0.8 * 14)
    x, y = fwd[0]
    xr, yr = rev[0]
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x, yr) and torch.equal(y, xr)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    raw, _ = read_tiff(refs[fwd.sample_ids[0]].edd_path)
    np.testing.assert_allclose(denormalise(x[0].numpy(), fwd.normalisation["edd"]), raw, rtol=1e-6)


def test_subsets_partition_the_dataset(dataset_dir):
    path, _ = dataset_dir
    ids = [PairedImageDataset(path, split="random_0", subset=s).sample_ids for s in ("train", "val", "test")]
    assert sum(map(len, ids)) == 14 and len(set().union(*map(set, ids))) == 14


def test_pickles_without_open_maps_and_rejects_bad_names(dataset_dir):
    path, _ = dataset_dir
    data = PairedImageDataset(path, split=None)
    before = data[3]
    clone = pickle.loads(pickle.dumps(data))
    assert torch.equal(clone[3][0], before[0])
    with pytest.raises(InputError, match="direction"):
        PairedImageDataset(path, direction="sideways")
    with pytest.raises(InputError, match="split file not found"):
        PairedImageDataset(path, split="random_9")
