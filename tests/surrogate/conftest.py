"""Fixtures of the surrogate tests: a tiny real dataset (32² px) and a tiny trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.surrogate.config import TrainConfig
from lacbed_bridge.surrogate.train import train

from support.surrogate import TINY, synthetic


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    synthetic.make_results(root)
    return root


@pytest.fixture(scope="session")
def dataset_dir(results_dir, tmp_path_factory) -> Path:
    csvs = sorted((results_dir / "variants").glob("*/variants.csv"))
    refs = sample_refs_from_variants(csvs, edd_root=results_dir / "edd", lacbed_root=results_dir / "lacbed")
    out = tmp_path_factory.mktemp("dataset")
    build_dataset(refs, out, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_model(dataset_dir, tmp_path_factory) -> Path:
    """model.pt of a 1-epoch pix2pix on the tiny dataset (edd2lacbed)."""
    out = tmp_path_factory.mktemp("model")
    return train(dataset_dir, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=1, **TINY))
