"""The workflow's resume mode: continue the same run, start again for another one, and always
leave the rule's outputs (model.pt, train_log.csv) even when the checkpoint was already complete."""

from __future__ import annotations

import torch
from surrogate_helpers import TINY

from lacbed_bridge.surrogate.checkpoint import load_checkpoint
from lacbed_bridge.surrogate.config import TrainConfig
from lacbed_bridge.surrogate.train import train


def test_complete_checkpoint_still_writes_the_outputs(dataset_dir, tmp_path):
    out = tmp_path / "m"
    config = TrainConfig(epochs=1, **TINY)
    first = train(dataset_dir, out, direction="edd2lacbed", seed=0, config=config)
    weights = load_checkpoint(first)["generator"]
    (out / "model.pt").unlink()
    (out / "train_log.csv").unlink()  # what Snakemake does before rerunning the job
    again = train(dataset_dir, out, direction="edd2lacbed", seed=0, config=config, resume="if-compatible")
    assert (out / "train_log.csv").is_file()
    assert all(torch.equal(weights[k], v) for k, v in load_checkpoint(again)["generator"].items())


def test_another_run_starts_again_instead_of_failing(dataset_dir, tmp_path, caplog):
    out = tmp_path / "m"
    train(dataset_dir, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=1, **TINY))
    wider = TrainConfig(epochs=1, **{**TINY, "ngf": TINY["ngf"] * 2})
    path = train(dataset_dir, out, direction="edd2lacbed", seed=1, config=wider, resume="if-compatible")
    ckpt = load_checkpoint(path)
    assert int(ckpt["seed"]) == 1 and '"ngf": %d' % (TINY["ngf"] * 2) in ckpt["train_json"]
    assert "starting again" in caplog.text
