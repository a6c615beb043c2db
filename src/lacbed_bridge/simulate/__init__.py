"""LACBED simulation: one contract (DESIGN §4), two backends — ``builtin`` (bloch.py, PyTorch)
and ``felix`` (felix.py, the external Felix program)."""

from .result import LacbedResult
from .settings import FelixSettings

__all__ = ["FelixSettings", "LacbedResult"]
