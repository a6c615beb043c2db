"""The complex precision of the builtin simulator per device (the device itself:
:func:`lacbed_bridge.device.resolve_device`)."""

from __future__ import annotations

import torch

from ..device import resolve_device

__all__ = ["default_complex_dtype", "resolve_device"]


def default_complex_dtype(device: torch.device) -> torch.dtype:
    """complex128 on CPU (matches Felix's double precision), complex64 on GPU (docs/architecture.md §4)."""
    return torch.complex128 if device.type == "cpu" else torch.complex64
