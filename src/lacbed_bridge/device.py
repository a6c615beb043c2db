"""One place picks the torch device for every stage (simulation, training, inference)."""

from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(device: str | None = None) -> torch.device:
    """``auto``/None → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    name = (device or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("CUDA was requested but no CUDA device is available", field="device")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"expected cpu, cuda or auto, got {device!r}", field="device")
