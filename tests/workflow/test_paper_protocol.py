"""The paper-shaped CPU protocol (issue #27 item 4): its config keeps the paper's shape, and its
runner's tables average the right evaluations (the loso models live under results/loso/<split>/)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lacbed_bridge.config import validate_config
from lacbed_bridge.pipeline.config_check import available_splits, check_workflow_config, family_groups
from lacbed_bridge.simulate.settings import LacbedSettings

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "paper_cpu.yaml"


def _runner():
    spec = importlib.util.spec_from_file_location("paper_protocol", REPO / "benchmarks" / "paper_protocol.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_the_protocol_config_has_the_papers_shape() -> None:
    """GaAs-like [-1 1 0] with Bird–King, five cubic space groups, converged discs of >= 64², pix2pix
    in both directions with 3 seeds, and a loso split for every group."""
    config = validate_config(yaml.safe_load(CONFIG.read_text()))
    check_workflow_config(config)
    simulation = config["simulation"]
    settings = LacbedSettings.from_config(simulation)
    assert list(simulation["incident_beam_direction"]) == [-1, 1, 0] and simulation["absorb_flag"] == 2
    assert settings.side >= 64
    assert simulation["convergence"]["target_rms"] > 0  # every disc converged against a larger beam set
    groups = set(family_groups(config))
    assert len(groups) == 5 and all(g[0] in "FIP" for g in groups), groups  # cubic: Bravais letters of the m-3m family
    assert all(g.endswith("m") for g in groups)
    assert any(f["prototype"] == "zincblende" for f in config["families"])  # GaAs-like
    train = config["train"]
    assert train["model"] == "pix2pix" and len(train["seeds"]) == 3
    assert set(train["directions"]) == {"edd2lacbed", "lacbed2edd"}
    assert config["dataset"]["loso_groups"] == "all"
    assert {s for s in available_splits(config) if s.startswith("loso_")} == {f"loso_{g}" for g in groups}


def _evaluation(folder: Path, rows: list[dict], summary: dict) -> None:
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "per_group.csv", index=False)
    (folder / "metrics.json").write_text(json.dumps(summary))


def test_the_tables_average_each_split_over_seeds(tmp_path: Path) -> None:
    runner = _runner()
    results = tmp_path / "results"
    from lacbed_bridge.layout import ResultsLayout

    layout = ResultsLayout(str(results))
    for seed, (mse, r) in enumerate([(0.010, 0.8), (0.014, 0.9)]):
        _evaluation(Path(layout.metrics_dir("edd2lacbed", "pix2pix", seed)),
                    [{"spacegroup": "F-43m", "n": 3, "mse": mse, "ssim": 0.9},
                     {"spacegroup": "Fm-3m", "n": 2, "mse": 2 * mse, "ssim": 0.8}],
                    {"charge_r": r, "charge_rms_ratio": 1.0, "delta_rmse": None})
        loso = runner.LosoRun("loso_Fm-3m", "edd2lacbed", seed).metrics_dir(results, "pix2pix")
        assert loso.is_relative_to(results / "loso" / "loso_Fm-3m")
        _evaluation(loso, [{"spacegroup": "Fm-3m", "n": 5, "mse": 3 * mse, "ssim": 0.5 + seed / 10}],
                    {"charge_r": r - 0.5, "charge_rms_ratio": 0.5, "delta_rmse": None})
    table = runner.collect(results, "pix2pix", ["edd2lacbed"], [0, 1], ["random_0", "loso_Fm-3m"])
    seeds = runner.over_seeds(table).set_index(["split", "spacegroup"])
    assert seeds.loc[("random_0", "Fm-3m"), "mse_mean"] == pytest.approx(0.024)
    assert seeds.loc[("loso_Fm-3m", "Fm-3m"), "mse_mean"] == pytest.approx(0.036)
    assert seeds.loc[("loso_Fm-3m", "Fm-3m"), "ssim_std"] == pytest.approx(pd.Series([0.5, 0.6]).std())
    assert seeds.loc[("loso_Fm-3m", "Fm-3m"), "n"] == 5
    charges = runner.charge_rows(table).set_index(["split", "direction"])
    assert charges.loc[("random_0", "edd2lacbed"), ("charge_r", "mean")] == pytest.approx(0.85)
    assert charges.loc[("loso_Fm-3m", "edd2lacbed"), ("charge_r", "mean")] == pytest.approx(0.35)
    text = runner.markdown(runner.over_seeds(table))
    assert "| loso_Fm-3m | Fm-3m | 5 | 0.0360 ± 0.0085 | 0.550 ± 0.071 |" in text
    records = runner._records(runner.over_seeds(table))
    assert all(r["delta_rmse"] is None for r in records)  # JSON has no NaN


def test_a_loso_model_is_current_only_for_its_settings_and_dataset(tmp_path: Path) -> None:
    """A rerun keeps a finished loso model only when the train settings and the dataset are the
    ones it was trained from; anything else trains it again."""
    runner = _runner()
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "dataset.json").write_text(json.dumps({"dataset_hash": "a"}))
    config = {"train": {"epochs": 50, "seeds": [0]}}
    stamp = runner.run_stamp(config, dataset)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    assert not runner.is_current(model_dir, stamp)  # nothing trained
    (model_dir / "model.pt").write_bytes(b"x")
    assert not runner.is_current(model_dir, stamp)  # a model of unknown origin
    (model_dir / runner.STAMP).write_text(stamp)
    assert runner.is_current(model_dir, stamp)
    assert not runner.is_current(model_dir, runner.run_stamp({"train": {"epochs": 60, "seeds": [0]}}, dataset))
    (dataset / "dataset.json").write_text(json.dumps({"dataset_hash": "b"}))
    assert not runner.is_current(model_dir, runner.run_stamp(config, dataset))
