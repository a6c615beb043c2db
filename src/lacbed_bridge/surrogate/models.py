"""pix2pix networks for float images, one channel per image kind (docs/architecture.md §7).

* :class:`UNetGenerator` — the U-Net of Isola et al. 2017 ("Image-to-Image Translation with
  Conditional Adversarial Networks", arXiv 1611.07004, §3.2.1 and appendix 6.1.1): depth =
  log2(side) stride-2 4×4 convolutions down to 1×1, mirrored transposed convolutions up, skip
  connections between mirrored layers, channels ngf·(1, 2, 4, 8, 8, …), dropout 0.5 in the
  innermost ngf·8 decoder blocks. One channel per image kind in and out (e.g. total and
  deformation density as two channels); any power-of-two side ≥ 32.
* :class:`PatchDiscriminator` — the 70×70 PatchGAN (appendix 6.1.2, C64-C128-C256-C512 then a
  1-channel convolution): one real/fake logit per overlapping 70×70 patch of the (input, output) pair.
* :class:`TwoScaleGenerator` / :class:`MultiScaleDiscriminator` — the second, half-resolution
  scale. Webb, Beanland & Römer (arXiv 2503.02852) use two generators and two discriminators at
  reduced and full resolution; we build it coarse-to-fine (as pix2pixHD, Wang et al. 2018): a U-Net
  on the 2×-average-pooled input, its output upsampled and fed with the input to the full-size U-Net;
  one PatchGAN per scale.

Images enter and leave every network on the [0, 1] scale of the dataset; the mapping to the
[−1, 1] range of the tanh output happens inside (``2x − 1`` in, ``(y + 1)/2`` out). Dropout and
batch-norm statistics follow ``train()``/``eval()``: inference (``eval()``) is deterministic.

Every network records its constructor arguments; :meth:`Describable.describe` returns them as a
JSON-able dict with the class name and ``_version``, and :func:`model_from_description` rebuilds the
network from that dict alone (self-describing checkpoints).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .config import check_side

Norm = Literal["batch", "instance"]
#: Version of the network definitions (bump when a change makes old weights incompatible).
MODEL_VERSION = 1


class Describable(nn.Module):
    """A module that remembers its constructor arguments (JSON-able)."""

    _version = MODEL_VERSION

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.init_kwargs = dict(kwargs)

    def describe(self) -> dict[str, Any]:
        """``{"class": name, "kwargs": constructor arguments, "_version": n}``."""
        return {"class": type(self).__name__, "kwargs": dict(self.init_kwargs), "_version": self._version}


def _norm(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ConfigError(f"unknown norm {norm!r}; expected 'batch' or 'instance'", field="train.norm")


def _check_side(side: int, minimum: int = 32) -> int:
    check_side(side, minimum)
    return int(math.log2(side))


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """pix2pix initialisation: conv weights N(0, 0.02), norm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


class _SkipBlock(nn.Module):
    """One U-Net level: down-convolution, the inner levels, up-convolution, skip concatenation."""

    def __init__(
        self,
        outer: int,
        inner: int,
        *,
        in_channels: int | None = None,
        out_channels: int | None = None,
        sub: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        in_channels = outer if in_channels is None else in_channels
        bias = norm == "instance"  # batch norm has its own shift
        down = nn.Conv2d(in_channels, inner, 4, 2, 1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, out_channels or outer, 4, 2, 1)
            layers = [down, sub, nn.ReLU(), up, nn.Tanh()]
        elif innermost:  # 2×2 → 1×1: no norm on a single pixel
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), up, _norm(norm, outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, _norm(norm, inner), sub, nn.ReLU(), up, _norm(norm, outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)


class UNetGenerator(Describable):
    """pix2pix U-Net; maps (B, in_channels, side, side) on [0, 1] to (B, out_channels, side, side) on [0, 1].

    Parameters
    ----------
    side: image side [px], a power of two ≥ 32; depth = log2(side).
    in_channels, out_channels: one per image kind (1, or 2 for total + deformation density).
    ngf: channels of the first layer (64 in pix2pix).
    norm: ``batch`` (pix2pix default) or ``instance``.
    dropout: dropout 0.5 in the innermost ngf·8 decoder blocks while training (sides ≥ 64).
    """

    def __init__(self, side: int = 128, in_channels: int = 1, out_channels: int = 1, ngf: int = 64, norm: Norm = "batch", dropout: bool = True):
        super().__init__(side=side, in_channels=in_channels, out_channels=out_channels, ngf=ngf, norm=norm, dropout=dropout)
        depth = _check_side(side)
        block = _SkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(depth - 5):
            block = _SkipBlock(ngf * 8, ngf * 8, sub=block, norm=norm, dropout=dropout)
        block = _SkipBlock(ngf * 4, ngf * 8, sub=block, norm=norm)
        block = _SkipBlock(ngf * 2, ngf * 4, sub=block, norm=norm)
        block = _SkipBlock(ngf, ngf * 2, sub=block, norm=norm)
        self.net = _SkipBlock(ngf, ngf, in_channels=in_channels, out_channels=out_channels, sub=block, outermost=True, norm=norm)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.net(2.0 * x - 1.0) + 1.0) * 0.5


class TwoScaleGenerator(Describable):
    """Coarse-to-fine pair of U-Nets: half resolution first, then full resolution.

    ``forward`` returns the full-resolution output; :meth:`forward_scales` also returns the coarse
    one (side/2) for its own L1 term. Needs side ≥ 64 (the coarse U-Net works at side/2 ≥ 32).
    """

    def __init__(self, side: int = 128, ngf: int = 64, norm: Norm = "batch", dropout: bool = True,
                 in_channels: int = 1, out_channels: int = 1):
        super().__init__(side=side, ngf=ngf, norm=norm, dropout=dropout, in_channels=in_channels, out_channels=out_channels)
        _check_side(side, minimum=64)
        self.coarse = UNetGenerator(side // 2, in_channels, out_channels, ngf, norm, dropout)
        self.fine = UNetGenerator(side, in_channels + out_channels, out_channels, ngf, norm, dropout)

    def forward_scales(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(full-resolution output, half-resolution output), both on [0, 1]."""
        coarse = self.coarse(F.avg_pool2d(x, 2))
        guide = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
        return self.fine(torch.cat([x, guide], dim=1)), coarse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_scales(x)[0]


class PatchDiscriminator(Describable):
    """70×70 PatchGAN on an (input, output) pair (both [0, 1]); returns logits (B, 1, h, w).

    ``n_layers = 3`` gives the 70×70 receptive field (C64-C128-C256-C512-C1, 4×4 kernels; the
    first three stride 2, no norm on the first).
    """

    def __init__(self, in_channels: int = 2, ndf: int = 64, n_layers: int = 3, norm: Norm = "batch"):
        super().__init__(in_channels=in_channels, ndf=ndf, n_layers=n_layers, norm=norm)
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias), _norm(norm, ndf * mult), nn.LeakyReLU(0.2)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias), _norm(norm, ndf * mult), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], dim=1) * 2.0 - 1.0)


class MultiScaleDiscriminator(Describable):
    """One PatchGAN per scale; scale k sees the pair 2^k×-average-pooled. Returns a list of logits."""

    def __init__(self, scales: int = 2, ndf: int = 64, n_layers: int = 3, norm: Norm = "batch", in_channels: int = 2):
        super().__init__(scales=scales, ndf=ndf, n_layers=n_layers, norm=norm, in_channels=in_channels)
        self.discs = nn.ModuleList(PatchDiscriminator(in_channels, ndf, n_layers, norm) for _ in range(scales))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for k, disc in enumerate(self.discs):
            if k:
                x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
            out.append(disc(x, y))
        return out


MODEL_CLASSES: dict[str, type[Describable]] = {
    cls.__name__: cls for cls in (UNetGenerator, TwoScaleGenerator, PatchDiscriminator, MultiScaleDiscriminator)
}


def model_from_description(description: dict[str, Any]) -> Describable:
    """Rebuild a network from :meth:`Describable.describe` output (weights not included)."""
    name = description.get("class")
    if name not in MODEL_CLASSES:
        raise ConfigError(f"unknown network class {name!r}; expected one of {sorted(MODEL_CLASSES)}", field="class")
    if int(description.get("_version", -1)) != MODEL_VERSION:
        raise ConfigError(
            f"network version {description.get('_version')} differs from this package's {MODEL_VERSION}", field="_version"
        )
    return MODEL_CLASSES[name](**description["kwargs"])


def build_networks(
    *, model: str, side: int, ngf: int, ndf: int, norm: str, dropout: bool, scales: int, n_layers_d: int = 3,
    in_channels: int = 1, out_channels: int = 1,
) -> tuple[Describable, Describable | None]:
    """Generator and discriminator for ``model`` = ``pix2pix`` (GAN) or ``unet`` (regression, no D).

    The discriminator sees the (input, output) pair: in_channels + out_channels channels.
    """
    if scales not in (1, 2):
        raise ConfigError(f"scales {scales} must be 1 or 2", field="train.scales")
    if scales == 2:
        gen: Describable = TwoScaleGenerator(side, ngf, norm, dropout, in_channels, out_channels)  # type: ignore[arg-type]
    else:
        gen = UNetGenerator(side, in_channels, out_channels, ngf, norm, dropout)  # type: ignore[arg-type]
    if model == "unet":
        return gen, None
    if model != "pix2pix":
        raise ConfigError(f"unknown model {model!r}; expected 'pix2pix' or 'unet'", field="train.model")
    pair = in_channels + out_channels
    if scales == 2:
        return gen, MultiScaleDiscriminator(2, ndf, n_layers_d, norm, pair)  # type: ignore[arg-type]
    return gen, PatchDiscriminator(pair, ndf, n_layers_d, norm)  # type: ignore[arg-type]
