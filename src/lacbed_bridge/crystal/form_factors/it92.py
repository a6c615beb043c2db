"""Neutral-atom X-ray form factors, IT92: International Tables for Crystallography Vol. C,
Table 6.1.1.4 (four Gaussians and a constant; gemmi's coefficients):

    f_x(s) = Σ_{i=1..4} a_i exp(−b_i s²) + c     [e],   s = sinθ/λ [1/Å].

gemmi's own IT92 table has integer ions too, but only neutral atoms are used here; fractional
charges are the κ model's (:mod:`.kappa`).
"""

from __future__ import annotations

from functools import lru_cache

import gemmi
import numpy as np
from numpy.typing import ArrayLike

from ...errors import InputError


def element_number(element: str) -> int:
    """Z of an element symbol (``Ga`` → 31); :class:`InputError` for an unknown symbol or an ion name."""
    symbol = str(element).strip()
    el = gemmi.Element(symbol)
    if el.atomic_number == 0 or el.name.lower() != symbol.lower():
        raise InputError(f"unknown element symbol {element!r}", field="element")
    return el.atomic_number


@lru_cache(maxsize=None)
def _it92(element: str) -> tuple[np.ndarray, np.ndarray, float]:
    z = element_number(element)
    coef = gemmi.Element(z).it92
    if coef is None:  # pragma: no cover - gemmi has IT92 for every Z ≤ 98
        raise InputError(f"no IT92 coefficients for {element!r}", field="element")
    return np.array(coef.a, dtype=np.float64), np.array(coef.b, dtype=np.float64), float(coef.c)


def it92_form_factor(element: str, s: ArrayLike) -> np.ndarray:
    """Neutral-atom X-ray form factor f(s) [e] from gemmi's IT92 coefficients:
    f = Σ_i a_i exp(−b_i s²) + c, s = sinθ/λ [1/Å] (International Tables Vol. C, Table 6.1.1.4)."""
    a, b, c = _it92(element)
    s2 = np.asarray(s, dtype=np.float64) ** 2
    return np.tensordot(np.exp(-np.multiply.outer(s2, b)), a, axes=([-1], [0])) + c
