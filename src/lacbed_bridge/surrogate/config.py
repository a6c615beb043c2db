"""Typed settings of the surrogate stage: the config ``train:`` and ``evaluate:`` blocks.

The schema (``src/lacbed_bridge/schemas/config.schema.yaml``) documents each key; here the validated dict
becomes a frozen dataclass with the choices as ``Literal`` types, so no raw dict travels further.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args, get_type_hints

from ..config import schema_defaults
from ..errors import ConfigError

ModelKind = Literal["pix2pix", "unet"]
Schedule = Literal["constant", "linear", "cosine"]
GanMode = Literal["vanilla", "lsgan"]
NormKind = Literal["batch", "instance"]
DeviceKind = Literal["auto", "cpu", "cuda"]
EddSide = Literal["edd", "deformation", "both"]
#: the schema's defaults (the one place they are written; the dataclasses below take them)
_TRAIN = schema_defaults("train")
_EVALUATE = schema_defaults("evaluate")
_ESTIMATOR = schema_defaults("estimator")
#: the parameters a charge estimator may read, with their units
ESTIMATOR_TARGETS = {"delta": "e", "thickness": "Å"}
#: Keys of the ``train:`` block that drive the workflow (which runs to make), not one run.
WORKFLOW_KEYS = ("seeds", "directions")


def check_side(side: int, minimum: int = 32) -> None:
    """The image side [px] the networks take: a power of two ≥ ``minimum`` (the U-Net halves it
    log2(side) times down to 1 px). The one place this is checked (workflow, training, inference)."""
    if side < minimum or side & (side - 1):
        raise ConfigError(f"image side {side} must be a power of two ≥ {minimum}", field="side")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (defaults: the schema's, pix2pix's from Isola et al. 2017).

    Attributes
    ----------
    model: ``pix2pix`` (U-Net + PatchGAN, loss GAN + λ·L1) or ``unet`` (regression, L1 + w·(1 − SSIM)).
    epochs: passes over the training subset.
    batch_size: images per step.
    lr: Adam learning rate (generator and discriminator).
    beta1, beta2: Adam β.
    lr_schedule: ``constant``; ``linear`` (constant for the first ``decay_start`` fraction of the
        epochs, then linear to 0, as pix2pix); ``cosine`` (cosine annealing to 0).
    decay_start: fraction of the epochs before the linear decay starts.
    lambda_l1: weight λ of the L1 term of the pix2pix generator loss.
    gan_mode: ``vanilla`` (binary cross-entropy on logits) or ``lsgan`` (least squares).
    ngf, ndf: first-layer channels of the generator and the discriminator.
    norm: ``batch`` or ``instance``.
    dropout: dropout 0.5 in the inner decoder blocks while training (never at inference).
    scales: 1, or 2 for the extra half-resolution generator and discriminator (side ≥ 64).
    n_layers_d: PatchGAN depth (3 = 70×70 patches).
    ssim_weight: weight w of (1 − SSIM) in the regression U-Net loss.
    input: channels of the EDD side when it is the input (edd2lacbed): ``edd``, ``deformation``
        or ``both`` (total + deformation density, two channels).
    target: channels of the EDD side when it is the target (lacbed2edd), as ``input``.
    charge_weight: weight λ_Δ, relative to the image L1 term, of the charge-difference L1 term
        |(G(x_k) − ⟨G(x)⟩_s) − (y_k − ⟨y⟩_s)| over the charge states k of each base crystal s in
        the batch (then every batch holds whole charge series); 0 switches it off.
    split: dataset split to train on (``random_0``, ``loso_F-43m``, ...).
    num_workers: DataLoader worker processes (0 = load in the training process).
    device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    amp: bf16 autocast on CUDA (ignored on CPU, which always runs fp32).
    checkpoint_every: write the resumable checkpoint every this many epochs (and at the end).
    """

    model: ModelKind = _TRAIN["model"]
    epochs: int = _TRAIN["epochs"]
    batch_size: int = _TRAIN["batch_size"]
    lr: float = _TRAIN["lr"]
    beta1: float = _TRAIN["beta1"]
    beta2: float = _TRAIN["beta2"]
    lr_schedule: Schedule = _TRAIN["lr_schedule"]
    decay_start: float = _TRAIN["decay_start"]
    lambda_l1: float = _TRAIN["lambda_l1"]
    gan_mode: GanMode = _TRAIN["gan_mode"]
    ngf: int = _TRAIN["ngf"]
    ndf: int = _TRAIN["ndf"]
    norm: NormKind = _TRAIN["norm"]
    dropout: bool = _TRAIN["dropout"]
    scales: int = _TRAIN["scales"]
    n_layers_d: int = _TRAIN["n_layers_d"]
    ssim_weight: float = _TRAIN["ssim_weight"]
    input: EddSide = _TRAIN["input"]
    target: EddSide = _TRAIN["target"]
    charge_weight: float = _TRAIN["charge_weight"]
    split: str = _TRAIN["split"]
    num_workers: int = _TRAIN["num_workers"]
    device: DeviceKind = _TRAIN["device"]
    amp: bool = _TRAIN["amp"]
    checkpoint_every: int = _TRAIN["checkpoint_every"]

    @classmethod
    def from_mapping(cls, block: dict[str, Any] | None, **overrides: Any) -> TrainConfig:
        """Build from a config ``train:`` block (unknown keys and bad choices are errors)."""
        values = {k: v for k, v in (block or {}).items() if k not in WORKFLOW_KEYS}
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; expected some of {sorted(known)}", field="train")
        hints = get_type_hints(cls)
        for name, value in values.items():
            choices = get_args(hints[name])
            if choices and value not in choices:
                raise ConfigError(f"value {value!r} is invalid; expected one of {list(choices)}", field=f"train.{name}")
        config = cls(**values)
        for name in ("epochs", "batch_size", "ngf", "ndf", "n_layers_d", "checkpoint_every"):
            if int(getattr(config, name)) < 1:
                raise ConfigError(f"value {getattr(config, name)} must be ≥ 1", field=f"train.{name}")
        if config.scales not in (1, 2):
            raise ConfigError(f"value {config.scales} must be 1 or 2", field="train.scales")
        if config.charge_weight < 0:
            raise ConfigError(f"value {config.charge_weight} must be ≥ 0", field="train.charge_weight")
        if not 0.0 <= config.decay_start <= 1.0:
            raise ConfigError(f"value {config.decay_start} must lie in [0, 1]", field="train.decay_start")
        return config

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True)
class EvaluateConfig:
    """Settings of ``evaluate``: batch size and device (``auto``/``cpu``/``cuda``)."""

    batch_size: int = _EVALUATE["batch_size"]
    device: DeviceKind = _EVALUATE["device"]

    @classmethod
    def from_mapping(cls, block: dict[str, Any] | None) -> EvaluateConfig:
        """Build from a config ``evaluate:`` block."""
        values = dict(block or {})
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}", field="evaluate")
        return cls(**values)


@dataclass(frozen=True)
class EstimatorConfig:
    """The config's ``estimator:`` block (the schema documents each key)."""

    targets: tuple[str, ...] = tuple(_ESTIMATOR["targets"])
    epochs: int = _ESTIMATOR["epochs"]
    batch_size: int = _ESTIMATOR["batch_size"]
    lr: float = _ESTIMATOR["lr"]
    weight_decay: float = _ESTIMATOR["weight_decay"]
    channels: int = _ESTIMATOR["channels"]
    split: str = _ESTIMATOR["split"]
    folds: int = _ESTIMATOR["folds"]
    offset_px: float = _ESTIMATOR["offset_px"]
    blur_px: float = _ESTIMATOR["blur_px"]
    noise_counts: tuple[float, float] | None = _ESTIMATOR["noise_counts"]

    @classmethod
    def from_mapping(cls, block: Mapping[str, Any] | None, **overrides: Any) -> EstimatorConfig:
        """From a config ``estimator:`` block; unknown keys and impossible values are errors."""
        values = dict(block or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; expected some of {sorted(known)}", field="estimator")
        targets = tuple(values.get("targets", cls.targets))
        bad = [t for t in targets if t not in ESTIMATOR_TARGETS]
        if bad or not targets:
            raise ConfigError(f"targets {list(targets)}: expected some of {sorted(ESTIMATOR_TARGETS)}", field="estimator.targets")
        values["targets"] = targets
        for name, least in (("epochs", 1), ("batch_size", 1), ("channels", 1), ("folds", 2)):
            if name in values and int(values[name]) < least:
                raise ConfigError(f"value {values[name]} must be ≥ {least}", field=f"estimator.{name}")
        for name in ("offset_px", "blur_px"):
            if name in values and not float(values[name]) >= 0:
                raise ConfigError(f"value {values[name]} must be ≥ 0", field=f"estimator.{name}")
        counts = values.get("noise_counts")
        if counts is not None:
            if len(counts) != 2 or not 0 < float(counts[0]) <= float(counts[1]):
                raise ConfigError(f"value {counts} must be [low, high] with 0 < low ≤ high", field="estimator.noise_counts")
            values["noise_counts"] = (float(counts[0]), float(counts[1]))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        out = asdict(self)
        out["targets"] = list(self.targets)
        out["noise_counts"] = list(self.noise_counts) if self.noise_counts else None
        return out
