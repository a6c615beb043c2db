"""Hansen–Coppens κ form factors of partly charged atoms: X-ray, and electron by Mott–Bethe.

docs/architecture.md §3, docs/charge_model.md §1. Each site carries a valence population P_v [e]
and an expansion κ of its valence shell (Hansen & Coppens 1978, Acta Cryst. A34, 909; Coppens,
*X-ray Charge Densities and Chemical Bonding*, 1997). The X-ray form factor is

    f_x(s) = f_core(s) + P_v · f_val(s/κ),          s = sinθ/λ [1/Å]

and the electron form factor follows by Mott–Bethe (:mod:`.mott_bethe`),
f_e(s) = 0.023934 Å · (Z − f_x(s)) / s².

Valence shell: the subshells the charge model counts as valence (:func:`~lacbed_bridge.crystal.charge.valence_subshells`),
each a single-zeta Slater orbital with the neutral atom's Clementi–Raimondi exponent (:mod:`.slater`);
where there are several (Ga 4s²4p¹, Ti 3d²4s²) f_val is their electron-weighted mean, so f_val(0) = 1.

Core: f_core(s) = f_IT92(s) − P_v,0 · f_val(s), with the neutral-atom IT92 factor (:mod:`.it92`),
so a neutral atom (P_v = P_v,0, κ = 1) reproduces IT92 exactly, and a change of P_v by δ changes
f_x(0) by exactly δ.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from ..charge import atomic_number, check_charge_parameters, ground_state_configuration, neutral_valence, valence_subshells
from .it92 import it92_form_factor
from .mott_bethe import mott_bethe, positive_s
from .slater import BOHR_RADIUS, clementi_exponents, slater_form_factor


@lru_cache(maxsize=None)
def valence_shell(element: str) -> tuple[tuple[int, float, float], ...]:
    """The valence subshells of the neutral atom as (n, ζ [1/Å], weight), weights summing to 1.

    The weight of a subshell is its share of the neutral valence electrons. Where the
    Clementi tables list no exponent for a valence subshell (the 5d of La, Ce and Gd: the 1967 paper
    used 4f configurations), the outermost s exponent of the same atom is used instead.
    """
    z = atomic_number(element)
    config = ground_state_configuration(z)
    zetas = clementi_exponents()[z]
    shells = valence_subshells(z)
    total = sum(config[s] for s in shells)
    outer_s = max((s for s in zetas if s.endswith("s")), key=lambda s: int(s[:-1]))
    out = []
    for shell in shells:
        zeta = zetas.get(shell, zetas[outer_s])
        out.append((int(shell[:-1]), zeta / BOHR_RADIUS, config[shell] / total))
    return tuple(out)


def valence_form_factor(element: str, s: ArrayLike) -> np.ndarray:
    """f_val(s) of ``element``: the valence-shell form factor per electron, f_val(0) = 1 [e/e].

    s = sinθ/λ [1/Å] (any shape). Electron-weighted mean of :func:`.slater.slater_form_factor` over the
    valence subshells (Clementi–Raimondi exponents).
    """
    s = np.asarray(s, dtype=np.float64)
    total = np.zeros_like(s)
    for n, zeta, weight in valence_shell(element):
        total = total + weight * slater_form_factor(n, zeta, s)
    return total


def core_form_factor(element: str, s: ArrayLike) -> np.ndarray:
    """f_core(s) = f_IT92(s) − P_v,0 · f_val(s) [e]."""
    return it92_form_factor(element, s) - neutral_valence(element) * valence_form_factor(element, s)


def xray_form_factor(element: str, s: ArrayLike, pv: float | None = None, kappa: float = 1.0) -> np.ndarray:
    """Hansen–Coppens X-ray form factor f_x(s) = f_core(s) + P_v · f_val(s/κ) [e].

    s = sinθ/λ [1/Å] (any shape); ``pv`` the valence population [e] (None: neutral atom);
    ``kappa`` the valence expansion (κ > 1 contracts the shell). The neutral atom with κ = 1 is
    IT92 exactly.
    """
    p = check_charge_parameters(element, pv, kappa)
    s = np.asarray(s, dtype=np.float64)
    n0 = neutral_valence(element)
    if p == n0 and kappa == 1.0:
        return it92_form_factor(element, s)
    return core_form_factor(element, s) + p * valence_form_factor(element, s / kappa)


def electron_form_factor(element: str, s: ArrayLike, pv: float | None = None, kappa: float = 1.0) -> np.ndarray:
    """Electron form factor by Mott–Bethe, f_e(s) = 0.023934 · (Z − f_x(s)) / s² [Å], s > 0 [1/Å].

    Non-relativistic (multiply by γ = m/m₀ for the relativistic electron). For a net charge
    Z − f_x(0) ≠ 0 it diverges as s → 0 (the Coulomb tail of an ion), so s = 0 is refused.
    """
    s = positive_s(s)
    z = atomic_number(element)
    return mott_bethe(z - xray_form_factor(element, s, pv, kappa), s)


def electron_form_factor_correction(element: str, s: ArrayLike, pv: float, kappa: float) -> np.ndarray:
    """f_e(charged) − f_e(neutral) by Mott–Bethe [Å], s > 0 [1/Å]:

        Δf_e(s) = −0.023934 · (P_v · f_val(s/κ) − P_v,0 · f_val(s)) / s².

    Added to any neutral electron table (e.g. Kirkland's in the simulator) it carries the charge
    model. For a net charge q = P_v,0 − P_v ≠ 0 it diverges like 0.023934 · q / s² as s → 0;
    the Bloch-wave simulator never evaluates g = 0.
    """
    s = positive_s(s)
    p = check_charge_parameters(element, pv, kappa)
    n0 = neutral_valence(element)
    delta = p * valence_form_factor(element, s / kappa) - n0 * valence_form_factor(element, s)
    return mott_bethe(-delta, s)
