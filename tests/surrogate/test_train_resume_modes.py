"""The workflow's resume mode: continue the same run, start again for another one, and always
leave the rule's outputs (model.pt, train_log.csv) even when the checkpoint was already complete."""

from __future__ import annotations

import pytest
import torch
from support.surrogate import TINY

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


def test_a_changed_split_is_never_resumed_or_scored(dataset_dir, tmp_path, caplog):
    """Leakage guard (issue #11 item 1): the same split name with other subsets (split_fractions
    changed) must not continue a finished model, nor score it: its test samples were trained on."""
    import hashlib
    import json
    import shutil

    import pandas as pd
    import pytest

    from lacbed_bridge.errors import InputError
    from lacbed_bridge.surrogate.evaluate import evaluate_model

    data = tmp_path / "dataset"
    shutil.copytree(dataset_dir, data)
    out = tmp_path / "m"
    config = TrainConfig(epochs=1, **TINY)
    train(data, out, direction="edd2lacbed", seed=0, config=config)
    evaluate_model(out / "model.pt", data, split="random_0", device="cpu")  # same split: fine
    split_csv = data / "splits" / "random_0.csv"
    frame = pd.read_csv(split_csv, dtype={"sample_id": str})
    test_ids = set(frame.loc[frame["subset"] == "test", "sample_id"])
    frame["subset"] = frame["subset"].replace({"train": "test", "test": "train"})  # subsets swapped
    frame.to_csv(split_csv, index=False, lineterminator="\n")
    # an edited split that dataset.json does not describe is damage (issue #25 item 3) ...
    with pytest.raises(InputError, match="differs from the split recorded in dataset.json"):
        evaluate_model(out / "model.pt", data, split="random_0", device="cpu")
    # ... a rebuilt dataset with other subsets records them: that is the leak to refuse
    info = json.loads((data / "dataset.json").read_text())
    info["splits"]["random_0"]["sha256"] = hashlib.sha256(split_csv.read_bytes()).hexdigest()
    (data / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(InputError, match="other subsets") as err:
        evaluate_model(out / "model.pt", data, split="random_0", device="cpu")
    assert "random_0.csv" in str(err.value)
    with pytest.raises(InputError, match="split_hash"):
        train(data, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=2, **TINY), resume=True)
    caplog.clear()
    path = train(data, out, direction="edd2lacbed", seed=0, config=config, resume="if-compatible")
    assert "starting again" in caplog.text and "split_hash" in caplog.text
    _, summary = evaluate_model(path, data, split="random_0", device="cpu")  # retrained: scored again
    assert summary["n"] == len(frame) - len(test_ids) - int((frame["subset"] == "val").sum())


def test_run_only_keys_are_the_callers_in_both_resume_modes(dataset_dir, tmp_path):
    """One resume rule (issue #12 item 7): run-only keys (epochs, amp, ...) come from the caller in
    both modes; other hyper-parameters are the checkpoint's (True) or start again (if-compatible)."""
    import json

    import pytest

    from lacbed_bridge.errors import InputError
    from lacbed_bridge.surrogate.train import RUN_ONLY_KEYS

    assert "amp" in RUN_ONLY_KEYS
    out = tmp_path / "m"
    train(dataset_dir, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=1, amp=True, **TINY))
    for mode in (True, "if-compatible"):
        path = train(dataset_dir, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=2, amp=False, **TINY), resume=mode)
        stored = json.loads(load_checkpoint(path)["train_json"])
        assert stored["amp"] is False and stored["epochs"] == 2
        assert len(json.loads(load_checkpoint(path)["log_json"])) == 2  # continued, not started again
        train(dataset_dir, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=1, amp=True, **TINY))
    # a checkpoint beyond the epochs asked for is another run
    train(dataset_dir, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=2, **TINY))
    with pytest.raises(InputError, match="epoch 2, beyond the 1 asked for"):
        train(dataset_dir, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=1, **TINY), resume=True)


@pytest.mark.parametrize("schedule", ["linear", "constant"])
def test_more_epochs_give_the_weights_of_a_fresh_run(dataset_dir, tmp_path, caplog, schedule):
    """issue #25 item 10: a finished 1-epoch run asked for 2 epochs. Under the linear schedule the
    rate of epoch 1 depends on the total, so the run starts again; under a constant rate it
    continues. Either way the weights equal those of a fresh 2-epoch run of the same config."""
    out = tmp_path / "m"
    train(dataset_dir, out, direction="edd2lacbed", seed=0, config=TrainConfig(epochs=1, lr_schedule=schedule, **TINY))
    caplog.clear()
    longer = TrainConfig(epochs=2, lr_schedule=schedule, **TINY)
    resumed = load_checkpoint(train(dataset_dir, out, direction="edd2lacbed", seed=0, config=longer, resume="if-compatible"))
    assert ("starting again" in caplog.text) == (schedule == "linear")
    fresh = load_checkpoint(train(dataset_dir, tmp_path / "fresh", direction="edd2lacbed", seed=0, config=longer))
    assert all(torch.equal(fresh["generator"][k], v) for k, v in resumed["generator"].items())
