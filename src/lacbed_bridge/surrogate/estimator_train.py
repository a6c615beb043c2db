"""Training of the charge estimator (:mod:`.estimator`) on a built dataset's LACBED discs.

* Data: ``lacbed.tif`` rows of the split's train subset; targets from ``manifest.csv`` (``delta``,
  ``thickness``), standardised by their train mean and standard deviation. A target absent from
  the manifest or constant over the train subset is dropped (logged): there is nothing to learn.
* Loss: mean squared error on μ alone for the first third of the epochs (the means settle first),
  then the Gaussian negative log-likelihood of :mod:`.estimator` (μ and log σ together).
* What a measured disc does to the pattern, drawn afresh for every disc at every step
  (:func:`augment`): a centre offset of up to ``offset_px`` (uniform in a circle; bilinear
  interpolation, edges extended), a Gaussian PSF of σ uniform in [0, ``blur_px``], and with
  ``noise_counts`` Poisson noise at N counts per pixel at the disc's mean, N log-uniform in
  [low, high]. So the estimate marginalises over them and its σ includes them; without them one
  pixel of offset moved δ by 0.35 e with σ 0.11 (docs/performance.md).
* Cross-fitting (``folds`` = K): the training crystals are cut into K groups by base crystal (a
  crystal's charge states stay together); member k trains on the other K − 1 groups and predicts
  group k. The estimator is the ensemble of the K members (μ their mean, σ² the mean of their σ²).
  Its calibration factor c_j = RMS z_j of the out-of-fold predictions: every training disc scored
  by the member that never saw its crystal (once through :func:`augment`, seeded). A network's own
  σ on crystals it trained on is far too small (out of fold RMS z ≈ 4 on the reduced protocol);
  one factor from the few crystals of the val subset scatters too much (4 crystals in the demo).
  The val subset stays an independent check (logged and in the checkpoint).
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


def augment(discs: np.ndarray, rng: np.random.Generator, config: EstimatorConfig) -> np.ndarray:
    """Raw discs (N, s, s) each moved off-centre, blurred and made noisy (module docstring), batched in torch."""
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(discs, dtype=np.float64)).unsqueeze(1)
    n, side = len(x), x.shape[-1]
    if n == 0:
        return np.asarray(discs, dtype=np.float64)
    radius = config.offset_px * np.sqrt(rng.uniform(size=n))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    sigma = rng.uniform(0.0, config.blur_px, size=n) if config.blur_px > 0 else np.zeros(n)
    if config.offset_px > 0:  # sample the disc at (x − dx, y − dy): the pattern moves by (dx, dy) pixels
        theta = torch.zeros(n, 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, 0, 2] = torch.from_numpy(-2.0 * radius * np.cos(angle) / side)
        theta[:, 1, 2] = torch.from_numpy(-2.0 * radius * np.sin(angle) / side)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if np.any(sigma > 0):  # separable Gaussian PSF, one kernel per disc (groups), edges extended
        half = int(np.ceil(3.0 * config.blur_px))
        t = torch.arange(-half, half + 1, dtype=torch.float64)
        s = torch.from_numpy(np.maximum(sigma, 1e-6))[:, None]
        kernel = torch.exp(-0.5 * (t[None, :] / s) ** 2)
        kernel = kernel / kernel.sum(dim=1, keepdim=True)
        y = F.pad(x.reshape(1, n, side, side), (half, half, half, half), mode="replicate")
        y = F.conv2d(y, kernel[:, None, :, None], groups=n)
        x = F.conv2d(y, kernel[:, None, None, :], groups=n).reshape(n, 1, side, side)
    out = x[:, 0].numpy()
    if config.noise_counts is not None:
        low, high = np.log(config.noise_counts[0]), np.log(config.noise_counts[1])
        out = poisson_draws(out, np.exp(rng.uniform(low, high, size=n)), rng)
    return out


def poisson_draws(discs: np.ndarray, counts: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson draws of raw discs (N, s, s) at ``counts`` per pixel at each disc's mean intensity (one
    number, or one per disc), in the discs' own units."""
    counts = np.broadcast_to(np.asarray(counts, dtype=np.float64), (len(discs),))[:, None, None]
    mean = discs.reshape(len(discs), -1).mean(axis=1)[:, None, None]
    return rng.poisson(np.clip(discs, 0.0, None) / mean * counts) * mean / counts


def gaussian_nll(y: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """Mean over discs and targets of (y − μ)²/(2σ²) + log σ (Nix & Weigend 1994)."""
    return (0.5 * (y - mu) ** 2 * torch.exp(-2.0 * log_sigma) + log_sigma).mean()


def fold_of(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index per disc: base crystals (``groups``) dealt into ``folds`` groups in a seeded order."""
    unique = np.unique(groups)
    order = np.random.default_rng(seed).permutation(len(unique))
    of_crystal = dict(zip(unique[order], np.arange(len(unique)) % folds, strict=True))
    return np.array([of_crystal[g] for g in groups])


def train_member(discs: np.ndarray, y_std: np.ndarray, config: EstimatorConfig, seed: int
                 ) -> tuple[ChargeEstimatorNet, list[float]]:
    """One network on ``discs`` (raw) and standardised targets; returns it (eval mode) and its loss per epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    targets = torch.from_numpy(y_std).float()
    net = ChargeEstimatorNet(y_std.shape[1], config.channels)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warmup = config.epochs // 3
    losses = []
    for epoch in range(config.epochs):
        net.train()
        total = 0.0
        for batch in torch.randperm(len(discs), generator=generator).split(config.batch_size):
            x = augment(discs[batch.numpy()], rng, config)
            mu, log_sigma = net(torch.from_numpy(standardise_discs(x))[:, None])
            target = targets[batch]
            loss = ((target - mu) ** 2).mean() if epoch < warmup else gaussian_nll(target, mu, log_sigma)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(discs))
    return net.eval(), losses


def z_scores(net: ChargeEstimatorNet, discs: np.ndarray, y_std: np.ndarray) -> np.ndarray:
    """(y − μ)/σ per disc and target on the standardised scale."""
    with torch.no_grad():
        mu, log_sigma = net(torch.from_numpy(standardise_discs(discs)[:, None]))
    return (y_std - mu.double().numpy()) / np.exp(log_sigma.double().numpy())


def train_estimator(dataset_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, seed: int,
                    config: EstimatorConfig) -> Path:
    """Train the K cross-fitted members, calibrate and write ``out_dir/model.pt`` (+ ``train_log.csv``)."""
    import json

    from ..version import __version__
    from ..dataset.builder import load_dataset_info
    from ..dataset.integrity import verify_dataset

    root = Path(dataset_dir)
    verify_dataset(root, split=config.split)
    info = load_dataset_info(root)
    discs, rows = load_discs(root, config.split, "train")
    groups = (rows["base_id"] if "base_id" in rows else rows["sample_id"]).astype(str).to_numpy()
    n_crystals = len(np.unique(groups))
    if n_crystals < 2:
        raise InputError(f"split {config.split!r} has {n_crystals} training crystal(s); the estimator's cross-fitting "
                         "needs ≥ 2", path=root, field="split")
    present = [t for t in config.targets if t in rows]
    y_all = target_matrix(rows, present, root / "manifest.csv")
    targets = [t for j, t in enumerate(present) if np.ptp(y_all[:, j]) > 0]
    dropped = [t for t in config.targets if t not in targets]
    if dropped:
        log.info("estimator: %s absent from the manifest or constant over the training subset, not estimated",
                 ", ".join(dropped))
    if not targets:
        raise InputError(f"no target {list(config.targets)} varies over the training subset (nothing to estimate; "
                         "workflow.estimator: false skips the estimator)", path=root, field="estimator.targets")
    y = y_all[:, [present.index(t) for t in targets]]
    mean, scale = y.mean(axis=0), y.std(axis=0)
    y_std = (y - mean) / scale

    folds = min(config.folds, n_crystals)
    fold = fold_of(groups, folds, seed)
    started = time.perf_counter()
    members, log_rows = [], []
    z = np.zeros_like(y_std)
    for k in range(folds):
        net, losses = train_member(discs[fold != k], y_std[fold != k], config, seed * 1000 + k)
        held = fold == k
        z[held] = z_scores(net, augment(discs[held], np.random.default_rng(seed * 1000 + k + 500), config), y_std[held])
        members.append(net)
        log_rows += [{"member": k, "epoch": e + 1, "loss": loss} for e, loss in enumerate(losses)]
    calibration = np.sqrt(np.mean(z**2, axis=0))

    val_discs, val_rows = load_discs(root, config.split, "val")
    val_rms_z = None
    if len(val_discs):
        from .estimator import Estimator
        from .estimator_eval import interval_scores

        ensemble = Estimator(nets=members, targets=targets, mean=mean, scale=scale, calibration=calibration,
                             side=int(info["side"]), info={})
        values = ensemble.estimate(augment(val_discs, np.random.default_rng(seed + 1), config))
        truth = target_matrix(val_rows, targets, root / "manifest.csv")
        val_rms_z = [interval_scores(values[t], values[t + "_sigma"], truth[:, j])["rms_z"] for j, t in enumerate(targets)]

    data_desc = {
        "dataset_dir": str(root), "dataset_hash": info["dataset_hash"], "split": config.split, "side": int(info["side"]),
        "targets": targets, "target_mean": mean.tolist(), "target_scale": scale.tolist(),
        "target_range": {t: [float(y[:, j].min()), float(y[:, j].max())] for j, t in enumerate(targets)},
        "calibration": calibration.tolist(), "folds": folds, "n_train": len(discs), "n_train_crystals": n_crystals,
        "n_val": len(val_discs), "val_rms_z": val_rms_z, "seed": int(seed), "version": __version__,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "kind": KIND, "members": [net.state_dict() for net in members], "epoch": config.epochs,
        "model_json": json.dumps({"class": type(members[0]).__name__, "kwargs": members[0].init_kwargs}),
        "data_json": json.dumps(data_desc), "train_json": json.dumps(config.to_dict()),
    }
    save_checkpoint(out / "model.pt", payload)
    write_text_atomic(out / "train_log.csv", pd.DataFrame(log_rows).to_csv(index=False))
    log.info("estimator: %d discs of %d crystals, %d members × %d epochs, %.1f s; σ calibration %s (out of fold); "
             "val RMS z %s", len(discs), n_crystals, folds, config.epochs, time.perf_counter() - started,
             dict(zip(targets, np.round(calibration, 3).tolist(), strict=True)), val_rms_z)
    return out / "model.pt"
