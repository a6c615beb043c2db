"""Training: losses fall, a memorised batch reaches low error, exact resume, determinism, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml

from support.surrogate import TINY, synthetic
from lacbed_bridge.cli import main
from lacbed_bridge.errors import ConfigError, InputError
from lacbed_bridge.surrogate.checkpoint import load_checkpoint
from lacbed_bridge.surrogate.config import TrainConfig
from lacbed_bridge.surrogate.metrics import ssim
from lacbed_bridge.surrogate.models import PatchDiscriminator, UNetGenerator
from lacbed_bridge.surrogate.train import GanLoss, lr_factor, train

REPO_ROOT = Path(__file__).resolve().parents[2]


def _pairs(n: int = 4, side: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """n real-looking (EDD, LACBED) pairs on [0, 1] (dataset-wide max scaling)."""
    edd = torch.stack([torch.from_numpy(synthetic.edd_image(side, 30 + 6 * i, 33, 0.3 * i)) for i in range(n)]).unsqueeze(1)
    lac = torch.stack([torch.from_numpy(synthetic.lacbed_image(side, 3.0 + 0.7 * i, 0.3 * i)) for i in range(n)]).unsqueeze(1)
    return edd / edd.max(), lac / lac.max()


@pytest.mark.slow
def test_regression_unet_memorises_a_batch():
    torch.manual_seed(0)
    x, y = _pairs()
    baseline = float(F.l1_loss(y.mean(0, keepdim=True).expand_as(y), y))  # predicting the mean image
    gen = UNetGenerator(32, ngf=8, norm="instance", dropout=False)
    opt = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.5, 0.999))
    first = None
    for _ in range(100):
        pred = gen(x)
        loss = F.l1_loss(pred, y) + (1 - ssim(pred, y))
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    gen.eval()
    with torch.no_grad():
        l1 = float(F.l1_loss(gen(x), y))
    assert l1 < 0.05 and l1 < 0.35 * baseline, (l1, baseline)
    assert float(loss.detach()) < 0.3 * first


def test_pix2pix_l1_term_falls():
    torch.manual_seed(0)
    x, y = _pairs()
    gen, disc, gan = UNetGenerator(32, ngf=8), PatchDiscriminator(ndf=8), GanLoss("vanilla")
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.999))
    l1s = []
    for _ in range(30):
        fake = gen(x)
        opt_d.zero_grad()
        (0.5 * (gan(disc(x, fake.detach()), False) + gan(disc(x, y), True))).backward()
        opt_d.step()
        opt_g.zero_grad()
        l1 = F.l1_loss(fake, y)
        (gan(disc(x, fake), True) + 100 * l1).backward()
        opt_g.step()
        l1s.append(float(l1.detach()))
    assert sum(l1s[-5:]) / 5 < 0.7 * sum(l1s[:5]) / 5, l1s


def test_lr_schedules():
    linear = lr_factor("linear", 10, 0.5)
    assert [linear(e) for e in (0, 4)] == [1.0, 1.0] and linear(9) == pytest.approx(1 / 6)
    assert lr_factor("cosine", 10, 0.5)(0) == 1.0 and lr_factor("constant", 10, 0.5)(9) == 1.0


def _weights(path):
    ckpt = load_checkpoint(path)
    return ckpt, {**{f"g.{k}": v for k, v in ckpt["generator"].items()}, **{f"d.{k}": v for k, v in (ckpt["discriminator"] or {}).items()}}


@pytest.mark.parametrize("model", ["pix2pix", "unet"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(dataset_dir, tmp_path, model):
    config = TrainConfig(model=model, epochs=2, **TINY)
    full = train(dataset_dir, tmp_path / "full", direction="edd2lacbed", seed=3, config=config)
    train(dataset_dir, tmp_path / "cut", direction="edd2lacbed", seed=3, config=config, stop_after=1)
    assert not (tmp_path / "cut" / "model.pt").exists() and load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    resumed = train(dataset_dir, tmp_path / "cut", direction="edd2lacbed", seed=3, config=config, resume=True)
    ckpt_a, a = _weights(full)
    ckpt_b, b = _weights(resumed)
    assert a.keys() == b.keys() and len(a) > 10
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert ckpt_b["epoch"] == 2 and ckpt_a["sched_g"]["last_epoch"] == ckpt_b["sched_g"]["last_epoch"] == 2
    log_a = pd.read_csv(tmp_path / "full" / "train_log.csv")
    log_b = pd.read_csv(tmp_path / "cut" / "train_log.csv")
    pd.testing.assert_frame_equal(log_a.drop(columns="seconds"), log_b.drop(columns="seconds"))
    other = train(dataset_dir, tmp_path / "other", direction="edd2lacbed", seed=4, config=config)
    assert not all(torch.equal(a[k], v) for k, v in _weights(other)[1].items())


def test_checkpoint_is_self_describing(tiny_model):
    ckpt = load_checkpoint(tiny_model)  # weights_only=True inside
    model = json.loads(ckpt["model_json"])
    assert model["generator"]["class"] == "UNetGenerator" and model["generator"]["kwargs"]["side"] == 32
    data = json.loads(ckpt["data_json"])
    assert data["direction"] == "edd2lacbed" and len(data["dataset_hash"]) == 64
    assert set(data["normalisation"]) == {"edd", "lacbed"}
    assert json.loads(ckpt["train_json"])["lambda_l1"] == 100.0


def test_resume_refuses_another_seed(dataset_dir, tmp_path):
    config = TrainConfig(model="unet", epochs=2, **TINY)
    train(dataset_dir, tmp_path / "m", direction="edd2lacbed", seed=1, config=config, stop_after=1)
    with pytest.raises(InputError, match="seed"):
        train(dataset_dir, tmp_path / "m", direction="edd2lacbed", seed=2, config=config, resume=True)


def test_config_choices_are_checked():
    with pytest.raises(ConfigError, match="train.norm"):
        TrainConfig.from_mapping({"norm": "group"})
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_mapping({"learning_rate": 1e-3})
    assert TrainConfig.from_mapping({"gan_mode": "lsgan"}, epochs=3).epochs == 3


def test_train_cli_with_the_config_block(dataset_dir, tmp_path, capsys):
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())
    # this dataset has no deformation images: the EDD side as one channel
    config["train"] = {**config.get("train", {}), "ngf": 4, "ndf": 4, "batch_size": 8, "epochs": 1, "device": "cpu",
                       "input": "edd", "target": "edd"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["train", "--dataset", str(dataset_dir), "--direction", "lacbed2edd", "--seed", "0", "--out", str(tmp_path / "m"), "--config", str(path)]
    assert main(args + ["--model", "unet"]) == 0
    log = pd.read_csv(tmp_path / "m" / "train_log.csv")
    assert list(log["epoch"]) == [1] and log["val_mse"].notna().all()
    assert main(args[:-2] + ["--split", "random_7"]) == 2
    assert "split file not found" in capsys.readouterr().err


def test_two_scale_lsgan_instance_norm_run(tmp_path):
    """The Webb et al. two-scale option trains end to end (64² px) and its checkpoint rebuilds."""
    from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
    from lacbed_bridge.surrogate.checkpoint import generator_from_checkpoint

    csvs = [synthetic.make_family(tmp_path / "r", "F-43m_zincblende", 5, side=64), synthetic.make_family(tmp_path / "r", "Fm-3m_rocksalt", 5, side=64, seed=1)]
    refs = sample_refs_from_variants(csvs, edd_root=tmp_path / "r" / "edd", lacbed_root=tmp_path / "r" / "lacbed")
    build_dataset(refs, tmp_path / "ds", seed=0)
    config = TrainConfig(epochs=1, scales=2, gan_mode="lsgan", norm="instance", **TINY)
    path = train(tmp_path / "ds", tmp_path / "m", direction="lacbed2edd", seed=0, config=config)
    log = pd.read_csv(tmp_path / "m" / "train_log.csv")
    assert log[["loss_g", "loss_g_gan", "loss_g_l1", "loss_d", "val_mse"]].notna().all().all()
    ckpt = load_checkpoint(path)
    assert json.loads(ckpt["model_json"])["discriminator"]["class"] == "MultiScaleDiscriminator"
    gen = generator_from_checkpoint(ckpt)
    with torch.no_grad():
        assert gen(torch.rand(2, 1, 64, 64)).shape == (2, 1, 64, 64)
