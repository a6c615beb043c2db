"""The Mott–Bethe formula: the electron form factor from the X-ray one (non-relativistic),

    f_e(s) = C_MB · (Z − f_x(s)) / s²,   C_MB = m₀e²/(8πε₀h²) = 1/(8π²a₀) = 0.023934 Å,

s = sinθ/λ [1/Å] (International Tables Vol. C §4.3.1.1, eq. 4.3.1.3). Multiply by γ = m/m₀ for
the relativistic electron. For a net charge Z − f_x(0) ≠ 0 it diverges as s → 0 (the Coulomb
tail of an ion), so s = 0 is refused.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ...errors import InputError

#: Mott–Bethe constant m₀e²/(8πε₀h²) = 1/(8π²a₀) [Å] for s = sinθ/λ in 1/Å (non-relativistic electron mass;
#: International Tables Vol. C §4.3.1.1, eq. 4.3.1.3): f_e(s) = C_MB (Z − f_x(s)) / s².
MOTT_BETHE_CONSTANT = 0.023934


def positive_s(s: ArrayLike) -> np.ndarray:
    """``s`` as a float array; :class:`InputError` unless every s = sinθ/λ is finite and > 0."""
    s = np.asarray(s, dtype=np.float64)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise InputError("the Mott–Bethe formula needs s = sinθ/λ > 0 [1/Å] (g = 0 is not defined)", field="s")
    return s


def mott_bethe(screened_charge: ArrayLike, s: np.ndarray) -> np.ndarray:
    """f_e = C_MB · (Z − f_x(s)) / s² [Å] from ``screened_charge`` = Z − f_x(s) [e] at s > 0 [1/Å]
    (linear: a change Δf_x of the X-ray factor changes f_e by ``mott_bethe(−Δf_x, s)``)."""
    return MOTT_BETHE_CONSTANT * screened_charge / (s * s)
