"""The charge estimator: δ with a calibrated σ from one disc; its training, scoring, predict and refine start."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from lacbed_bridge.cli import main
from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.errors import ConfigError, InputError
from lacbed_bridge.surrogate.estimator import EstimatorConfig, load_estimator
from lacbed_bridge.surrogate.estimator_eval import evaluate_estimator, noisy, summarise
from lacbed_bridge.surrogate.estimator_train import augment, fold_of, load_discs, train_estimator, train_member, z_scores

from support.surrogate import refine_case, synthetic

REPO = Path(__file__).resolve().parents[2]
SMALL = {"epochs": 60, "channels": 4, "batch_size": 8, "folds": 3}


def _series(root: Path, side: int) -> Path:
    """Synthetic charge series (δ = 0, ½, 1 per base crystal; the disc carries a δ-sized fringe)."""
    csvs = synthetic.make_results(root, {"F-43m_zincblende": 14 * 3, "Fm-3m_rocksalt": 8 * 3}, side=side, charge_states=3)
    refs = sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed")
    build_dataset(refs, root / "dataset", seed=5, split_fractions=(0.6, 0.2, 0.2))
    return root / "dataset"


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    return _series(tmp_path_factory.mktemp("est_series"), 32)


@pytest.fixture(scope="module")
def estimator_dir(series, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("estimator")
    train_estimator(series, out, seed=0, config=EstimatorConfig(**SMALL))
    return out


def test_config_refuses_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="estimator"):
        EstimatorConfig.from_mapping({"epoch": 3})
    with pytest.raises(ConfigError, match="estimator.targets"):
        EstimatorConfig.from_mapping({"targets": ["kappa"]})
    with pytest.raises(ConfigError, match="estimator.noise_counts"):
        EstimatorConfig.from_mapping({"noise_counts": [100, 10]})
    assert EstimatorConfig.from_mapping({"noise_counts": [10, 100]}).noise_counts == (10.0, 100.0)


@pytest.mark.slow  # about 2 s (a trained model or a fit): the quick loop leaves it to make test
def test_it_reads_delta_on_held_out_discs_better_than_the_middle_of_the_range(series, estimator_dir) -> None:
    table, groups, summary = evaluate_estimator(estimator_dir, series, split="random_0", subset="test")
    assert summary["targets"] == ["delta"]  # thickness is not in the synthetic manifest: dropped
    assert summary["n"] == len(table) >= 8
    assert summary["delta_rmse"] < 0.5 * summary["delta_prior_rmse"]
    assert {"delta", "delta_pred", "delta_sigma", "delta_z"} <= set(table.columns)
    assert set(groups["spacegroup"]) == {"F-43m", "Fm-3m"} and groups["n"].sum() == summary["n"]


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_same_seed_same_weights_and_a_scale_or_background_does_not_change_the_estimate(series, estimator_dir, tmp_path) -> None:
    again = train_estimator(series, tmp_path / "again", seed=0, config=EstimatorConfig(**SMALL))
    a, b = torch.load(estimator_dir / "model.pt", weights_only=True), torch.load(again, weights_only=True)
    assert len(a["members"]) == len(b["members"]) == SMALL["folds"]
    assert all(torch.equal(ma[k], mb[k]) for ma, mb in zip(a["members"], b["members"], strict=True) for k in ma)
    assert a["data_json"] == b["data_json"]
    estimator = load_estimator(estimator_dir)
    discs, _ = load_discs(series, "random_0", "test")
    plain, shifted = estimator.estimate(discs), estimator.estimate(3.7e4 * discs + 250.0)
    np.testing.assert_allclose(shifted["delta"], plain["delta"], atol=1e-4)
    np.testing.assert_allclose(shifted["delta_sigma"], plain["delta_sigma"], rtol=1e-3)
    with pytest.raises(InputError, match="does not match"):
        estimator.estimate(discs[:, :16, :16])
    empty = estimator.estimate(discs[:0])  # a split whose test subset is empty
    assert empty["delta"].shape == empty["delta_sigma"].shape == (0,)


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_sigma_is_calibrated_on_out_of_fold_crystals(series, estimator_dir) -> None:
    """Member k is trained without fold k's crystals; c = RMS z of each fold scored by its own member."""
    config = EstimatorConfig(**SMALL)
    estimator = load_estimator(estimator_dir)
    assert len(estimator.nets) == config.folds == estimator.info["folds"]
    discs, rows = load_discs(series, "random_0", "train")
    groups = rows["base_id"].astype(str).to_numpy()
    fold = fold_of(groups, config.folds, seed=0)
    for g in np.unique(groups):  # a crystal's charge states stay in one fold
        assert len(set(fold[groups == g])) == 1
    assert set(fold) == set(range(config.folds))
    y = (rows[["delta"]].to_numpy() - estimator.mean) / estimator.scale
    z = np.zeros_like(y)
    for k in range(config.folds):
        member, _ = train_member(discs[fold != k], y[fold != k], config, seed=k)
        for name, value in member.state_dict().items():
            assert torch.equal(value, estimator.nets[k].state_dict()[name])
        z[fold == k] = z_scores(member, augment(discs[fold == k], np.random.default_rng(k + 500), config), y[fold == k])
    np.testing.assert_allclose(estimator.calibration, np.sqrt(np.mean(z**2, axis=0)), rtol=1e-6)
    one = estimator.estimate(discs[:3])  # the ensemble: mean of the members' μ, σ² the mean of theirs, times c
    with torch.no_grad():
        outs = [net(torch.from_numpy(((discs[:3] - discs[:3].mean(axis=(1, 2), keepdims=True))
                                      / discs[:3].std(axis=(1, 2), keepdims=True))[:, None]).float()) for net in estimator.nets]
    mu = np.mean([m[:, 0].double().numpy() for m, _ in outs], axis=0)
    sigma = np.sqrt(np.mean([np.exp(2 * s[:, 0].double().numpy()) for _, s in outs], axis=0))
    np.testing.assert_allclose(one["delta"], estimator.mean[0] + estimator.scale[0] * mu, rtol=1e-5)
    np.testing.assert_allclose(one["delta_sigma"], estimator.scale[0] * estimator.calibration[0] * sigma, rtol=1e-4)


def test_coverage_counts_the_intervals_that_hold_the_truth() -> None:
    est = type("E", (), {"targets": ["delta"], "mean": np.array([0.5])})()
    table = pd.DataFrame({"delta": [0.0, 0.0, 0.0, 0.0], "delta_pred": [0.05, 0.15, 0.3, 0.5], "delta_sigma": [0.1] * 4})
    table["delta_z"] = (table["delta_pred"] - table["delta"]) / table["delta_sigma"]
    s = summarise(table, est)
    assert s["delta_coverage68"] == 0.25 and s["delta_coverage95"] == 0.5
    assert s["delta_rmse"] == pytest.approx(np.sqrt(np.mean(np.square([0.05, 0.15, 0.3, 0.5]))))
    assert s["delta_prior_rmse"] == pytest.approx(0.5)


def test_poisson_noise_keeps_the_mean_and_its_variance_falls_with_the_counts() -> None:
    disc = np.full((1, 32, 32), 2.0)
    for counts in (10.0, 1000.0):
        draws = noisy(np.repeat(disc, 50, axis=0), counts, seed=1)
        assert draws.mean() == pytest.approx(2.0, rel=0.01)
        assert draws.var() == pytest.approx(4.0 / counts, rel=0.1)  # Var(k·m/N) = m²/N
    quiet = EstimatorConfig(offset_px=0.0, blur_px=0.0, noise_counts=(100.0, 100.0))
    out = augment(np.full((64, 8, 8), 5.0), np.random.default_rng(0), quiet)
    assert out.mean() == pytest.approx(5.0, rel=0.02) and out.var() == pytest.approx(0.25, rel=0.15)


def test_augmentation_moves_and_blurs_the_disc_within_its_bounds() -> None:
    rng = np.random.default_rng(0)
    spot = np.zeros((1, 33, 33))
    spot[0, 16, 16] = 1.0
    none = EstimatorConfig(offset_px=0.0, blur_px=0.0)
    np.testing.assert_array_equal(augment(spot, rng, none), spot)
    rows, cols = np.mgrid[0:33, 0:33]
    offsets = []
    for _ in range(40):
        moved = augment(spot, rng, EstimatorConfig(offset_px=1.5, blur_px=1.0))[0]
        assert moved.sum() == pytest.approx(1.0, abs=1e-9)  # shift and blur keep the intensity
        offsets.append(np.hypot((moved * rows).sum() - 16, (moved * cols).sum() - 16))
    assert max(offsets) <= 1.5 + 1e-9 and max(offsets) > 0.5
    same = [augment(spot, np.random.default_rng(7), EstimatorConfig()) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])  # seeded


def test_cli_train_evaluate_and_predict(series, tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    full = yaml.safe_load((REPO / "config.yaml").read_text())
    config.write_text(yaml.safe_dump({**full, "estimator": {"epochs": 5, "channels": 4}}))
    assert main(["train-estimator", "--dataset", str(series), "--seed", "1", "--out", str(tmp_path / "m"), "--config", str(config)]) == 0
    assert main(["evaluate", "--model", str(tmp_path / "m"), "--dataset", str(series), "--split", "random_0",
                 "--out", str(tmp_path / "ev"), "--counts", "300"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["counts"] == 300 and 0 <= metrics["delta_coverage68"] <= metrics["delta_coverage95"] <= 1
    disc = next((series.parent / "lacbed").rglob("*.tif"))
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "m"), str(disc), "--out", str(tmp_path / "e.json")]) == 0
    line = capsys.readouterr().out
    assert line.startswith(disc.name) and "delta" in line and "±" in line and line.rstrip().endswith("e")
    written = json.loads((tmp_path / "e.json").read_text())
    assert written["discs"][0]["delta_sigma"] > 0 and written["units"] == {"delta": "e"}


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_refine_starts_at_the_estimate_and_finds_the_same_answer(tmp_path) -> None:
    dataset = _series(tmp_path / "s16", 16)  # the refine model's grid: pixel_count 8 → 16 px
    train_estimator(dataset, tmp_path / "m", seed=0, config=EstimatorConfig(**SMALL))
    _, path, _, disc = refine_case.refine_command_case(tmp_path, n_variants=1)  # truth δ 0.3, start.cif δ 0
    estimate = load_estimator(tmp_path / "m").estimate(disc)
    args = ["refine", str(tmp_path / "start.cif"), str(tmp_path / "disc.tif"), "--config", str(path), "--free", "delta",
            "--counts", "1e5"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--out", str(tmp_path / "surr"), "--start", f"surrogate:{tmp_path / 'm'}"]) == 0
    plain = json.loads((tmp_path / "plain" / "report.json").read_text())
    surr = json.loads((tmp_path / "surr" / "report.json").read_text())
    assert plain["surrogate_start"] is None and plain["parameters"]["delta"]["start"] == pytest.approx(0.0)
    assert surr["surrogate_start"]["delta"]["used"]
    assert surr["surrogate_start"]["delta"]["value"] == pytest.approx(float(estimate["delta"][0]), abs=1e-6)
    assert surr["parameters"]["delta"]["start"] == pytest.approx(float(np.clip(estimate["delta"][0], 0.0, 1.0)), abs=1e-6)
    assert surr["parameters"]["delta"]["value"] == pytest.approx(plain["parameters"]["delta"]["value"], abs=2e-3)
    assert abs(surr["parameters"]["delta"]["value"] - 0.3) < 0.02
    from lacbed_bridge.refine.run import surrogate_start

    with pytest.raises(InputError, match="surrogate:MODEL"):
        surrogate_start(None, disc, "cif:x")
