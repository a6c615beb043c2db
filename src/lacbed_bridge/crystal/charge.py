"""The Hansen–Coppens κ charge model: what a charge state of an atom is.

docs/architecture.md §3, docs/charge_model.md §1. Each site carries a valence population P_v [e]
and an expansion κ of its valence shell (Hansen & Coppens 1978, Acta Cryst. A34, 909). This module
says which electrons are valence (:func:`valence_subshells` of the ground-state configuration),
how many the neutral atom has (P_v,0, :func:`neutral_valence`), and which (P_v, κ) are a valid
charge state (:func:`check_charge_parameters`); elements Z = 1..86 (the Clementi–Raimondi–Reinhardt
exponents end at Rn).

The form factors of such an atom — X-ray f_x(s) = f_core(s) + P_v · f_val(s/κ) and electron by
Mott–Bethe — are :mod:`lacbed_bridge.crystal.form_factors.kappa`, with the other parametrizations
in :mod:`lacbed_bridge.crystal.form_factors`.
"""

from __future__ import annotations

from functools import lru_cache

import gemmi
import numpy as np

from ..errors import InputError
from .form_factors.it92 import element_number

#: Largest atomic number supported (Clementi–Raimondi–Reinhardt 1967 exponents end at Rn).
MAX_Z = 86

# Aufbau (Madelung) filling order and capacities of the subshells up to Z = 86.
_AUFBAU = ("1s", "2s", "2p", "3s", "3p", "4s", "3d", "4p", "5s", "4d", "5p", "6s", "4f", "5d", "6p")
_CAPACITY = {"s": 2, "p": 6, "d": 10, "f": 14}

#: Ground-state configurations that differ from the Madelung order (NIST Atomic Spectra
#: Database ground levels): subshell -> occupation overrides.
_EXCEPTIONS: dict[int, dict[str, int]] = {
    24: {"4s": 1, "3d": 5},  # Cr
    29: {"4s": 1, "3d": 10},  # Cu
    41: {"5s": 1, "4d": 4},  # Nb
    42: {"5s": 1, "4d": 5},  # Mo
    44: {"5s": 1, "4d": 7},  # Ru
    45: {"5s": 1, "4d": 8},  # Rh
    46: {"5s": 0, "4d": 10},  # Pd
    47: {"5s": 1, "4d": 10},  # Ag
    57: {"4f": 0, "5d": 1},  # La
    58: {"4f": 1, "5d": 1},  # Ce
    64: {"4f": 7, "5d": 1},  # Gd
    78: {"6s": 1, "5d": 9},  # Pt
    79: {"6s": 1, "5d": 10},  # Au
}


def atomic_number(element: str) -> int:
    """Z of an element symbol; :class:`InputError` if unknown or outside the model's range Z = 1..86."""
    z = element_number(element)
    if z > MAX_Z:
        raise InputError(
            f"element {gemmi.Element(z).name} (Z = {z}) is outside the charge model's range Z = 1..{MAX_Z}",
            field="element",
        )
    return z


@lru_cache(maxsize=None)
def ground_state_configuration(z: int) -> dict[str, int]:
    """Ground-state electron configuration of the neutral atom Z: subshell (e.g. ``"4p"``) -> electrons."""
    config: dict[str, int] = {}
    left = z
    for shell in _AUFBAU:
        if left <= 0:
            break
        n = min(left, _CAPACITY[shell[-1]])
        config[shell] = n
        left -= n
    for shell, n in _EXCEPTIONS.get(z, {}).items():
        config[shell] = n
    return {k: v for k, v in config.items() if v > 0}


def _period(z: int) -> int:
    for period, last in enumerate((2, 10, 18, 36, 54, 86), start=1):
        if z <= last:
            return period
    raise AssertionError(z)


@lru_cache(maxsize=None)
def valence_subshells(z: int) -> tuple[str, ...]:
    """The subshells counted as the valence shell of element Z in our model.

    - s- and p-block (and H, He): the outer ns and np (Ga: 4s²4p¹ -> 3; the filled 3d¹⁰ is core);
    - transition metals, groups 3–11 (including Pd, Cu, Ag, Au): ns and (n−1)d (Ti: 3d²4s² -> 4);
    - group 12 (Zn, Cd, Hg): ns only (the filled d¹⁰ is core -> 2);
    - lanthanides La–Lu: 6s and 5d; the localised 4f shell is counted as core (La 3, Eu 2).
    """
    n = _period(z)
    config = ground_state_configuration(z)
    if 57 <= z <= 71:
        return tuple(s for s in (f"{n}s", f"{n - 1}d") if s in config)
    outer = [f"{n}s", f"{n}p"]
    d_block = (21 <= z <= 29) or (39 <= z <= 47) or (72 <= z <= 79)
    if d_block:
        outer.append(f"{n - 1}d")
    return tuple(s for s in outer if s in config)


def neutral_valence(element: str) -> float:
    """Valence population P_v,0 [e] of the neutral atom in our Hansen–Coppens model.

    The electrons of :func:`valence_subshells` in the ground-state configuration, e.g.
    Ga 3 (4s²4p¹), As 5, O 6, Sr 2, Ti 4 (3d²4s²), Mg 2, Al 3, F 7, Na 1, Cl 7, Zn 2, La 3.
    Raises :class:`InputError` for an unknown element or one outside Z = 1..86.
    """
    z = atomic_number(element)
    config = ground_state_configuration(z)
    return float(sum(config[s] for s in valence_subshells(z)))


def check_charge_parameters(element: str, pv: float | None, kappa: float) -> float:
    """P_v [e] to use (the neutral atom's if None); :class:`InputError` for a negative P_v or a
    non-positive κ."""
    if kappa is None or not np.isfinite(kappa) or kappa <= 0:
        raise InputError(f"κ must be a positive number, got {kappa!r}", field="kappa")
    if pv is None:
        return neutral_valence(element)
    if not np.isfinite(pv) or pv < 0:
        raise InputError(f"P_v must be a number ≥ 0, got {pv!r}", field="pv")
    return float(pv)
