"""Training of the charge estimator (:mod:`.estimator`) on a built dataset's LACBED discs.

* Data: ``lacbed.tif`` rows of the split's train subset; targets from ``manifest.csv`` (``delta``,
  ``thickness``), standardised by their train mean and standard deviation. A target constant over
  the train subset is dropped (logged): there is nothing to learn.
* Loss: mean squared error on μ alone for the first third of the epochs (the means settle first),
  then the Gaussian negative log-likelihood of :mod:`.estimator` (μ and log σ together).
* Optional Poisson noise (``noise_counts``): each disc, scaled to N counts per pixel at its mean
  with N log-uniform in [low, high], is replaced by a Poisson draw every step, so the estimator
  also reads noisy measured discs (and its σ grows with the noise).
* Calibration: on the val subset, c_j = RMS z_j (1 when fewer than 2 val discs; logged).
* Deterministic: seed → torch and NumPy generators; same dataset + config + seed → same weights.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
import torch

from ..errors import InputError
from ..io import write_text_atomic
from .checkpoint import save_checkpoint
from .estimator import KIND, ChargeEstimatorNet, EstimatorConfig, standardise_discs

log = logging.getLogger(__name__)


def load_discs(dataset_dir: str | os.PathLike[str], split: str, subset: str) -> tuple[np.ndarray, pd.DataFrame]:
    """The raw LACBED discs (N, side, side) and manifest rows of one subset of one split."""
    from ..dataset.splits import read_split, subset_indices

    root = Path(dataset_dir)
    manifest = pd.read_csv(root / "manifest.csv", dtype={"sample_id": str})
    indices = subset_indices(read_split(root / "splits" / f"{split}.csv"), subset)
    stack = tifffile.imread(root / "lacbed.tif")
    if stack.ndim == 2:
        stack = stack[None]
    if len(stack) != len(manifest):
        raise InputError(f"{len(stack)} discs for {len(manifest)} manifest rows", path=root / "lacbed.tif")
    return np.asarray(stack[indices], dtype=np.float64), manifest.iloc[indices].reset_index(drop=True)


def target_matrix(rows: pd.DataFrame, targets: tuple[str, ...] | list[str], path: Path) -> np.ndarray:
    """(N, n_targets) true values from manifest rows; a clear error for a missing column."""
    missing = [t for t in targets if t not in rows]
    if missing:
        raise InputError(f"the manifest has no column {missing} to train on", path=path, field="targets")
    return rows[list(targets)].to_numpy(dtype=np.float64)


def poisson_noise(x: torch.Tensor, counts: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """Each raw disc (B, 1, s, s) scaled to N counts per pixel at its mean (N log-uniform in
    ``counts``), replaced by a Poisson draw and scaled back."""
    low, high = np.log(counts[0]), np.log(counts[1])
    n = torch.exp(low + (high - low) * torch.rand(len(x), 1, 1, 1, generator=generator, dtype=x.dtype))
    mean = x.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-30)
    expected = (x.clamp_min(0.0) / mean * n).double()
    return torch.poisson(expected, generator=generator).to(x.dtype) * mean / n


def gaussian_nll(y: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """Mean over discs and targets of (y − μ)²/(2σ²) + log σ (Nix & Weigend 1994)."""
    return (0.5 * (y - mu) ** 2 * torch.exp(-2.0 * log_sigma) + log_sigma).mean()


def calibration_factors(net: ChargeEstimatorNet, discs: np.ndarray, y_std: np.ndarray) -> np.ndarray:
    """c_j = RMS over the discs of (y − μ)/σ on the standardised scale (1 with fewer than 2 discs)."""
    if len(discs) < 2:
        return np.ones(y_std.shape[1])
    with torch.no_grad():
        mu, log_sigma = net(torch.from_numpy(standardise_discs(discs)[:, None]))
    z = (y_std - mu.double().numpy()) / np.exp(log_sigma.double().numpy())
    return np.sqrt(np.mean(z**2, axis=0))


def train_estimator(dataset_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, seed: int,
                    config: EstimatorConfig) -> Path:
    """Train, calibrate and write ``out_dir/model.pt`` (+ ``train_log.csv``); returns the model path."""
    from ..dataset.builder import load_dataset_info
    from ..dataset.integrity import verify_dataset

    root = Path(dataset_dir)
    verify_dataset(root, split=config.split)
    info = load_dataset_info(root)
    discs, rows = load_discs(root, config.split, "train")
    if len(discs) < 2:
        raise InputError(f"split {config.split!r} has {len(discs)} training disc(s); the estimator needs ≥ 2",
                         path=root, field="split")
    present = [t for t in config.targets if t in rows]
    y_all = target_matrix(rows, present, root / "manifest.csv")
    targets = [t for j, t in enumerate(present) if np.ptp(y_all[:, j]) > 0]
    dropped = [t for t in config.targets if t not in targets]
    if dropped:
        log.info("estimator: %s absent from the manifest or constant over the training subset, not estimated",
                 ", ".join(dropped))
    if not targets:
        raise InputError(f"no target {list(config.targets)} varies over the training subset (nothing to estimate; "
                         "workflow.estimator: false skips the estimator)", path=root,
                         field="estimator.targets")
    y = y_all[:, [present.index(t) for t in targets]]
    mean, scale = y.mean(axis=0), y.std(axis=0)
    y_std = torch.from_numpy((y - mean) / scale).float()
    raw = torch.from_numpy(discs[:, None]).float()

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = ChargeEstimatorNet(len(targets), config.channels)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warmup = config.epochs // 3
    log_rows = []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        net.train()
        total = 0.0
        for batch in torch.randperm(len(raw), generator=generator).split(config.batch_size):
            x = raw[batch]
            if config.noise_counts is not None:
                x = poisson_noise(x, config.noise_counts, generator)
            mu, log_sigma = net(torch.from_numpy(standardise_discs(x[:, 0].numpy()))[:, None])
            target = y_std[batch]
            loss = ((target - mu) ** 2).mean() if epoch < warmup else gaussian_nll(target, mu, log_sigma)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        log_rows.append({"epoch": epoch + 1, "loss": total / len(raw), "seconds": time.perf_counter() - started})
    net.eval()

    val_discs, val_rows = load_discs(root, config.split, "val")
    if len(val_discs) < 2:
        log.info("estimator: fewer than 2 validation discs; σ left uncalibrated (factor 1)")
    y_val = (target_matrix(val_rows, targets, root / "manifest.csv") - mean) / scale if len(val_discs) else np.zeros((0, len(targets)))
    calibration = calibration_factors(net, val_discs, y_val)

    from .. import __version__
    import json

    data_desc = {
        "dataset_dir": str(root), "dataset_hash": info["dataset_hash"], "split": config.split, "side": int(info["side"]),
        "targets": targets, "target_mean": mean.tolist(), "target_scale": scale.tolist(),
        "target_range": {t: [float(y[:, j].min()), float(y[:, j].max())] for j, t in enumerate(targets)},
        "calibration": calibration.tolist(), "n_train": len(discs), "n_val": len(val_discs), "seed": int(seed),
        "version": __version__,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "kind": KIND, "estimator": net.state_dict(), "epoch": config.epochs,
        "model_json": json.dumps({"class": type(net).__name__, "kwargs": net.init_kwargs}),
        "data_json": json.dumps(data_desc), "train_json": json.dumps(config.to_dict()),
    }
    save_checkpoint(out / "model.pt", payload)
    write_text_atomic(out / "train_log.csv", pd.DataFrame(log_rows).to_csv(index=False))
    log.info("estimator: %d discs, %d epochs, %.1f s; σ calibration %s", len(discs), config.epochs,
             time.perf_counter() - started, dict(zip(targets, np.round(calibration, 3).tolist(), strict=True)))
    return out / "model.pt"
