"""Hansen–Coppens kappa charge model: X-ray and electron form factors of partly charged atoms.

docs/architecture.md §3. Each site carries a valence population P_v [e] and an expansion κ of its valence shell
(Hansen & Coppens 1978, Acta Cryst. A34, 909). The X-ray form factor is

    f_x(s) = f_core(s) + P_v · f_val(s/κ),          s = sinθ/λ [1/Å]

with the electron form factor by the Mott–Bethe formula

    f_e(s) = C_MB · (Z − f_x(s)) / s²,   C_MB = m₀e²/(8πε₀h²) = 1/(8π²a₀) = 0.023934 Å  (s in 1/Å).

Valence shell: single-zeta Slater orbitals R(r) ∝ r^{n−1} e^{−ζr} with the Clementi–Raimondi
(1963, J. Chem. Phys. 38, 2686) / Clementi–Raimondi–Reinhardt (1967, J. Chem. Phys. 47, 1300)
exponents ζ of the neutral atom (``data/clementi_exponents.csv``). The density of one subshell,
normalised to one electron, is

    ρ(r) = (2ζ)^{2n+1} / (4π (2n)!) · r^{2n−2} e^{−2ζr},

and its Fourier transform (the ⟨j₀⟩ integral, Gradshteyn & Ryzhik 3.944.5 with μ = 2n, β = 2ζ) is

    f_nζ(Q) = ∫ ρ(r) sin(Qr)/(Qr) 4πr² dr = sin(2n·arctan t) / (2n · t · (1 + t²)^n),   t = Q/(2ζ),

with Q = 4π s [1/Å] and ζ converted to 1/Å (ζ/a₀). f_nζ(0) = 1. Where the valence shell has
several subshells (Ga 4s²4p¹, Ti 3d²4s²) f_val is their electron-weighted mean, so f_val(0) = 1.

Core: f_core(s) = f_IT92(s) − P_v,0 · f_val(s), with the neutral-atom IT92 coefficients of gemmi
(International Tables for Crystallography Vol. C, Table 6.1.1.4), so a neutral atom (P_v = P_v,0,
κ = 1) reproduces IT92 exactly, and a change of P_v by δ changes f_x(0) by exactly δ.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import gemmi
import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError

#: Mott–Bethe constant m₀e²/(8πε₀h²) = 1/(8π²a₀) [Å] for s = sinθ/λ in 1/Å (non-relativistic electron mass;
#: International Tables Vol. C §4.3.1.1, eq. 4.3.1.3): f_e(s) = C_MB (Z − f_x(s)) / s².
MOTT_BETHE_CONSTANT = 0.023934

#: Bohr radius a₀ [Å] (CODATA 2018), to convert Slater exponents ζ [1/a₀] to [1/Å].
BOHR_RADIUS = 0.529177210903

_DATA_DIR = Path(__file__).resolve().parent / "data"

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


def _atomic_number(element: str) -> int:
    """Z of an element symbol; InputError if unknown or outside the supported range."""
    symbol = str(element).strip()
    el = gemmi.Element(symbol)
    if el.atomic_number == 0 or el.name.lower() != symbol.lower():
        raise InputError(f"unknown element symbol {element!r}", field="element")
    if el.atomic_number > MAX_Z:
        raise InputError(
            f"element {el.name} (Z = {el.atomic_number}) is outside the charge model's range Z = 1..{MAX_Z}",
            field="element",
        )
    return el.atomic_number


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
    z = _atomic_number(element)
    config = ground_state_configuration(z)
    return float(sum(config[s] for s in valence_subshells(z)))


# ----- valence-shell form factor --------------------------------------------------------------


@lru_cache(maxsize=1)
def _clementi_table() -> dict[int, dict[str, float]]:
    """Z -> {subshell: ζ [1/a₀]} from ``data/clementi_exponents.csv`` (provenance in its header)."""
    table: dict[int, dict[str, float]] = {}
    with open(_DATA_DIR / "clementi_exponents.csv", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for row in rows:
            table.setdefault(int(row["z"]), {})[row["subshell"]] = float(row["zeta"])
    return table


@lru_cache(maxsize=None)
def valence_shell(element: str) -> tuple[tuple[int, float, float], ...]:
    """The valence subshells of the neutral atom as (n, ζ [1/Å], weight), weights summing to 1.

    The weight of a subshell is its share of the neutral valence electrons. Where the
    Clementi tables list no exponent for a valence subshell (the 5d of La, Ce and Gd: the 1967 paper
    used 4f configurations), the outermost s exponent of the same atom is used instead.
    """
    z = _atomic_number(element)
    config = ground_state_configuration(z)
    zetas = _clementi_table()[z]
    shells = valence_subshells(z)
    total = sum(config[s] for s in shells)
    outer_s = max((s for s in zetas if s.endswith("s")), key=lambda s: int(s[:-1]))
    out = []
    for shell in shells:
        zeta = zetas.get(shell, zetas[outer_s])
        out.append((int(shell[:-1]), zeta / BOHR_RADIUS, config[shell] / total))
    return tuple(out)


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


def valence_form_factor(element: str, s: ArrayLike) -> np.ndarray:
    """f_val(s) of ``element``: the valence-shell form factor per electron, f_val(0) = 1 [e/e].

    s = sinθ/λ [1/Å] (any shape). Electron-weighted mean of :func:`slater_form_factor` over the
    valence subshells (Clementi–Raimondi exponents).
    """
    s = np.asarray(s, dtype=np.float64)
    total = np.zeros_like(s)
    for n, zeta, weight in valence_shell(element):
        total = total + weight * slater_form_factor(n, zeta, s)
    return total


# ----- X-ray and electron form factors -------------------------------------------------------


@lru_cache(maxsize=None)
def _it92(element: str) -> tuple[np.ndarray, np.ndarray, float]:
    z = _atomic_number(element)
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


def _check_params(element: str, pv: float | None, kappa: float) -> float:
    """P_v to use (neutral if None); InputError for a negative P_v or a non-positive κ."""
    if kappa is None or not np.isfinite(kappa) or kappa <= 0:
        raise InputError(f"κ must be a positive number, got {kappa!r}", field="kappa")
    if pv is None:
        return neutral_valence(element)
    if not np.isfinite(pv) or pv < 0:
        raise InputError(f"P_v must be a number ≥ 0, got {pv!r}", field="pv")
    return float(pv)


def core_form_factor(element: str, s: ArrayLike) -> np.ndarray:
    """f_core(s) = f_IT92(s) − P_v,0 · f_val(s) [e]."""
    return it92_form_factor(element, s) - neutral_valence(element) * valence_form_factor(element, s)


def xray_form_factor(element: str, s: ArrayLike, pv: float | None = None, kappa: float = 1.0) -> np.ndarray:
    """Hansen–Coppens X-ray form factor f_x(s) = f_core(s) + P_v · f_val(s/κ) [e].

    s = sinθ/λ [1/Å] (any shape); ``pv`` the valence population [e] (None: neutral atom);
    ``kappa`` the valence expansion (κ > 1 contracts the shell). The neutral atom with κ = 1 is
    IT92 exactly.
    """
    p = _check_params(element, pv, kappa)
    s = np.asarray(s, dtype=np.float64)
    n0 = neutral_valence(element)
    if p == n0 and kappa == 1.0:
        return it92_form_factor(element, s)
    return core_form_factor(element, s) + p * valence_form_factor(element, s / kappa)


def _positive_s(s: ArrayLike) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise InputError("the Mott–Bethe formula needs s = sinθ/λ > 0 [1/Å] (g = 0 is not defined)", field="s")
    return s


def electron_form_factor(element: str, s: ArrayLike, pv: float | None = None, kappa: float = 1.0) -> np.ndarray:
    """Electron form factor by Mott–Bethe, f_e(s) = 0.023934 · (Z − f_x(s)) / s² [Å], s > 0 [1/Å].

    Non-relativistic (multiply by γ = m/m₀ for the relativistic electron). For a net charge
    Z − f_x(0) ≠ 0 it diverges as s → 0 (the Coulomb tail of an ion), so s = 0 is refused.
    """
    s = _positive_s(s)
    z = _atomic_number(element)
    return MOTT_BETHE_CONSTANT * (z - xray_form_factor(element, s, pv, kappa)) / (s * s)


def electron_form_factor_correction(element: str, s: ArrayLike, pv: float, kappa: float) -> np.ndarray:
    """f_e(charged) − f_e(neutral) by Mott–Bethe [Å], s > 0 [1/Å]:

        Δf_e(s) = −0.023934 · (P_v · f_val(s/κ) − P_v,0 · f_val(s)) / s².

    Added to any neutral electron table (e.g. Kirkland's in the simulator) it carries the charge
    model. For a net charge q = P_v,0 − P_v ≠ 0 it diverges like 0.023934 · q / s² as s → 0;
    the Bloch-wave simulator never evaluates g = 0.
    """
    s = _positive_s(s)
    p = _check_params(element, pv, kappa)
    n0 = neutral_valence(element)
    delta = p * valence_form_factor(element, s / kappa) - n0 * valence_form_factor(element, s)
    return -MOTT_BETHE_CONSTANT * delta / (s * s)
