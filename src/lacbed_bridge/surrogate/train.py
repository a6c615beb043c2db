"""Training of the pix2pix surrogate and the regression U-Net baseline (docs/architecture.md §7).

pix2pix (Isola et al. 2017, eq. 4): G* = arg min_G max_D L_cGAN(G, D) + λ·L_L1(G), alternating one
discriminator step (real pair → 1, fake pair → 0, loss halved) and one generator step (fake pair
→ 1, plus λ·|G(x) − y|₁); Adam(2e-4, β = (0.5, 0.999)). With two scales the half-resolution
generator output gets its own λ·L1 term against the 2×-pooled target and the GAN terms are summed
over both discriminators. The regression baseline minimises L1 + w·(1 − SSIM), no discriminator.

Charge-difference term (``charge_weight`` λ_Δ > 0): the charge signal is a small change of the
image between charge states of one base crystal (docs/charge_model.md), which the image L1 term
hardly sees. Each batch then holds whole charge series (:class:`SeriesBatchSampler`) and the
generator loss gains λ_Δ·(λ for pix2pix)·mean|e_k − ⟨e⟩_s| with e = G(x) − y, i.e. the L1 distance
between the predicted and the true change of each image from the mean of its series s.

Reproducibility: the seed fixes the initial weights (torch), the batch order of every epoch
(a generator seeded from (seed, epoch), independent of history) and dropout (the global torch RNG,
saved in each checkpoint with the Python and NumPy states). On CPU the run is deterministic
(``torch.use_deterministic_algorithms``) and a run resumed from an epoch checkpoint ends with
exactly the same weights as an uninterrupted one. CUDA runs use bf16 autocast when ``amp`` is on.

Files in the output folder: ``last.pt`` (resumable checkpoint, every ``checkpoint_every`` epochs),
``model.pt`` (the final checkpoint; same format), ``train_log.csv`` (per epoch: learning rate,
losses, validation MSE/SSIM, seconds) and ``model.json`` (human-readable description).
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Sampler

from ..dataset.torch_dataset import PairedImageDataset
from ..device import resolve_device
from ..errors import InputError
from ..io import write_text_atomic
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .metrics import image_metrics, ssim
from .models import TwoScaleGenerator, build_networks

LOG = logging.getLogger(__name__)
LOG_COLUMNS = ("epoch", "lr", "loss_g", "loss_g_gan", "loss_g_l1", "loss_g_ssim", "loss_g_charge", "loss_d", "val_mse", "val_ssim",
               "seconds")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy (global) and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_factor(schedule: str, epochs: int, decay_start: float) -> Callable[[int], float]:
    """Learning-rate multiplier of epoch e (0-based) for ``LambdaLR``.

    ``linear``: 1 for the first ``n0 = round(decay_start · epochs)`` epochs, then
    1 − (e − n0 + 1)/(epochs − n0 + 1) (pix2pix's ``lambda_rule``); ``cosine``: ½(1 + cos(π e/epochs)).
    """
    n0 = int(round(decay_start * epochs))

    def constant(epoch: int) -> float:
        return 1.0

    def linear(epoch: int) -> float:
        return 1.0 - max(0, epoch - n0 + 1) / float(epochs - n0 + 1)

    def cosine(epoch: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))

    return {"constant": constant, "linear": linear, "cosine": cosine}[schedule]


class GanLoss(nn.Module):
    """GAN objective on PatchGAN logits: ``vanilla`` (BCE with logits) or ``lsgan`` (MSE)."""

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, logits: torch.Tensor | list[torch.Tensor], real: bool) -> torch.Tensor:
        maps = logits if isinstance(logits, list) else [logits]
        total = torch.zeros((), device=maps[0].device)
        for m in maps:
            m = m.float()
            target = torch.full_like(m, 1.0 if real else 0.0)
            if self.mode == "lsgan":
                total = total + F.mse_loss(m, target)
            else:
                total = total + F.binary_cross_entropy_with_logits(m, target)
        return total


class EpochSampler(Sampler[int]):
    """A random order of the items that depends only on (seed, epoch), so resuming repeats it."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n


class SeriesBatchSampler(Sampler[list[int]]):
    """Batches of whole charge series: the base crystals are shuffled by (seed, epoch) and packed,
    all states of one crystal together, until a batch holds at least ``batch_size`` images."""

    def __init__(self, groups: np.ndarray, batch_size: int, seed: int) -> None:
        self.seed, self.epoch, self.batch_size = seed, 0, batch_size
        order = np.argsort(groups, kind="stable")
        bounds = np.flatnonzero(np.diff(groups[order])) + 1
        self.series = [part.tolist() for part in np.split(order, bounds)] if len(groups) else []

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch``."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        batches, current = [], []
        for s in torch.randperm(len(self.series), generator=gen).tolist():
            current = current + self.series[s]
            if len(current) >= self.batch_size:
                batches.append(current)
                current = []
        if current:
            batches.append(current)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


def charge_difference_l1(pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """mean |e_k − ⟨e⟩_s| over the images of series with ≥ 2 states in the batch, e = pred − target.

    Equals the L1 distance between the predicted change of image k from its series mean and the
    true change (both measured from the series mean); 0 when no series has two states here.
    """
    _, inverse, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    error = (pred - target).float()
    sums = torch.zeros((len(counts), *error.shape[1:]), dtype=error.dtype, device=error.device).index_add_(0, inverse, error)
    deviation = error - (sums / counts.view(-1, *([1] * (error.dim() - 1))).to(error.dtype))[inverse]
    keep = counts[inverse] > 1
    return deviation[keep].abs().mean() if bool(keep.any()) else error.new_zeros(())


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _set_requires_grad(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        for p in module.parameters():
            p.requires_grad_(flag)


@torch.no_grad()
def validate(generator: nn.Module, loader: DataLoader, device: torch.device) -> tuple[float, float]:
    """Mean MSE and SSIM of the generator (``eval()``) over a loader; NaN for an empty one."""
    was_training = generator.training
    generator.eval()
    mse, ss, n = 0.0, 0.0, 0
    for x, y, *_ in loader:
        m = image_metrics(generator(x.to(device)).clamp(0, 1), y.to(device))
        mse += float(m["mse"].sum())
        ss += float(m["ssim"].sum())
        n += len(x)
    generator.train(was_training)
    return (mse / n, ss / n) if n else (math.nan, math.nan)


#: TrainConfig keys of one call, not of the run: a resumed run takes them from the caller
RUN_ONLY_KEYS = ("epochs", "device", "num_workers", "checkpoint_every", "amp")
#: what a run is tied to (``data_json`` keys): a checkpoint never continues with other values
DATA_KEYS = ("dataset_hash", "direction", "split", "split_hash")


def resume_differences(ckpt: dict[str, Any], config: TrainConfig, data_desc: dict[str, Any], seed: int) -> tuple[list[str], list[str]]:
    """How a checkpoint differs from the run asked for: (hyper-parameters, data).

    Hyper-parameters: every TrainConfig key but :data:`RUN_ONLY_KEYS`, and ``epochs`` too under a
    linear or cosine schedule (the rate of every epoch depends on the total, so only a constant
    rate continues to what a fresh run gives). Data: :data:`DATA_KEYS`, the seed, and a checkpoint
    beyond the epochs asked for. Each entry reads "key stored, not wanted".
    """
    stored = TrainConfig.from_mapping(json.loads(ckpt["train_json"])).to_dict()
    wanted = config.to_dict()
    hyper = [f"{key} = {stored.get(key)!r}, not {wanted.get(key)!r}" for key in sorted(set(stored) | set(wanted))
             if key not in RUN_ONLY_KEYS and stored.get(key) != wanted.get(key)]
    if stored.get("epochs") != wanted.get("epochs") and wanted.get("lr_schedule") != "constant":
        # the learning rate of every epoch depends on the total under a decaying schedule: continuing
        # would not give the weights a fresh run of this config gives
        hyper.append(f"epochs = {stored.get('epochs')!r} under the {wanted.get('lr_schedule')} learning-rate schedule, "
                     f"not {wanted.get('epochs')!r}")
    old = json.loads(ckpt["data_json"])
    data = [f"{key} {old.get(key)!r}, not {data_desc.get(key)!r}" for key in DATA_KEYS if old.get(key) != data_desc.get(key)]
    if int(ckpt["seed"]) != int(seed):
        data.append(f"seed {ckpt['seed']}, not {seed}")
    if int(ckpt["epoch"]) > config.epochs:
        data.append(f"epoch {ckpt['epoch']}, beyond the {config.epochs} asked for")
    return hyper, data


def _resumed_config(ckpt: dict[str, Any], config: TrainConfig) -> TrainConfig:
    """The checkpoint's hyper-parameters with the caller's run-only keys (:data:`RUN_ONLY_KEYS`)."""
    stored = TrainConfig.from_mapping(json.loads(ckpt["train_json"]))
    return TrainConfig.from_mapping(stored.to_dict(), **{key: getattr(config, key) for key in RUN_ONLY_KEYS})


def _frame_text(rows: list[dict[str, Any]]) -> str:
    buffer = _io.StringIO()
    pd.DataFrame(rows, columns=list(LOG_COLUMNS)).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


@contextlib.contextmanager
def _deterministic(enabled: bool) -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


class TrainingState:
    """Everything a training run carries from epoch to epoch: networks, optimisers, schedulers,
    the epoch reached and the log. Built from a config (weights from the seeded global RNG),
    loaded from a checkpoint, and turned back into one (:meth:`payload`)."""

    def __init__(self, config: TrainConfig, *, side: int, in_channels: int, out_channels: int, device: torch.device) -> None:
        self.config = config
        self.gen, self.disc = build_networks(
            model=config.model, side=side, ngf=config.ngf, ndf=config.ndf, norm=config.norm, dropout=config.dropout,
            scales=config.scales, n_layers_d=config.n_layers_d, in_channels=in_channels, out_channels=out_channels,
        )
        self.gen.to(device)
        if self.disc is not None:
            self.disc.to(device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=config.lr, betas=betas) if self.disc is not None else None
        factor = lr_factor(config.lr_schedule, config.epochs, config.decay_start)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, factor)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, factor) if self.opt_d is not None else None
        self.epoch = 0
        self.log_rows: list[dict[str, Any]] = []

    def load(self, ckpt: dict[str, Any]) -> None:
        """Continue from a checkpoint: weights, optimiser and scheduler states, epoch, log, RNG states."""
        self.gen.load_state_dict(ckpt["generator"])
        self.opt_g.load_state_dict(ckpt["opt_g"])
        self.sched_g.load_state_dict(ckpt["sched_g"])
        if self.disc is not None:
            self.disc.load_state_dict(ckpt["discriminator"])
            self.opt_d.load_state_dict(ckpt["opt_d"])  # type: ignore[union-attr]
            self.sched_d.load_state_dict(ckpt["sched_d"])  # type: ignore[union-attr]
        self.epoch = int(ckpt["epoch"])
        self.log_rows = json.loads(ckpt["log_json"])
        set_rng_state(ckpt)

    def payload(self, data_desc: dict[str, Any], seed: int, epoch: int) -> dict[str, Any]:
        """The checkpoint dict (see :mod:`.checkpoint`) at ``epoch``."""
        disc = self.disc
        return {
            "model_json": json.dumps({"generator": self.gen.describe(), "discriminator": disc.describe() if disc is not None else None}),
            "train_json": json.dumps(self.config.to_dict()),
            "data_json": json.dumps(data_desc),
            "log_json": json.dumps(self.log_rows),
            "seed": int(seed),
            "epoch": int(epoch),
            "generator": self.gen.state_dict(),
            "discriminator": disc.state_dict() if disc is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict() if self.sched_d is not None else None,
            **rng_state(),
        }


def _loaders(train_data: PairedImageDataset, val_data: PairedImageDataset, config: TrainConfig, seed: int,
             device: torch.device) -> tuple[DataLoader, DataLoader, EpochSampler | SeriesBatchSampler]:
    """Training loader (an order fixed by (seed, epoch); whole charge series per batch with the
    charge term), validation loader, and the sampler (``set_epoch``)."""
    args: dict[str, Any] = {"num_workers": config.num_workers, "pin_memory": device.type == "cuda"}
    if config.num_workers:
        args.update(worker_init_fn=_worker_init, persistent_workers=False)
    sampler: EpochSampler | SeriesBatchSampler
    if config.charge_weight > 0:
        sampler = SeriesBatchSampler(train_data.groups, config.batch_size, seed)
        loader = DataLoader(train_data, batch_sampler=sampler, **args)
    else:
        sampler = EpochSampler(len(train_data), seed)
        loader = DataLoader(train_data, batch_size=config.batch_size, sampler=sampler, **args)
    return loader, DataLoader(val_data, batch_size=config.batch_size, shuffle=False, **args), sampler


def _train_step(state: TrainingState, x: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None, gan_loss: GanLoss,
                autocast: Callable[[], Any]) -> dict[str, float]:
    """One generator (and discriminator) update on a batch; returns the loss terms."""
    config, gen, disc = state.config, state.gen, state.disc
    with autocast():
        fake, coarse = gen.forward_scales(x) if isinstance(gen, TwoScaleGenerator) else (gen(x), None)
    fake = fake.float()
    l1 = F.l1_loss(fake, y)
    if coarse is not None:
        l1 = l1 + F.l1_loss(coarse.float(), F.avg_pool2d(y, 2))
    terms = {"loss_g_l1": float(l1.detach())}
    charge = charge_difference_l1(fake, y, group) if group is not None else None
    if charge is not None:
        terms["loss_g_charge"] = float(charge.detach())
    if disc is not None:
        _set_requires_grad(disc, True)
        state.opt_d.zero_grad(set_to_none=True)  # type: ignore[union-attr]
        with autocast():
            loss_d = 0.5 * (gan_loss(disc(x, fake.detach()), False) + gan_loss(disc(x, y), True))
        loss_d.backward()
        state.opt_d.step()  # type: ignore[union-attr]
        _set_requires_grad(disc, False)
        with autocast():
            loss_gan = gan_loss(disc(x, fake), True)
        loss_g = loss_gan + config.lambda_l1 * (l1 if charge is None else l1 + config.charge_weight * charge)
        terms.update(loss_g_gan=float(loss_gan.detach()), loss_d=float(loss_d.detach()))
    else:
        s = ssim(fake, y)
        loss_g = l1 + config.ssim_weight * (1.0 - s)
        if charge is not None:
            loss_g = loss_g + config.charge_weight * charge
        terms.update(loss_g_ssim=float(1.0 - s.detach()))
    state.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    state.opt_g.step()
    terms["loss_g"] = float(loss_g.detach())
    return terms


def fit(state: TrainingState, loader: DataLoader, val_loader: DataLoader, sampler: EpochSampler | SeriesBatchSampler, *,
        device: torch.device, out: Path, data_desc: dict[str, Any], seed: int, progress: bool = False,
        stop_after: int | None = None) -> bool:
    """Train from ``state.epoch`` to ``config.epochs``: per epoch the batches, the schedulers, the
    validation, a ``train_log.csv`` row, and ``last.pt`` every ``checkpoint_every`` epochs and at
    the end. Returns False when stopped early by ``stop_after`` (the run stays resumable)."""
    config = state.config
    use_amp = config.amp and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext
    gan_loss = GanLoss(config.gan_mode)
    series = config.charge_weight > 0
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[losses]}"),
        TimeRemainingColumn(), disable=not progress, transient=True,
    )
    state.gen.train()
    if state.disc is not None:
        state.disc.train()
    done_this_call = 0
    with bar:
        task = bar.add_task("train", total=len(loader), losses="")
        for epoch in range(state.epoch, config.epochs):
            if stop_after is not None and done_this_call >= stop_after:
                LOG.info("train: stopping after %d epoch(s) as asked; resume with --resume", done_this_call)
                return False
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            bar.reset(task, total=len(loader), description=f"epoch {epoch + 1}/{config.epochs}")
            sums = dict.fromkeys(("loss_g", "loss_g_gan", "loss_g_l1", "loss_g_ssim", "loss_g_charge", "loss_d"), 0.0)
            seen = 0
            for x, y, *group in loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                terms = _train_step(state, x, y, group[0].to(device) if series else None, gan_loss, autocast)
                for k, v in terms.items():
                    sums[k] += v * len(x)
                seen += len(x)
                bar.update(task, advance=1, losses=" ".join(f"{k[5:]}={v:.4g}" for k, v in terms.items()))
            lr = state.opt_g.param_groups[0]["lr"]
            state.sched_g.step()
            if state.sched_d is not None:
                state.sched_d.step()
            val_mse, val_ssim = validate(state.gen, val_loader, device)
            row = {"epoch": epoch + 1, "lr": lr, **{k: v / seen for k, v in sums.items()}, "val_mse": val_mse, "val_ssim": val_ssim}
            row["seconds"] = time.perf_counter() - t0
            if state.disc is None:
                row["loss_g_gan"] = row["loss_d"] = math.nan
            else:
                row["loss_g_ssim"] = math.nan
            if not series:
                row["loss_g_charge"] = math.nan
            state.log_rows.append(row)
            state.epoch = epoch + 1
            write_text_atomic(out / "train_log.csv", _frame_text(state.log_rows))
            LOG.info("train: epoch %d/%d loss_g %.4g val_mse %.4g val_ssim %.4g", epoch + 1, config.epochs, row["loss_g"], val_mse, val_ssim)
            done_this_call += 1
            if (epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs:
                save_checkpoint(out / "last.pt", state.payload(data_desc, seed, epoch + 1))
    return True


def _data(dataset_dir: str | os.PathLike[str], direction: str, config: TrainConfig
          ) -> tuple[PairedImageDataset, PairedImageDataset, dict[str, Any]]:
    """Training and validation subsets of the config's split, and the data description a
    checkpoint records (dataset hash, split and its assignment hash, channels, normalisation)."""
    from ..dataset.integrity import verify_dataset

    verify_dataset(dataset_dir, split=config.split)  # the stacks, manifest and split dataset.json describes
    channels = {"input": config.input, "target": config.target}
    train_data = PairedImageDataset(dataset_dir, direction=direction, split=config.split, subset="train",
                                    with_group=config.charge_weight > 0, **channels)
    val_data = PairedImageDataset(dataset_dir, direction=direction, split=config.split, subset="val", **channels)
    if len(train_data) == 0:
        raise InputError(f"split {config.split!r} has no training samples", path=dataset_dir, field="split")
    info = train_data.info
    data_desc = {
        "dataset_dir": str(Path(dataset_dir)),
        "dataset_hash": info["dataset_hash"],
        "direction": direction,
        "split": config.split,
        "split_hash": train_data.split_hash,
        "side": train_data.side,
        "input_kind": train_data.input_kind,
        "target_kind": train_data.target_kind,
        "input_kinds": list(train_data.input_kinds),
        "target_kinds": list(train_data.target_kinds),
        "normalisation": info["normalisation"],
    }
    return train_data, val_data, data_desc


def train(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    direction: str,
    seed: int,
    config: TrainConfig,
    resume: bool | str = False,
    progress: bool = False,
    stop_after: int | None = None,
) -> Path:
    """Train one model; returns the path of the final checkpoint (``model.pt``).

    Parameters
    ----------
    dataset_dir: a built dataset (``lacbed-bridge dataset``).
    out_dir: output folder (checkpoints, log, description).
    direction: ``edd2lacbed`` or ``lacbed2edd``.
    seed: training seed (weights, batch order, dropout).
    config: hyper-parameters; on ``resume`` the checkpoint's own are used, except the run-only
        keys :data:`RUN_ONLY_KEYS` (``epochs``, ``device``, ``num_workers``, ``checkpoint_every``,
        ``amp``), which are the caller's.
    resume: continue from ``out_dir/last.pt`` when it exists. ``True``: a checkpoint of other data
        (dataset, direction, split subsets, seed; :func:`resume_differences`) is an error;
        ``"if-compatible"`` (the workflow's train rule): a checkpoint that differs in data or in any
        hyper-parameter starts again, with a warning naming the difference.
    progress: show a progress bar (rich).
    stop_after: stop after this many epochs of this call (an interruption, e.g. a job time limit);
        the run is then resumable and ``model.pt`` is not written.
    """
    out = Path(out_dir)
    last = out / "last.pt"
    if resume not in (True, False, "if-compatible"):
        raise ValueError(f"resume must be True, False or 'if-compatible', got {resume!r}")
    ckpt = load_checkpoint(last) if resume and last.is_file() else None
    if ckpt is None and last.is_file() and not resume:
        LOG.warning("train: %s exists but --resume was not given; starting from scratch", last)
    asked = config
    if ckpt is not None:
        config = _resumed_config(ckpt, asked)
    train_data, val_data, data_desc = _data(dataset_dir, direction, config)
    if ckpt is not None:
        hyper, data = resume_differences(ckpt, asked, data_desc, seed)
        if resume is True and data:
            raise InputError(f"checkpoint was trained with {data[0]} (another run; train without --resume)", path=last,
                             field=data[0].split()[0])
        if resume == "if-compatible" and (hyper or data):
            LOG.warning("train: %s has %s: starting again", last, (hyper + data)[0])
            if config != asked:  # the checkpoint's hyper-parameters chose the data (channels, split)
                train_data, val_data, data_desc = _data(dataset_dir, direction, asked)
            ckpt, config = None, asked

    device = resolve_device(config.device)
    with _deterministic(device.type == "cpu"):
        seed_everything(seed)
        state = TrainingState(config, side=train_data.side, in_channels=len(train_data.input_kinds),
                              out_channels=len(train_data.target_kinds), device=device)
        if ckpt is not None:
            state.load(ckpt)
            LOG.info("train: resuming %s after epoch %d", last, state.epoch)
        loader, val_loader, sampler = _loaders(train_data, val_data, config, seed, device)
        if not fit(state, loader, val_loader, sampler, device=device, out=out, data_desc=data_desc, seed=seed,
                   progress=progress, stop_after=stop_after):
            return last
        # also when the checkpoint was already complete (nothing left to train): the log is an output
        write_text_atomic(out / "train_log.csv", _frame_text(state.log_rows))
        final = state.payload(data_desc, seed, config.epochs)
        save_checkpoint(out / "model.pt", final)
        description = {k: json.loads(final[k]) for k in ("model_json", "train_json", "data_json")}
        last_row = state.log_rows[-1] if state.log_rows else {}
        final_row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in last_row.items()}
        description.update(seed=int(seed), epochs=config.epochs, final=final_row)
        write_text_atomic(out / "model.json", json.dumps(description, indent=2, sort_keys=True) + "\n")
    return out / "model.pt"
