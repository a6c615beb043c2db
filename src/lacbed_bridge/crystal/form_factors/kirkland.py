"""Kirkland's electron scattering factors (Kirkland 2010, *Advanced Computing in Electron
Microscopy*, 2nd ed., Appendix C, eq. C.15) — the table Felix uses for IScatterFactorMethodFLAG = 0,
the neutral atom of the LACBED simulator (``simulate/potential.py``) and of its Bird–King
absorptive form factor (``simulate/absorption.py``).

    f_e(q) = Σ_{i=1..3} a_i / (q² + b_i) + Σ_{i=1..3} c_i exp(−d_i q²)     [Å]

with q = 1/d = |g|/2π [1/Å] (docs/felix_physics.md §2; note q = 2s, s = sinθ/λ of the X-ray
factors). Parameters: ``crystal/data/kirkland.txt``. These are neutral-atom, non-relativistic amplitudes;
the Lorentz factor γ enters in U_g = γF_g/(πV).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import InputError

_TABLE_PATH = Path(__file__).resolve().parent.parent / "data" / "kirkland.txt"


@lru_cache(maxsize=1)
def _table() -> dict[str, np.ndarray]:
    table: dict[str, np.ndarray] = {}
    for line in _TABLE_PATH.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        table[parts[1]] = np.array([float(v) for v in parts[2:14]])
    return table


def kirkland_parameters(element: str) -> np.ndarray:
    """The 12 parameters (a1 b1 a2 b2 a3 b3 c1 d1 c2 d2 c3 d3) of an element (symbol)."""
    try:
        return _table()[element]
    except KeyError:
        raise InputError(f"no Kirkland scattering factor for element {element!r}", field="element") from None


def kirkland_form_factor(element: str, q: np.ndarray) -> np.ndarray:
    """Electron scattering factor f_e(q) [Å] of a neutral atom, q = 1/d [1/Å] (array)."""
    p = kirkland_parameters(element)
    q2 = np.asarray(q, dtype=float) ** 2
    out = np.zeros_like(q2)
    for i in range(3):
        out += p[2 * i] / (q2 + p[2 * i + 1])
        out += p[2 * i + 6] * np.exp(-p[2 * i + 7] * q2)
    return out
