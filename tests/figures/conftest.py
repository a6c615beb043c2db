"""A tiny but real ``results/`` tree, made by the package itself, for the figure tests.

Two families from the repository's config.yaml (8 zincblende F-43m variants, 4 rocksalt Fm-3m,
as charge series of 2 states per base crystal), simulated with the builtin Bloch-wave solver at pixel_count 16 (32² px, the smallest side the U-Net
takes) with a small reflection pool, their EDD and deformation images, the dataset, pix2pix and U-Net
trained for one epoch (ngf 8) in both directions with the EDD side as two channels (total + deformation), evaluated, summary.csv, and benchmarks/surrogate.json from
benchmarks/surrogate.py (when the script is present). Built once per session (~30 s on 2 cores).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lacbed_bridge.config import validate_config
from lacbed_bridge.crystal.variants import write_family
from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.edd.images import write_edd
from lacbed_bridge.simulate.run import run_simulation
from lacbed_bridge.surrogate.config import TrainConfig
from lacbed_bridge.surrogate.evaluate import evaluate, write_evaluation, write_summary
from lacbed_bridge.surrogate.train import train

REPO = Path(__file__).resolve().parents[2]
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
    config["workflow"] = {"models": list(MODELS), "n_figure_samples": 2}
    return validate_config(config)


def _surrogate_benchmark(results: Path, side: int) -> None:
    script = REPO / "benchmarks" / "surrogate.py"
    if not script.is_file():
        return
    spec = importlib.util.spec_from_file_location("lacbed_bench_surrogate", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    record = module.main(["--quick", "--device", "cpu", "--side", str(side), "--ngf", "8", "--repeats", "2",
                          "--dataset", str(results / "dataset")])
    path = results / "benchmarks" / "surrogate.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record) + "\n")


def build_results(root: Path, config: dict[str, Any]) -> Path:
    """Write a complete results tree under ``root`` (the workflow's layout)."""
    csvs = []
    for family in config["families"]:
        name = family["name"]
        csv = write_family(config, name, root / "variants" / name)
        csvs.append(csv)
        for cif in sorted(csv.parent.glob("*.cif")):
            run_simulation(cif, config, root / "lacbed" / name / f"{cif.stem}.tif")
            write_edd(cif, config, root / "edd" / name / f"{cif.stem}.tif")
            write_edd(cif, config, root / "deformation" / name / f"{cif.stem}.tif", kind="deformation")
    refs = sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed", deformation_root=root / "deformation")
    build_dataset(refs, root / "dataset", seed=config["seed"], split_fractions=config["dataset"]["split_fractions"])
    rows = []
    for direction in config["train"]["directions"]:
        for model in MODELS:
            for seed in config["train"]["seeds"]:
                settings = TrainConfig.from_mapping(config["train"], model=model)
                checkpoint = train(root / "dataset", root / "models" / direction / model / f"seed{seed}", direction=direction,
                                   seed=seed, config=settings)
                done = evaluate(checkpoint, root / "dataset", split=settings.split, device="cpu")
                write_evaluation(root / "metrics" / direction / model / f"seed{seed}", done.per_sample, done.summary, done.predictions)
                rows.append(done.summary)
    write_summary(rows, root / "metrics" / "summary.csv")
    _surrogate_benchmark(root, 2 * config["simulation"]["pixel_count"])
    return root


@pytest.fixture(scope="session")
def config() -> dict[str, Any]:
    return small_config()


@pytest.fixture(scope="session")
def results(tmp_path_factory, config) -> Path:
    return build_results(tmp_path_factory.mktemp("results"), config)


@pytest.fixture(scope="session")
def config_file(tmp_path_factory, config) -> Path:
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=True))
    return path


@pytest.fixture(scope="session")
def figures_dir(tmp_path_factory, results, config_file) -> Path:
    """All figures made once through the CLI exactly as the Snakemake rule calls it."""
    from lacbed_bridge.cli import main

    out = results / "figures"
    status = main(["figures", "--results", str(results), "--config", str(config_file), "--out", str(out)])
    assert status == 0
    return out
