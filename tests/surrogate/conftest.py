"""Fixtures of the surrogate tests: a tiny real dataset (32² px) and a tiny trained checkpoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.surrogate.config import TrainConfig
from lacbed_bridge.surrogate.train import train

_spec = importlib.util.spec_from_file_location("lacbed_test_synthetic", Path(__file__).parents[1] / "dataset" / "synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

#: A tiny network so that CI trains in seconds on 2 cores.
TINY = {"ngf": 4, "ndf": 4, "batch_size": 4, "device": "cpu"}


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
