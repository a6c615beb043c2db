"""One place picks the torch device and the complex precision of the builtin simulator."""

from __future__ import annotations

import torch

from ..errors import InputError


def resolve_device(device: str | None = None) -> torch.device:
    """``auto``/None → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    name = (device or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("CUDA was requested but no CUDA device is available", field="device")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise InputError(f"expected cpu, cuda or auto, got {device!r}", field="device")


def default_complex_dtype(device: torch.device) -> torch.dtype:
    """complex128 on CPU (matches Felix's double precision), complex64 on GPU (DESIGN §4)."""
    return torch.complex128 if device.type == "cpu" else torch.complex64
