"""Structure factors U_g of the crystal potential, with absorption (docs/felix_physics.md §2-3).

    U_g = (γ/(πV)) Σ_j o_j f_j(q) exp(−B_j q²/4) exp(−2πi (h x_j + k y_j + l z_j))     [Å⁻²]

(Felix ug_matrix_mod.f90:71-107), q = 1/d [1/Å], f_j the Kirkland electron form factor [Å]
(lacbed_bridge.crystal.form_factors.kirkland) plus the κ model's Mott–Bethe correction for sites
with a valence population P_v or κ ≠ 1 (docs/architecture.md §3; lacbed_bridge.crystal.form_factors.kappa),
o_j the occupancy, B_j the Debye–Waller factor [Å²]. The sum over the atoms is the one the EDD
images use too (lacbed_bridge.crystal.structure_factor), here with the phase sign −.
U is in the "1/λ" convention (U = 2mγeV_g/h²); the 4π²/(2K) that brings it to Felix's 2π
convention is applied in the structure matrix.

Absorption (Ũ = U + i U'):
- IAbsorbFLAG 0: U' = 0;
- IAbsorbFLAG 1: U' = (p/100) U (proportional, RAbsorptionPer = p %);
- IAbsorbFLAG 2: U'_g = (γ/(πV)) Σ_j o_j f'_j(q) exp(−B_j q²/4) exp(−i g·r_j) with f' the Bird–King
  absorptive form factor of the neutral atom (absorption.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..crystal.form_factors.kirkland import kirkland_form_factor
from ..crystal.model import Crystal, Site, effective_b_iso
from ..crystal.structure_factor import atoms_by_site, structure_factor_sum
from ..errors import InputError
from .absorption import bird_king_form_factor
from .electron import lorentz_factor
from .settings import PotentialSettings

TINY = 1e-9


@dataclass(frozen=True)
class SiteTerms:
    """Per-site quantities entering U_g: element, occupancy o, B [Å²], charge parameters and
    the fractional positions of all its atoms in the unit cell (m, 3)."""

    site: Site
    occupancy: float
    b_iso: float
    positions: np.ndarray


def site_terms(crystal: Crystal, debye_waller_constant: float) -> list[SiteTerms]:
    """Expand the asymmetric unit and apply Felix's rule for B (read_cif_mod.f90:349-360,
    ug_matrix_mod.f90:88; :func:`~lacbed_bridge.crystal.model.effective_b_iso`): B = 8π²U_iso,
    replaced by RDebyeWallerConstant when it is 0, negative or > 10 Å².

    Occupancy is taken as given. (Felix reads an occupancy ≤ 1e-9 as 1 because its CIF reader
    cannot tell "missing" from 0; our reader fills a missing occupancy with 1, so an explicit 0
    here is a real vacancy. The Felix backend leaves such sites out of felix.cif.)"""
    out = []
    for site, positions in zip(crystal.sites, atoms_by_site(crystal)):
        b = effective_b_iso(site.b_iso, debye_waller_constant)
        out.append(SiteTerms(site=site, occupancy=site.occupancy, b_iso=b, positions=positions))
    return out


def _charge_correction(site: Site, s: np.ndarray) -> np.ndarray:
    """Mott–Bethe change of f_e [Å] from the kappa charge model, 0 for a neutral free atom."""
    if site.pv is None and site.kappa == 1.0:
        return np.zeros_like(s)
    # imported lazily: only charged crystals need them
    from ..crystal.charge import neutral_valence
    from ..crystal.form_factors.kappa import electron_form_factor_correction

    pv = neutral_valence(site.element) if site.pv is None else site.pv
    out = np.zeros_like(s)
    positive = s > 0
    out[positive] = electron_form_factor_correction(site.element, s[positive], pv, site.kappa)
    return out


@dataclass(frozen=True)
class StructureFactors:
    """U and U' [Å⁻²] for a list of reflections (hkl, (n, 3) int)."""

    hkl: np.ndarray
    u: np.ndarray  # complex, elastic
    u_abs: np.ndarray  # complex, absorptive U' (Ũ = U + iU')

    @property
    def total(self) -> np.ndarray:
        """Ũ = U + iU' [Å⁻²]."""
        return self.u + 1j * self.u_abs


#: the most terms exp(−2πi h·r) the structure factors of one crystal may sum (≈ 50 M terms/s)
MAX_PHASE_TERMS = 1e10


def structure_factors(
    crystal: Crystal,
    settings: PotentialSettings,
    hkl: np.ndarray,
    g_mag: np.ndarray,
    constants: str = "codata",
    device: str | None = None,
) -> StructureFactors:
    """U_g and U'_g for reflections ``hkl`` with |g| = ``g_mag`` [1/Å, with 2π]; ``device`` is where
    the Bird–King quadrature runs (torch device, default CPU)."""
    gamma = lorentz_factor(settings.accelerating_voltage, constants)
    prefactor = gamma / (math.pi * crystal.volume)
    q = g_mag / (2.0 * math.pi)
    q_unique, q_index = np.unique(np.round(q, 12), return_inverse=True)
    hkl_f = np.asarray(hkl, dtype=float)
    sites = list(site_terms(crystal, settings.debye_waller_constant))
    n_terms = len(hkl) * sum(len(t.positions) for t in sites)
    if n_terms > MAX_PHASE_TERMS:  # time, up front: ≈ 50 M terms per second
        raise InputError(f"the structure factors of this crystal sum {len(hkl)} reflection differences × "
                         f"{sum(len(t.positions) for t in sites)} atoms = {n_terms:.3g} terms, past the limit of "
                         f"{MAX_PHASE_TERMS:.0e} (a few minutes): a smaller cell or min_reflection_pool", field="IMinReflectionPool")
    bk_cache: dict[tuple[str, float], np.ndarray] = {}

    def amplitudes():
        # per site: o·f·DW at each reflection, and o·f'·DW (Bird–King) summed with the same phases
        for terms in sites:
            el = terms.site.element
            dw = np.exp(-terms.b_iso * q_unique**2 / 4.0)
            f = kirkland_form_factor(el, q_unique) + _charge_correction(terms.site, q_unique / 2.0)
            elastic = terms.occupancy * (f * dw)[q_index]
            if settings.absorb_flag != 2:
                yield elastic, terms.positions
                continue
            key = (el, terms.b_iso)
            if key not in bk_cache:
                bk_cache[key] = bird_king_form_factor(
                    el, q_unique, terms.b_iso, settings.accelerating_voltage, constants=constants, device=device
                )
            yield np.stack([elastic, terms.occupancy * (bk_cache[key] * dw)[q_index]]), terms.positions

    total = structure_factor_sum(hkl_f, amplitudes(), sign=-1)
    if settings.absorb_flag == 2:
        u, u_abs = total[0], total[1]
    else:
        u, u_abs = total, np.zeros(len(hkl), dtype=complex)
    u *= prefactor
    u_abs *= prefactor
    if settings.absorb_flag == 1:
        u_abs = (settings.absorption_per / 100.0) * u
    elif settings.absorb_flag == 0:
        u_abs = np.zeros_like(u)
    return StructureFactors(hkl=np.asarray(hkl), u=u, u_abs=u_abs)


def pool_matrix(
    crystal: Crystal,
    settings: PotentialSettings,
    pool_hkl: np.ndarray,
    reciprocal: np.ndarray,
    constants: str = "codata",
    device: str | None = None,
) -> tuple[np.ndarray, StructureFactors]:
    """Ũ(g_i − g_j) for every pair of pool reflections, (n, n) complex [Å⁻²], and the
    structure factors of the pool reflections themselves (column g_j = 000)."""
    diff = (pool_hkl[:, None, :] - pool_hkl[None, :, :]).reshape(-1, 3).astype(np.int64)
    # the distinct g − h by one integer key per difference (np.unique on rows sorts
    # lexicographically and is ~10× slower for a 500-reflection pool's 250 000 pairs)
    offset = int(np.abs(diff).max(initial=0))
    base = 2 * offset + 1
    key = ((diff[:, 0] + offset) * base + diff[:, 1] + offset) * base + diff[:, 2] + offset
    unique_key, inverse = np.unique(key, return_inverse=True)
    unique = np.stack([unique_key // (base * base), unique_key // base % base, unique_key % base], axis=1) - offset
    g_mag = np.linalg.norm(unique @ reciprocal, axis=1)
    sf = structure_factors(crystal, settings, unique, g_mag, constants, device)
    total = sf.total[inverse.reshape(-1)].reshape(len(pool_hkl), len(pool_hkl))
    column_index = inverse.reshape(len(pool_hkl), len(pool_hkl))[:, 0]
    column = StructureFactors(hkl=pool_hkl, u=sf.u[column_index], u_abs=sf.u_abs[column_index])
    return total, column
