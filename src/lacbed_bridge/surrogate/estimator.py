"""The charge estimator: δ (and the thickness) with a calibrated σ from one LACBED disc.

Amortised simulation-based inference with a Gaussian posterior (neural posterior estimation;
Cranmer, Brehmer & Louppe 2020, PNAS 117, 30055): a small convolutional network reads one disc and
returns, per parameter θ_j, a mean μ_j and a standard deviation σ_j, trained on the simulated
dataset by the Gaussian negative log-likelihood (heteroscedastic regression; Nix & Weigend 1994)

    L = Σ_j [ (θ_j − μ_j)² / (2σ_j²) + log σ_j ]                                   (per disc)

so σ_j is the network's own estimate of its error on discs like this one. The estimator is an
ensemble of K such networks, cross-fitted over the training crystals (:mod:`.estimator_train`):
μ_j is the members' mean and σ_j² the mean of their σ_j², multiplied by one factor c_j = RMS of
the out-of-fold z = (θ_j − μ_j)/σ_j (recalibration, as Kuleshov, Fenner & Ermon 2018 do by
quantiles; one factor for a Gaussian; cross-fitting as in jackknife+/CV+, Barber et al. 2021,
Ann. Statist. 49, 486), which the checkpoint stores: the reported σ is c_j·σ_j.

The disc enters standardised on its own, (I − mean)/std over its finite pixels, so the estimate does
not depend on the intensity units, an overall scale or a constant background of a measured disc
(the refinement fits both; refine/fit.py). Units: δ [e per formula unit, cation → anion], thickness
[Å]. Training: :mod:`.estimator_train`; scoring: :mod:`.estimator_eval`; docs/surrogate.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..device import resolve_device
from ..errors import InputError
from .checkpoint import checkpoint_json, load_checkpoint
from .config import ESTIMATOR_TARGETS, EstimatorConfig

__all__ = ["ChargeEstimatorNet", "Estimator", "EstimatorConfig", "load_estimator", "standardise_discs"]

#: the ``kind`` a charge-estimator checkpoint records (image models have none)
KIND = "charge-estimator"
#: units of the parameters an estimator may read
UNITS = ESTIMATOR_TARGETS


class ChargeEstimatorNet(nn.Module):
    """Disc → (μ, log σ) per target, both on the standardised target scale.

    A convolution (c channels) and three stride-2 stages (c, 2c, 2c channels; GELU) take the side × side disc to
    side/8 squared, an adaptive average pool to 4 × 4, and a two-layer head gives 2·n numbers.
    """

    def __init__(self, n_targets: int, channels: int = 16) -> None:
        super().__init__()
        c = int(channels)
        self.init_kwargs = {"n_targets": int(n_targets), "channels": c}
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.GELU(),
            nn.Conv2d(c, c, 3, padding=1, stride=2), nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, padding=1, stride=2), nn.GELU(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1, stride=2), nn.GELU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(2 * c * 16, 64), nn.GELU(), nn.Linear(64, 2 * int(n_targets)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.features(x))
        n = out.shape[1] // 2
        return out[:, :n], out[:, n:].clamp(-7.0, 7.0)  # μ, log σ (clamped: σ within e^±7 of the target spread)


def standardise_discs(discs: np.ndarray) -> np.ndarray:
    """(N, side, side) discs → each (I − mean)/std over its finite pixels; NaN (outside a measured
    frame) → 0, the mean. A flat disc (std 0) is an error: it carries no pattern to read."""
    x = np.asarray(discs, dtype=np.float64)
    if len(x) == 0:  # an empty subset (a split whose test part is empty)
        return x.astype(np.float32)
    flat = x.reshape(len(x), -1)
    mean = np.nanmean(flat, axis=1)
    std = np.nanstd(flat, axis=1)
    if np.any(~np.isfinite(std)) or np.any(std <= 0):
        raise InputError("a disc is flat or has no finite pixel: nothing to read", field="disc")
    out = (x - mean[:, None, None]) / std[:, None, None]
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


@dataclass
class Estimator:
    """A trained estimator: the network (eval mode) and what it needs to read a disc.

    ``targets``: parameter names; ``mean``/``scale``: the training subset's target mean and standard
    deviation (μ_physical = mean + scale·μ); ``calibration``: the factors c_j of the σ;
    ``side``: the disc side [px]; ``info``: the checkpoint's data description; ``nets``: the
    cross-fitted members.
    """

    nets: list[ChargeEstimatorNet]
    targets: list[str]
    mean: np.ndarray
    scale: np.ndarray
    calibration: np.ndarray
    side: int
    info: dict[str, Any]

    @torch.no_grad()
    def estimate(self, discs: Sequence[np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Per target, arrays ``<t>`` (μ) and ``<t>_sigma`` (calibrated σ) over the discs given
        (each side × side, any intensity units)."""
        stack = np.asarray(discs, dtype=np.float64)
        if stack.ndim == 2:
            stack = stack[None]
        if stack.shape[1:] != (self.side, self.side):
            raise InputError(f"disc shape {stack.shape[1:]} does not match the estimator's {self.side} × {self.side}",
                             field="shape")
        if len(stack) == 0:
            return {key: np.zeros(0) for name in self.targets for key in (name, f"{name}_sigma")}
        device = next(self.nets[0].parameters()).device
        x = torch.from_numpy(standardise_discs(stack)[:, None]).to(device)
        outputs = [net(x) for net in self.nets]
        mu = np.mean([m.double().cpu().numpy() for m, _ in outputs], axis=0)
        sigma = np.sqrt(np.mean([np.exp(2.0 * s.double().cpu().numpy()) for _, s in outputs], axis=0))
        out: dict[str, np.ndarray] = {}
        for j, name in enumerate(self.targets):
            out[name] = self.mean[j] + self.scale[j] * mu[:, j]
            out[f"{name}_sigma"] = self.scale[j] * self.calibration[j] * sigma[:, j]
        return out


def is_estimator(ckpt: Mapping[str, Any]) -> bool:
    """Whether a loaded checkpoint is a charge estimator (else an image-to-image model)."""
    return ckpt.get("kind") == KIND


def estimator_from_checkpoint(ckpt: Mapping[str, Any], device: str = "cpu") -> Estimator:
    """Rebuild an :class:`Estimator` from a loaded checkpoint (:func:`.checkpoint.load_checkpoint`)."""
    if not is_estimator(ckpt):
        raise InputError("an image-to-image surrogate, not a charge estimator (train one with lacbed-bridge "
                         "train-estimator)", path=ckpt.get("path"), field="kind")
    desc = checkpoint_json(dict(ckpt), "model_json")
    nets = []
    for state in ckpt["members"]:
        net = ChargeEstimatorNet(**desc["kwargs"])
        net.load_state_dict(state)
        nets.append(net.eval().to(resolve_device(device)))
    info = checkpoint_json(dict(ckpt), "data_json")
    info["checkpoint"] = ckpt.get("path")
    return Estimator(nets=nets, targets=list(info["targets"]),
                     mean=np.asarray(info["target_mean"], dtype=np.float64),
                     scale=np.asarray(info["target_scale"], dtype=np.float64),
                     calibration=np.asarray(info["calibration"], dtype=np.float64), side=int(info["side"]), info=info)


def load_estimator(path: str | os.PathLike[str], device: str = "cpu") -> Estimator:
    """Load a charge-estimator checkpoint (``model.pt`` or its folder)."""
    return estimator_from_checkpoint(load_checkpoint(path), device=device)


def estimate_text(values: Mapping[str, np.ndarray], index: int = 0) -> str:
    """One line: ``delta 0.43 ± 0.12 e, thickness 512 ± 20 Å`` for disc ``index``."""
    names = [k for k in values if not k.endswith("_sigma")]
    return ", ".join(f"{n} {float(values[n][index]):.4g} ± {float(values[n + '_sigma'][index]):.2g} {UNITS.get(n, '')}".rstrip()
                     for n in names)


def estimate_json(values: Mapping[str, np.ndarray], names: Sequence[str], info: Mapping[str, Any]) -> str:
    """JSON text of estimates for the named discs: value and σ per target, and the model it came from."""
    discs = [{"disc": name, **{k: float(v[i]) for k, v in values.items()}} for i, name in enumerate(names)]
    return json.dumps({"kind": "charge estimate", "model": info.get("checkpoint"), "units": {t: UNITS[t] for t in info["targets"]},
                       "calibration": dict(zip(info["targets"], info["calibration"], strict=True)),
                       "training_range": info.get("target_range"), "discs": discs}, indent=2) + "\n"
