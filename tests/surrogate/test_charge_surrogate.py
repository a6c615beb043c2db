"""Charge-aware surrogates (issue #10): two-channel EDD side, charge-difference loss with whole
charge series per batch, and the charge metrics of ``evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lacbed_bridge.dataset import channel_kinds
from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.dataset.torch_dataset import PairedImageDataset
from lacbed_bridge.errors import ConfigError, InputError
from lacbed_bridge.surrogate.charge_metrics import aggregate_charge, charge_table, series_metrics
from lacbed_bridge.surrogate.config import TrainConfig
from lacbed_bridge.surrogate.evaluate import SUMMARY_COLUMNS, evaluate_model, summary_frame, write_evaluation
from lacbed_bridge.surrogate.predict import load_model, predict_arrays
from lacbed_bridge.surrogate.train import SeriesBatchSampler, charge_difference_l1, train

from support.surrogate import TINY, synthetic

K = 3


@pytest.fixture(scope="module")
def series_dataset(tmp_path_factory) -> Path:
    """Synthetic charge series: 8 zincblende and 6 rocksalt base crystals × 3 states, with deformation images."""
    root = tmp_path_factory.mktemp("series")
    csvs = synthetic.make_results(root, {"F-43m_zincblende": 8 * K, "Fm-3m_rocksalt": 6 * K}, charge_states=K)
    refs = sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed", deformation_root=root / "deformation")
    out = root / "dataset"
    build_dataset(refs, out, seed=3, split_fractions=(0.6, 0.2, 0.2))
    return out


# ----- metrics on known series ----------------------------------------------------------------------
def _series(rng: np.random.Generator, deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    base = rng.normal(size=(8, 8))
    change = rng.normal(size=(8, 8))
    return base, base + deltas[:, None, None] * change


def test_series_metrics_of_a_perfect_and_of_a_damped_prediction():
    rng = np.random.default_rng(0)
    deltas = np.array([0.0, 0.25, 0.5, 1.0])
    _, truth = _series(rng, deltas)
    perfect = series_metrics(truth, truth, deltas)
    assert perfect["charge_r"] == pytest.approx(1.0) and perfect["charge_rms_ratio"] == pytest.approx(1.0)
    np.testing.assert_allclose(perfect["delta_pred"], deltas, atol=1e-12)
    # half the change plus a constant error of the base image: r stays 1, the ratio is 0.5, δ is read low
    damped = truth.mean(axis=0) + 0.5 * (truth - truth.mean(axis=0)) + 0.3
    m = series_metrics(damped, truth, deltas)
    assert m["charge_r"] == pytest.approx(1.0) and m["charge_rms_ratio"] == pytest.approx(0.5)
    assert np.all(np.abs(m["delta_pred"] - deltas) > 1e-3)
    # the opposite change: r = −1; no change at all: ratio 0 and r undefined
    assert series_metrics(2 * truth.mean(axis=0) - truth, truth, None)["charge_r"] == pytest.approx(-1.0)
    flat = series_metrics(np.repeat(truth[:1], 4, axis=0), truth, None)
    assert flat["charge_rms_ratio"] == 0.0 and math.isnan(flat["charge_r"])


def test_delta_is_read_exactly_from_a_perfect_prediction_despite_kappa_noise():
    """κ differs between states (an extra change not linear in δ): the truth itself reads its own δ."""
    rng = np.random.default_rng(2)
    deltas = np.array([1.0, 0.0, 2 / 3, 1 / 3])  # any order
    _, truth = _series(rng, deltas)
    truth = truth + 0.5 * rng.normal(size=truth.shape)  # per-state κ effect, as large as δ's
    np.testing.assert_allclose(series_metrics(truth, truth, deltas)["delta_pred"], deltas, atol=1e-12)
    # half-way between two states reads the δ half-way; beyond the range it is clamped to the ends
    middle = 0.5 * (truth[1] + truth[3])
    beyond = truth[0] + (truth[0] - truth[2])
    from lacbed_bridge.surrogate.charge_metrics import read_delta

    read = read_delta(np.stack([middle, beyond]).reshape(2, -1), truth.reshape(4, -1), deltas)
    np.testing.assert_allclose(read, [1 / 6, 1.0], atol=1e-12)


def test_charge_table_scores_each_base_crystal_on_its_own():
    rng = np.random.default_rng(1)
    deltas = np.array([0.0, 0.5, 1.0])
    _, t1 = _series(rng, deltas)
    _, t2 = _series(rng, deltas)
    rows = pd.DataFrame({"sample_id": list("abcdefg"), "base_id": ["a"] * 3 + ["d"] * 3 + ["g"],
                         "charge_state": [0, 1, 2, 0, 1, 2, 0], "delta": [*deltas, *deltas, 0.3]})
    truth = np.concatenate([t1, t2, t1[:1]])
    pred = np.concatenate([t1, t2.mean(axis=0) - (t2 - t2.mean(axis=0)), t1[:1]])  # second series: wrong sign
    table = charge_table(rows, pred, truth, with_delta=True)
    assert table["charge_r"].iloc[:3].tolist() == pytest.approx([1.0] * 3)
    assert table["charge_r"].iloc[3:6].tolist() == pytest.approx([-1.0] * 3)
    assert math.isnan(table["charge_r"].iloc[6]) and math.isnan(table["delta_error"].iloc[6])  # a single state
    np.testing.assert_allclose(table["delta_error"].iloc[:3], 0.0, atol=1e-12)
    np.testing.assert_allclose(table["delta_pred"].iloc[3:6], 1.0 - deltas, atol=1e-12)  # δ read mirrored
    agg = aggregate_charge(table)
    assert agg["n_series"] == 2 and agg["charge_r"] == pytest.approx(0.0)
    assert agg["delta_rmse"] == pytest.approx(np.sqrt(np.mean(np.r_[np.zeros(3), (1 - 2 * deltas) ** 2])))


# ----- training pieces --------------------------------------------------------------------------------
def test_charge_difference_loss_ignores_an_error_common_to_the_series():
    torch.manual_seed(0)
    target = torch.rand(6, 2, 8, 8)
    groups = torch.tensor([0, 0, 0, 1, 1, 2])
    common = torch.rand(3, 2, 8, 8)[groups]  # the same error for every state of a base crystal
    assert float(charge_difference_l1(target + common, target, groups)) == pytest.approx(0.0, abs=1e-7)
    wrong = target.clone()
    wrong[0] += 0.3  # one state's change is wrong by 0.3: deviations 0.2, −0.1, −0.1 from the series mean
    expected = (0.2 + 0.1 + 0.1) / 5  # mean over the 5 images of the two series with ≥ 2 states
    assert float(charge_difference_l1(wrong, target, groups)) == pytest.approx(expected, rel=1e-5)
    assert float(charge_difference_l1(wrong, target, torch.arange(6))) == 0.0  # no series in the batch


def test_series_batches_hold_whole_series_and_repeat_per_epoch():
    groups = np.array([4, 4, 4, 1, 1, 1, 7, 7, 7, 2, 9, 9])
    sampler = SeriesBatchSampler(groups, batch_size=4, seed=5)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(groups)))
    for batch in batches:
        for g in set(groups[batch]):
            assert set(np.flatnonzero(groups == g)) <= set(batch)  # the whole series is in the batch
    assert list(sampler) == batches
    sampler.set_epoch(1)
    assert list(sampler) != batches and len(sampler) == len(list(sampler))


def test_channels_of_each_direction_and_bad_values():
    assert channel_kinds("edd2lacbed", "both", "edd") == (("edd", "deformation"), ("lacbed",))
    assert channel_kinds("lacbed2edd", "both", "deformation") == (("lacbed",), ("deformation",))
    with pytest.raises(ConfigError, match="train.target"):
        channel_kinds("lacbed2edd", "edd", "charge")
    with pytest.raises(ConfigError, match="train.input"):
        TrainConfig.from_mapping({"input": "density"})


def test_two_channel_items_are_normalised_per_kind(series_dataset):
    data = PairedImageDataset(series_dataset, direction="lacbed2edd", split="random_0", subset="train", target="both", with_group=True)
    x, y, g = data[0]
    assert x.shape == (1, 32, 32) and y.shape == (2, 32, 32) and int(g) == int(data.groups[0])
    info = json.loads((series_dataset / "dataset.json").read_text())
    for c, kind in enumerate(data.target_kinds):
        stack = np.stack([data[i][1][c].numpy() for i in range(len(data))])
        lo, hi = info["normalisation"][kind]["min"], info["normalisation"][kind]["max"]
        assert stack.min() >= -1e-6 and stack.max() <= 1 + 1e-6 and hi > lo
    rows = data.rows()
    assert (rows.groupby("base_id").size() == K).all()  # whole series in the training subset


def test_dataset_without_deformation_refuses_a_deformation_channel(dataset_dir):
    with pytest.raises(InputError, match="deformation"):
        PairedImageDataset(dataset_dir, direction="edd2lacbed", input="both")


# ----- train, evaluate, predict with two channels and the charge loss --------------------------------------
@pytest.fixture(scope="module")
def trained(series_dataset, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for direction, model in (("edd2lacbed", "unet"), ("lacbed2edd", "pix2pix")):
        config = TrainConfig(epochs=2, input="both", target="both", charge_weight=2.0, model=model, **TINY)
        out[direction] = train(series_dataset, tmp_path_factory.mktemp(direction), direction=direction, seed=0, config=config)
    return out


def test_training_logs_the_charge_term_and_builds_two_channel_networks(trained):
    model, desc = load_model(trained["lacbed2edd"], "cpu")
    assert desc["input_kinds"] == ["lacbed"] and desc["target_kinds"] == ["edd", "deformation"]
    assert model.init_kwargs["in_channels"] == 1 and model.init_kwargs["out_channels"] == 2
    log = pd.read_csv(trained["lacbed2edd"].parent / "train_log.csv")
    assert np.isfinite(log["loss_g_charge"]).all() and (log["loss_g_charge"] > 0).all()
    model, desc = load_model(trained["edd2lacbed"], "cpu")
    assert model.init_kwargs["in_channels"] == 2 and model.init_kwargs["out_channels"] == 1


def test_evaluate_scores_the_charge_per_base_crystal(trained, series_dataset, tmp_path):
    per_sample, summary = evaluate_model(trained["lacbed2edd"], series_dataset, split="random_0", device="cpu")
    split = pd.read_csv(series_dataset / "splits" / "random_0.csv", dtype={"sample_id": str})
    manifest = pd.read_csv(series_dataset / "manifest.csv", dtype={"sample_id": str})
    test_bases = manifest.set_index("sample_id").loc[split[split["subset"] == "test"]["sample_id"], "base_id"].nunique()
    assert summary["n_series"] == test_bases >= 1 and summary["charge_kind"] == "deformation"
    for column in ("base_id", "charge_state", "delta", "charge_r", "charge_rms_ratio", "delta_pred", "delta_error",
                   "mse_deformation", "ssim_deformation"):
        assert column in per_sample and per_sample[column].notna().all(), column
    np.testing.assert_allclose(per_sample["delta_error"], per_sample["delta_pred"] - per_sample["delta"])
    assert summary["delta_rmse"] == pytest.approx(float(np.sqrt(np.mean(per_sample["delta_error"] ** 2))))
    write_evaluation(tmp_path, per_sample, summary)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert {"charge_r", "charge_rms_ratio", "delta_rmse", "n_series"} <= set(written)
    frame = summary_frame([written])
    assert tuple(frame.columns) == SUMMARY_COLUMNS and frame["delta_rmse"].iloc[0] == pytest.approx(summary["delta_rmse"])
    # the LACBED direction has no δ to read
    _, forward = evaluate_model(trained["edd2lacbed"], series_dataset, split="random_0", device="cpu")
    assert forward["charge_kind"] == "lacbed" and math.isnan(forward["delta_rmse"]) and np.isfinite(forward["charge_rms_ratio"])


def test_predict_takes_and_gives_channel_stacks(trained, series_dataset):
    model, desc = load_model(trained["edd2lacbed"], "cpu")
    data = PairedImageDataset(series_dataset, direction="edd2lacbed", split=None, input="both")
    import tifffile

    edd = tifffile.imread(series_dataset / "edd.tif")[:2]
    deformation = tifffile.imread(series_dataset / "deformation.tif")[:2]
    out = predict_arrays(model, [np.stack([edd[i], deformation[i]]) for i in range(2)], desc)
    assert out[0].shape == (32, 32)
    with pytest.raises(InputError, match="channels"):
        predict_arrays(model, [edd[0]], desc)
    # the same as the model on the dataset's own normalised items
    with torch.no_grad():
        direct = model(data[0][0].unsqueeze(0)).clamp(0, 1)[0, 0].numpy()
    lac = data.normalisation["lacbed"]
    np.testing.assert_allclose(out[0], direct * lac["scale"] + lac["offset"], rtol=1e-5, atol=1e-6)
