"""The common result of both simulation backends (docs/architecture.md §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .potential import StructureFactors
from .settings import LacbedSettings

Hkl = tuple[int, int, int]


@dataclass(frozen=True)
class PoolData:
    """The reflection pool of a builtin simulation: Miller indices (n, 3) with 000 first, g in
    the microscope frame [1/Å, with 2π], and the structure factors U_g, U'_g [Å⁻²] (what Felix
    writes to StructureFactors.txt)."""

    hkl: np.ndarray
    g_lab: np.ndarray
    structure_factors: StructureFactors


@dataclass
class LacbedResult:
    """LACBED discs for a thickness series.

    Attributes
    ----------
    discs: hkl → array (n_thickness, side, side) of intensities per unit incident beam
        (float64), in Felix's orientation: row r ↔ k_y, column c ↔ k_x along IXDirection.
        A reflection not strong at a pixel is exactly 0 there, as in Felix.
    thicknesses: the thicknesses [Å] of the series.
    settings: the settings used.
    backend: ``builtin`` or ``felix``.
    seconds: wall time of the whole simulation [s].
    info: backend details (device, dtype, beams per pixel, Felix's reported times...).
    pool: the reflection pool (builtin backend), else None.
    """

    discs: dict[Hkl, np.ndarray]
    thicknesses: list[float]
    settings: LacbedSettings
    backend: str
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    pool: PoolData | None = None

    def disc(self, hkl: Hkl = (0, 0, 0), thickness_index: int = 0) -> np.ndarray:
        """One disc image (side × side, float64)."""
        return self.discs[tuple(hkl)][thickness_index]  # type: ignore[index]
