"""Evaluation: metrics against direct torchmetrics calls and known inputs, per-sample/per-group
files, summary.csv columns, mean ± std over seeds."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from lacbed_bridge.cli import main
from lacbed_bridge.dataset.torch_dataset import PairedImageDataset
from lacbed_bridge.surrogate.evaluate import SUMMARY_COLUMNS, aggregate, aggregate_seeds, evaluate_model, write_summary
from lacbed_bridge.surrogate.metrics import image_metrics
from lacbed_bridge.surrogate.predict import load_model, predict_arrays


def test_identical_images_score_perfectly():
    x = torch.rand(3, 1, 32, 32)
    m = image_metrics(x, x.clone())
    assert torch.equal(m["mse"], torch.zeros(3))
    assert torch.allclose(m["ssim"], torch.ones(3))
    assert torch.isinf(m["psnr"]).all()


def test_metrics_match_torchmetrics_and_definitions():
    torch.manual_seed(0)
    target = torch.rand(5, 1, 32, 32)
    pred = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    m = image_metrics(pred, target)
    np.testing.assert_allclose(m["mse"].numpy(), ((pred - target) ** 2).mean(dim=(1, 2, 3)).numpy(), rtol=1e-6)
    ssim_ref = StructuralSimilarityIndexMeasure(gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0)
    assert float(m["ssim"].mean()) == pytest.approx(float(ssim_ref(pred, target)), rel=1e-5)
    for i in range(5):
        psnr_i = 10 * math.log10(1 / float(((pred[i] - target[i]) ** 2).mean()))
        assert float(m["psnr"][i]) == pytest.approx(psnr_i, rel=1e-5)
    pooled = PeakSignalNoiseRatio(data_range=1.0)
    pooled.update(pred[:2], target[:2])
    pooled.update(pred[2:], target[2:])
    frame = pd.DataFrame({k: v.numpy().astype(float) for k, v in m.items()})
    assert aggregate(frame)["psnr"] == pytest.approx(float(pooled.compute()), rel=1e-5)


def test_evaluate_model_per_sample_and_group(tiny_model, dataset_dir, tmp_path):
    per_sample, summary = evaluate_model(tiny_model, dataset_dir, split="loso_Fm-3m", batch_size=3, device="cpu")
    data = PairedImageDataset(dataset_dir, direction="edd2lacbed", split="loso_Fm-3m", subset="test")
    assert per_sample["sample_id"].tolist() == data.sample_ids and summary["n"] == len(data) == 4
    # independent route: predict in physical units, normalise back, compare with the stored targets
    model, desc = load_model(tiny_model, "cpu")
    raw_inputs = [x[0].numpy() * desc["normalisation"]["edd"]["scale"] + desc["normalisation"]["edd"]["offset"] for x, _ in data]
    preds = predict_arrays(model, raw_inputs, desc)
    lac = desc["normalisation"]["lacbed"]
    mse = [float(np.mean(((p - lac["offset"]) / lac["scale"] - y[0].numpy()) ** 2)) for p, (_, y) in zip(preds, data)]
    np.testing.assert_allclose(per_sample["mse"], mse, rtol=1e-4)
    assert summary["mse"] == pytest.approx(np.mean(mse), rel=1e-4)
    assert (per_sample["spacegroup"] == "F m -3 m").all()
    assert main(["evaluate", "--model", str(tiny_model), "--dataset", str(dataset_dir), "--split", "random_0", "--out", str(tmp_path / "ev"), "--device", "cpu"]) == 0
    groups = pd.read_csv(tmp_path / "ev" / "per_group.csv")
    sample = pd.read_csv(tmp_path / "ev" / "per_sample.csv")
    assert groups["n"].sum() == len(sample) and set(groups["spacegroup"]) <= {"F-43m", "Fm-3m", "Pm-3m"}
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["direction"] == "edd2lacbed" and metrics["model"] == "pix2pix" and metrics["seed"] == 0
    assert metrics["mse"] == pytest.approx(sample["mse"].mean())


def test_evaluate_refuses_a_dataset_with_other_normalisation(tiny_model, dataset_dir, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for f in dataset_dir.rglob("*"):
        if f.is_file():
            (other / f.relative_to(dataset_dir)).parent.mkdir(parents=True, exist_ok=True)
            (other / f.relative_to(dataset_dir)).write_bytes(f.read_bytes())
    info = json.loads((other / "dataset.json").read_text())
    info["normalisation"]["edd"]["scale"] *= 2
    (other / "dataset.json").write_text(json.dumps(info))
    assert main(["evaluate", "--model", str(tiny_model), "--dataset", str(other), "--split", "random_0", "--out", str(tmp_path / "e")]) == 2
    assert "normalisation" in capsys.readouterr().err


def test_summary_csv_and_seed_aggregation(tmp_path):
    rows = [
        {"direction": "edd2lacbed", "model": "pix2pix", "seed": s, "split": "random_0", "n": 10, "mse": m, "ssim": q, "psnr": p, "extra": 1}
        for s, m, q, p in ((0, 0.01, 0.9, 20.0), (1, 0.03, 0.8, 15.0), (2, 0.02, 0.85, 17.0))
    ] + [{"direction": "lacbed2edd", "model": "unet", "seed": 0, "split": "loso_F-43m", "n": 4, "mse": 0.1, "ssim": 0.5, "psnr": 10.0}]
    frame = write_summary(rows, tmp_path / "metrics" / "summary.csv")
    written = pd.read_csv(tmp_path / "metrics" / "summary.csv")
    assert tuple(written.columns) == SUMMARY_COLUMNS and len(written) == 4
    agg = aggregate_seeds(frame).set_index(["direction", "model", "split"])
    row = agg.loc[("edd2lacbed", "pix2pix", "random_0")]
    assert row["n_seeds"] == 3
    assert row["mse_mean"] == pytest.approx(0.02) and row["mse_std"] == pytest.approx(np.std([0.01, 0.03, 0.02], ddof=1))
    assert row["psnr_mean"] == pytest.approx(52 / 3)
    assert agg.loc[("lacbed2edd", "unet", "loso_F-43m")]["ssim_std"] == 0.0
