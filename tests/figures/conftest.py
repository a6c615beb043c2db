"""A tiny but real ``results/`` tree for the figure tests, made by the workflow's own rules.

Two families from the repository's config.yaml (8 zincblende F-43m variants, 4 rocksalt Fm-3m, as
charge series of 2 states per base crystal), simulated with the builtin Bloch-wave solver at
pixel_count 16 (32² px, the smallest side the U-Net takes) with a small reflection pool, their EDD
and deformation images, the dataset, pix2pix and U-Net trained for one epoch (ngf 8) in both
directions with the EDD side as two channels (total + deformation), evaluated, summary.csv,
benchmarks/surrogate.json and the figures: ``snakemake figures`` on that config (the figures rule
and everything it needs), once per session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lacbed_bridge.config import validate_config
from support.workflow import REPO, snakemake

MODELS = ("pix2pix", "unet")


def small_config() -> dict[str, Any]:
    """config.yaml of the repository, made small: 12 crystals, 32² px, 1 epoch, ngf 8."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["families"] = [
        {"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 8, "delta": [0.0, 1.0], "charge_states": 2},
        {"name": "Fm-3m_rocksalt", "prototype": "rocksalt", "n_variants": 4, "charge_states": 2},
    ]
    config["simulation"].update(pixel_count=16, min_reflection_pool=20, min_strong_beams=8, device="cpu")
    config["dataset"] = {"split_fractions": [0.6, 0.2, 0.2], "random_splits": 1, "loso_groups": "all"}
    config["train"].update(epochs=1, ngf=8, ndf=8, batch_size=4, seeds=[0], device="cpu", directions=["edd2lacbed", "lacbed2edd"],
                           input="both", target="both", charge_weight=1.0)
    config["workflow"] = {"models": list(MODELS), "n_figure_samples": 2, "estimator": False, "benchmark_quick": True, "batch_size": 4}
    return validate_config(config)


def build_results(work: Path, config: dict[str, Any]) -> Path:
    """Run the workflow's ``figures`` rule (and every rule it needs) on ``config`` in ``work``;
    returns ``work/results``."""
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=True))
    snakemake(work, "--cores", "2", "figures", config=path, timeout=1800)
    return work / config["output"]["results"]


@pytest.fixture(scope="session")
def config() -> dict[str, Any]:
    return small_config()


@pytest.fixture(scope="session")
def results(tmp_path_factory, config) -> Path:
    return build_results(tmp_path_factory.mktemp("work"), config)


@pytest.fixture(scope="session")
def config_file(tmp_path_factory, config) -> Path:
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=True))
    return path


@pytest.fixture(scope="session")
def figures_dir(results) -> Path:
    """All figures, as the workflow's figures rule made them."""
    return results / "figures"
