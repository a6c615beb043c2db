"""LACBED simulation: one contract (docs/architecture.md §4), two backends — ``builtin`` (bloch.py, PyTorch)
and ``felix`` (felix/backend.py, the external Felix program)."""

__all__ = ["LacbedSettings", "LacbedResult"]


def __getattr__(name: str):  # lazy: `lacbed-bridge --help` must not import torch
    if name == "LacbedResult":
        from .result import LacbedResult

        return LacbedResult
    if name == "LacbedSettings":
        from .settings import LacbedSettings

        return LacbedSettings
    raise AttributeError(name)
