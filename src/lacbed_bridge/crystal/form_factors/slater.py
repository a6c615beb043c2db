"""Single-zeta Slater orbitals: their form factor and the Clementi–Raimondi exponents.

A subshell n with exponent ζ has R(r) ∝ r^{n−1} e^{−ζr}; the density of one electron in it,

    ρ(r) = (2ζ)^{2n+1} / (4π (2n)!) · r^{2n−2} e^{−2ζr},

has the form factor (the ⟨j₀⟩ integral, Gradshteyn & Ryzhik 3.944.5 with μ = 2n, β = 2ζ)

    f_nζ(Q) = ∫ ρ(r) sin(Qr)/(Qr) 4πr² dr = sin(2n·arctan t) / (2n · t · (1 + t²)^n),   t = Q/(2ζ),

with Q = 4π s [1/Å], s = sinθ/λ, and ζ in 1/Å (ζ/a₀); f_nζ(0) = 1.

Exponents ζ [1/a₀] of the neutral atoms: Clementi & Raimondi (1963, J. Chem. Phys. 38, 2686) and
Clementi, Raimondi & Reinhardt (1967, J. Chem. Phys. 47, 1300), ``crystal/data/clementi_exponents.csv``
(provenance in its header).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

#: Bohr radius a₀ [Å] (CODATA 2018), to convert Slater exponents ζ [1/a₀] to [1/Å].
BOHR_RADIUS = 0.529177210903

_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@lru_cache(maxsize=1)
def clementi_exponents() -> dict[int, dict[str, float]]:
    """Z -> {subshell: ζ [1/a₀]} from ``crystal/data/clementi_exponents.csv`` (Z = 1..86)."""
    table: dict[int, dict[str, float]] = {}
    with open(_DATA_DIR / "clementi_exponents.csv", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for row in rows:
            table.setdefault(int(row["z"]), {})[row["subshell"]] = float(row["zeta"])
    return table


def slater_form_factor(n: int, zeta: float, s: ArrayLike) -> np.ndarray:
    """Form factor of one electron in a single-zeta Slater orbital (n, ζ [1/Å]) at s [1/Å].

    f(Q) = sin(2n·arctan t) / (2n · t · (1 + t²)^n), t = Q/(2ζ), Q = 4πs
    (Fourier transform of ρ ∝ r^{2n−2} e^{−2ζr}; Gradshteyn & Ryzhik 3.944.5). f(0) = 1.
    """
    s = np.asarray(s, dtype=np.float64)
    t = 4.0 * np.pi * np.abs(s) / (2.0 * zeta)
    big_n = 2 * n
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.sin(big_n * np.arctan(t)) / (big_n * t * (1.0 + t * t) ** n)
    # small t: series 1 − (N+1)(N+2)/6 · t² … of the same expression (avoids 0/0 at s = 0)
    small = t < 1e-6
    if np.any(small):
        value = np.where(small, 1.0 - (big_n + 1) * (big_n + 2) / 6.0 * t * t, value)
    return value
