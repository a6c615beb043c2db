"""A differentiable (000) disc: the builtin Bloch-wave simulator as a function of refinable parameters.

The disc I(k; θ) of :func:`~lacbed_bridge.simulate.bloch.simulate_builtin` depends on the crystal's
charge parameters through the structure factors and on the thickness through the propagation:

    Ũ_g(θ) = (γ/(πV)) Σ_sites o_j [f_K(q) + Δf_e(s; P_v, κ)] exp(−B_j s²) Σ_atoms exp(−2πi g·r)   (× (1 + i p/100))
    Δf_e(s) = −0.023934 [P_v f_val(s/κ) − P_v,0 f_val(s)] / s²          (Mott–Bethe, s = q/2 > 0)
    ψ(t) = exp(i Ã(Ũ) t) e₀₀₀,  I = |M₀₀ ψ₀₀₀|²

(simulate/potential.py, crystal/form_factors/kappa.py, simulate/bloch.py; docs/felix_physics.md §2-6), written here with torch operations so that
autograd (reverse and forward mode) differentiates I with respect to

* ``delta``: the charge transfer δ [e per formula unit] from the cation to the anion atoms,
  P_v(site) = P_v,start + (δ − δ_start) · dP_v/dδ with dP_v/dδ = −Z_f/N_cation per cation atom and
  +Z_f/N_anion per anion atom (the variants' sharing rule, docs/charge_model.md, without caps);
* ``kappa:<label>``: the valence expansion κ of a site, or ``kappa:cation`` / ``kappa:anion``: one κ
  shared by every site of that role;
* ``u_iso:<label>``: the displacement U_iso [Å²] of a site (B = 8π²U), or one per role likewise;
* ``thickness``: the specimen thickness t [Å];
* the detector optics (refine/optics.py): ``centre_x``, ``centre_y`` [px], ``rotation`` [°],
  ``k_scale`` — through the wave vector each pixel sees, so through the excitation errors and the
  structure matrix — and ``blur`` [px], the Gaussian PSF applied to the image.

Held fixed during a fit (stated in every report): the reflection pool (complete shells), the cell,
positions and occupancies, the strong beams of each pixel between beam refreshes (the fit chooses
them again at its minimum, :meth:`DiscModel.reselect_beams`, and goes on until they stop
changing, as the simulator would choose them for the fitted crystal), and with
Bird–King absorption (IAbsorbFLAG 2) the absorptive U' of the starting structure. At the starting
parameters the model equals ``simulate_builtin`` (tests/refine). When the crystal's symmetry along
the beam permutes pixels, one pixel per orbit is computed and copied (simulate/symmetry.py).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..crystal.charge import neutral_valence
from ..crystal.form_factors.kappa import valence_shell
from ..crystal.form_factors.kirkland import kirkland_form_factor
from ..crystal.form_factors.mott_bethe import MOTT_BETHE_CONSTANT
from ..crystal.model import Crystal, effective_b_iso
from ..crystal.orientation import MicroscopeFrame, microscope_frame
from ..crystal.structure_factor import phase_sum
from ..errors import InputError, SimulationError
from ..simulate.bloch import (EIGEN_FROM_THICKNESSES, BlochStructure, bloch_structure, eigen_waves, excitation_errors,
                              normal_correction, strong_beam_mask, structure_matrix)
from ..simulate.chebyshev import SeriesDivergence
from ..simulate.electron import lorentz_factor, wavenumber_from_voltage
from ..simulate.potential import structure_factors
from ..simulate.settings import LacbedSettings
from ..simulate.symmetry import disc_symmetry, pixel_orbits
from . import ROLE_NAMES
from .propagator import entry_and_tangents
from .optics import (BLUR_START, GEOMETRY_PARAMETERS, OPTICS_PARAMETERS, OPTICS_UNITS, OpticsGeometry, blur_image, blur_margin,
                     optics_bounds, pixel_offsets, register_shift, seen_wavevectors)

#: how the fit evaluates discs and Jacobians: ``chebyshev`` (refine/propagator.py: the series and its
#: forward tangents, matrix–matrix products over blocks of pixels) or ``eigen`` (the matrix
#: exponential for discs, one eigendecomposition per pixel for the Jacobian)
SOLVERS = ("chebyshev", "eigen")
#: pixels per side of a block that shares one union of strong beams (simulate/chebyshev.py)
BLOCK_TILE = 4

#: Parameter kinds and their units (reports).
UNITS = {"delta": "e per formula unit", "kappa": "", "u_iso": "Å²", "thickness": "Å", "scale": "", "background": "",
         **OPTICS_UNITS}


def slater_form_factor_t(n: int, zeta: float, s: torch.Tensor) -> torch.Tensor:
    """Torch twin of :func:`lacbed_bridge.crystal.form_factors.slater.slater_form_factor` (one electron, f(0) = 1)."""
    t = 2.0 * math.pi * s.abs() / zeta
    small = t < 1e-6
    safe = torch.where(small, torch.ones_like(t), t)
    big_n = 2 * n
    value = torch.sin(big_n * torch.atan(safe)) / (big_n * safe * (1.0 + safe * safe) ** n)
    return torch.where(small, 1.0 - (big_n + 1) * (big_n + 2) / 6.0 * t * t, value)


def valence_form_factor_t(element: str, s: torch.Tensor) -> torch.Tensor:
    """f_val(s) per valence electron (Clementi–Raimondi single-zeta shells), torch."""
    total = torch.zeros_like(s)
    for n, zeta, weight in valence_shell(element):
        total = total + weight * slater_form_factor_t(n, zeta, s)
    return total


@dataclass(frozen=True)
class Roles:
    """Role (cation / anion / neutral) per site label, and the formula units per cell Z_f."""

    by_label: dict[str, str]
    formula_units: int


def charge_derivatives(crystal: Crystal, roles: Roles) -> tuple[np.ndarray, float]:
    """dP_v/dδ per site and δ of the crystal as given (from its cation P_v: δ = Σ_cation atoms
    (P_v,0 − P_v) / Z_f). InputError when there is no cation or no anion."""
    mult = crystal.site_multiplicities()
    role = [roles.by_label.get(s.label, "neutral") for s in crystal.sites]
    n_cat = sum(m for m, r in zip(mult, role, strict=True) if r == "cation")
    n_an = sum(m for m, r in zip(mult, role, strict=True) if r == "anion")
    if not n_cat or not n_an:
        raise InputError("refining delta needs at least one cation and one anion site (roles: "
                         f"{dict(zip([s.label for s in crystal.sites], role, strict=True))})", field="--roles")
    z_f = roles.formula_units
    deriv = np.array([-z_f / n_cat if r == "cation" else z_f / n_an if r == "anion" else 0.0 for r in role])
    delta = 0.0
    for site, m, r in zip(crystal.sites, mult, role, strict=True):
        if r == "cation":
            pv0 = neutral_valence(site.element)
            delta += m * (pv0 - (pv0 if site.pv is None else site.pv)) / z_f
    return deriv, delta


def forward_jacobian(function, p: torch.Tensor) -> torch.Tensor:
    """∂function/∂p by forward-mode autograd (one pass per parameter, vectorised)."""
    with warnings.catch_warnings():
        # torch's forward-mode setup scripts a few decompositions with the deprecated torch.jit.script
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=DeprecationWarning)
        return torch.autograd.functional.jacobian(function, p, strategy="forward-mode", vectorize=True).detach()


def _divided_exp(lam: torch.Tensor) -> torch.Tensor:
    """Φ_jk = (e^λj − e^λk)/(λj − λk), e^λj where λj = λk (first divided differences of exp)."""
    d = lam[..., :, None] - lam[..., None, :]
    small = d.abs() < 1e-6
    d_safe = torch.where(small, torch.ones_like(d), d)
    # e^λk (e^d − 1)/d, with the Taylor series 1 + d/2 + d²/6 for small |d|
    ratio = torch.where(small, 1.0 + d / 2.0 + d * d / 6.0, torch.expm1(d_safe) / d_safe)
    return torch.exp(lam)[..., None, :] * ratio


def exp_entry_derivative(x: torch.Tensor, dx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(X)e₀ and ∂[exp(X)]₀₀ along the directions ``dx``, from one eigendecomposition per matrix.

    ``x`` (P, n, n) complex, diagonalisable; ``dx`` (P, n, n, k) complex. Returns the first column
    ψ = exp(X)e₀ (P, n) and ∂ψ₀/∂θ (P, k). Daleckii–Krein: with X = VΛV⁻¹ the Fréchet derivative
    is L(X, E) = V[(V⁻¹EV) ∘ Φ]V⁻¹, Φ the divided differences of exp over the eigenvalues
    (Higham 2008, Functions of Matrices, Thm 3.11), so
    ∂ψ₀ = Σ_jk V₀ⱼ Φⱼₖ (V⁻¹)ₖ₀ (V⁻¹EV)ⱼₖ = Σ_mn Gₘₙ Eₙₘ  with  G = V Cᵀ V⁻¹, Cⱼₖ = V₀ⱼ Φⱼₖ (V⁻¹)ₖ₀:
    one eigendecomposition and two products per matrix, then n² per direction, instead of the
    2n × 2n block exponential per direction that autograd differentiates through. The structure
    matrix of the fast electron is nearly Hermitian (absorption a few % of the potential), so V is
    well conditioned; tests/refine compares this with autograd.
    """
    lam, vec = torch.linalg.eig(x)
    if vec.device.type == "cpu":
        # one matrix at a time: torch 2.13's batched complex LU on the CPU with more than one thread
        # returns invalid pivots for large batches (seen at 272 × 155², "Pivots given to lu_solve
        # must all be greater or equal to 1"); single matrices are fine and cost the same
        inv = torch.stack([torch.linalg.inv(m) for m in vec.reshape(-1, *vec.shape[-2:])]).reshape(vec.shape)
    else:
        inv = torch.linalg.inv(vec)
    first = inv[..., :, 0]  # V⁻¹e₀
    psi = (vec @ (torch.exp(lam) * first)[..., None])[..., 0]
    c = vec[..., 0, :, None] * _divided_exp(lam) * first[..., None, :]
    g = vec @ c.transpose(-1, -2) @ inv
    return psi, torch.einsum("pmn,pnmk->pk", g, dx)


class DiscModel:
    """The (000) disc as a differentiable function of named parameters (module docstring).

    ``free``: parameter names (``delta``, ``kappa:<label>``, ``u_iso:<label>``, ``thickness``);
    :attr:`start` holds their starting values (from the crystal and the settings' thickness
    ``thickness_index``). :meth:`disc` maps a parameter vector to the side × side disc.
    ``mean_absorption``: keep U'(0) on the diagonal (config ``simulation.mean_absorption``, as
    the simulator); it does not depend on the refined parameters (s = 0). ``geometry``: how the
    detector sees the disc (centre offset, rotation, k-scale, blur; refine/optics.py) — the
    starting values of those that are free, the fixed values of the others; a disc off the grid
    centre, rotated or rescaled is computed pixel by pixel at the wave vectors the pixels see (no
    symmetry), a blurred one on a detector enlarged by the kernel's half width.
    """

    def __init__(
        self,
        crystal: Crystal,
        settings: LacbedSettings,
        free: list[str],
        *,
        roles: Roles | None = None,
        thickness_index: int = 0,
        device: torch.device | None = None,
        use_symmetry: bool = True,
        mean_absorption: bool = False,
        geometry: OpticsGeometry = OpticsGeometry(),
        solver: str = "chebyshev",
        hkl: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        if solver not in SOLVERS:
            raise InputError(f"expected one of {list(SOLVERS)}, got {solver!r}", field="solver")
        self.solver = solver
        if settings.blur_radius > 1e-9:
            raise InputError("refinement models the detector blur itself (refine --blur W, --free blur): set "
                             "simulation.blur_radius to 0", field="simulation.blur_radius")
        self.device = device or torch.device("cpu")
        self.crystal = crystal
        self.settings = settings
        self.free = list(free)
        self.roles = roles
        self._check_names()
        self._charge_start(thickness_index)
        # --- fixed geometry and beams (the numpy path of simulate_builtin) ---------------------
        frame = microscope_frame(crystal, settings.geometry)
        unique = self._beam_pool(frame, mean_absorption, hkl)
        self._site_tables(frame, unique)
        # the detector's pixels (refine/optics.py): the settings' grid, enlarged by the blur kernel's
        # half width; each pixel at the wave vector it sees under the geometry (exact: no interpolation)
        reps, extended = self._pixel_grid(frame, geometry, use_symmetry)
        self._beams_and_blocks(reps, extended)
        self._check_role_parameters()
        self.start = torch.tensor([self._start_value(name) for name in self.free], dtype=torch.float64)
        #: the optics' bounds around their starting values (a measured frame may start k_scale at
        #: 1.3: the same relative freedom as a simulated one)
        self.bounds = {name: optics_bounds(name, float(self.start[i])) for i, name in enumerate(self.free)
                       if name in OPTICS_PARAMETERS}

    def _check_names(self) -> None:
        """InputError for a free parameter the model does not know: one of ``delta``,
        ``thickness``, ``kappa:<label>`` / ``u_iso:<label>`` of a site or of a role some site has,
        or an optics parameter."""
        labels = [s.label for s in self.crystal.sites]
        roles = self.roles
        site_roles = {roles.by_label.get(label, "neutral") for label in labels} if roles is not None else set()
        for name in self.free:
            kind, _, label = name.partition(":")
            if kind in ("kappa", "u_iso") and label in ROLE_NAMES and label not in labels:
                if roles is None or label not in site_roles:
                    raise InputError(f"{name}: no site has the role {label!r} (give the sites' roles: --roles or a "
                                     "config family)", field="--free")
                continue
            if name in OPTICS_PARAMETERS:
                continue
            if kind not in ("delta", "kappa", "u_iso", "thickness") or (kind in ("kappa", "u_iso") and label not in labels) \
                    or (kind in ("delta", "thickness") and label):
                raise InputError(f"unknown parameter {name!r}; expected delta, thickness, kappa:<label> or u_iso:<label> "
                                 f"with a site label of the crystal {labels} (or a role: cation, anion), or an optics "
                                 f"parameter ({', '.join(OPTICS_PARAMETERS)})", field="--free")

    def _charge_start(self, thickness_index: int) -> None:
        """The starting thickness t₀ [Å] (the settings' ``thickness_index``), and with ``delta`` free
        dP_v/dδ per site and the crystal's δ₀ [e per formula unit] (:func:`charge_derivatives`)."""
        self.thickness0 = float(self.settings.thicknesses[thickness_index])
        self.deriv = np.zeros(len(self.crystal.sites))
        self.delta0 = 0.0
        if "delta" in self.free:
            if self.roles is None:
                raise InputError("refining delta needs the sites' roles (cation / anion): give --roles or a config family",
                                 field="--roles")
            self.deriv, self.delta0 = charge_derivatives(self.crystal, self.roles)

    def _beam_pool(self, frame: MicroscopeFrame, mean_absorption: bool, hkl: tuple[int, int, int]) -> np.ndarray:
        """The fixed beam pool (complete shells) and structure of the starting crystal, the fitted
        disc's beam (000, or a ±g disc of the pattern: Felix's felix.hkl), and the map from each
        pair of beams to its difference g − h; returns the distinct differences (hkl, n × 3)."""
        settings = self.settings
        self.wavenumber = wavenumber_from_voltage(settings.accelerating_voltage)
        base: BlochStructure = bloch_structure(self.crystal, frame, self.wavenumber, potential=settings.potential,
                                               beams=settings.beam_selection, pool_mode="shells",
                                               device=self.device, mean_absorption=mean_absorption)
        self.base = base
        pool = base.pool
        # the disc fitted: 000 or another reflection's (a ±g disc of the pattern; Felix's felix.hkl)
        self.hkl = tuple(int(h) for h in hkl)
        where = np.flatnonzero((pool == np.asarray(self.hkl)).all(axis=1))
        if not len(where):
            raise InputError(f"the reflection {self.hkl} is not in the beam pool of {len(pool)} reflections (raise "
                             "simulation.min_reflection_pool)", field="hkl")
        self.beam = int(where[0])
        if self.beam and self.solver != "chebyshev":
            raise InputError("a disc other than 000 needs the chebyshev solver", field="solver")
        diff = pool[:, None, :] - pool[None, :, :]
        unique, inverse = np.unique(diff.reshape(-1, 3), axis=0, return_inverse=True)
        self.inverse = torch.as_tensor(inverse.reshape(-1), device=self.device)
        self.n_pool = len(pool)
        return unique

    def _site_tables(self, frame: MicroscopeFrame, unique: np.ndarray) -> None:
        """What the structure factors Ũ(g − h) need per distinct difference g − h (``unique``): s =
        |g|/4π [1/Å], the prefactor γ/(πV) [1/Å³], and per site its Kirkland f_K(q), phase sum,
        neutral and starting P_v, κ and U_iso [Å²] (the simulator's, Felix's B rule); with Bird–King
        absorption (IAbsorbFLAG 2) the starting structure's U' (held fixed)."""
        settings, crystal = self.settings, self.crystal
        g_mag = np.linalg.norm(unique @ frame.reciprocal, axis=1)
        q = g_mag / (2.0 * math.pi)
        self.prefactor = lorentz_factor(settings.accelerating_voltage) / (math.pi * crystal.volume)
        f64 = torch.float64
        self.s = torch.as_tensor(q / 2.0, dtype=f64, device=self.device)
        self.positive = self.s > 0
        atoms = crystal.unit_cell_atoms()
        self.sites = []
        for index, site in enumerate(crystal.sites):
            positions = np.array([pos for i, pos in atoms if i == index])
            phase = phase_sum(unique, positions)
            self.sites.append({
                "element": site.element,
                "occupancy": site.occupancy,
                "kirkland": torch.as_tensor(kirkland_form_factor(site.element, q), dtype=f64, device=self.device),
                "phase": torch.as_tensor(phase, dtype=torch.complex128, device=self.device),
                "pv0": neutral_valence(site.element),
                "pv": neutral_valence(site.element) if site.pv is None else float(site.pv),
                "kappa": float(site.kappa),
                # the U_iso the simulator uses (Felix's rule replaces 0 or > 10 Å² B by the default)
                "u_iso": effective_b_iso(site.b_iso, settings.debye_waller_constant) / (8.0 * math.pi**2),
                "b_fixed": effective_b_iso(site.b_iso, settings.debye_waller_constant),
            })
        self.u_abs_fixed = None
        if settings.absorb_flag == 2:
            sf = structure_factors(crystal, settings.potential, unique, g_mag, device=str(self.device))
            self.u_abs_fixed = torch.as_tensor(sf.u_abs, dtype=torch.complex128, device=self.device)

    def _pixel_grid(self, frame: MicroscopeFrame, geometry: OpticsGeometry, use_symmetry: bool) -> tuple[np.ndarray, int]:
        """The detector's pixels: the settings' side × side grid enlarged by the blur kernel's half
        width, one computed pixel per symmetry orbit (none for an off-centre, rotated, rescaled or
        g disc), their offsets u, v [px] and the fixed optics; returns (the computed pixels' indices
        on the enlarged grid, its side [px])."""
        settings = self.settings
        self.geometry = geometry
        self.geometric = [name for name in GEOMETRY_PARAMETERS if name in self.free]
        self.blur_margin = blur_margin(geometry.blur, "blur" in self.free)
        self.side = settings.side
        extended = self.side + 2 * self.blur_margin
        if self.geometric or not geometry.centred or self.beam:
            use_symmetry = False  # an off-centre, rotated or rescaled grid breaks the disc's symmetry
        self.dk = 2.0 * math.pi * settings.outer_convergence_angle / settings.pixel_count
        symmetry = disc_symmetry(self.crystal, frame)
        if use_symmetry:
            reps, source = pixel_orbits(extended, symmetry.pixel_operations)
        else:
            reps, source = np.arange(extended * extended), np.arange(extended * extended)
        self.symmetry = symmetry.name
        self.expand = torch.as_tensor(np.searchsorted(reps, source), device=self.device)
        u, v = pixel_offsets(self.side, self.blur_margin)
        f64 = torch.float64
        self.u = torch.as_tensor(u[reps], dtype=f64, device=self.device)
        self.v = torch.as_tensor(v[reps], dtype=f64, device=self.device)
        self.optics_fixed = torch.tensor([geometry.value(n) for n in OPTICS_PARAMETERS], dtype=f64, device=self.device)
        if "blur" in self.free:
            self.optics_fixed[OPTICS_PARAMETERS.index("blur")] = max(geometry.blur, BLUR_START)
        return reps, extended

    def _beams_and_blocks(self, reps: np.ndarray, extended: int) -> None:
        """Each computed pixel's wave vector k [1/Å] under the starting optics, its excitation errors
        and strong beams (held between beam refreshes), and the blocks of BLOCK_TILE² neighbouring
        pixels that share one union of strong beams (the Chebyshev route)."""
        k = seen_wavevectors(self.u, self.v, self.optics_fixed[:4], self.dk, self.wavenumber)
        if torch.isnan(k).any():
            raise InputError("the convergence disc reaches beyond the Ewald sphere (|k⊥| ≥ K)", field="outer_convergence_angle")
        self.g_t = torch.as_tensor(self.base.g_lab, dtype=torch.float64, device=self.device)
        self.g_norm = torch.linalg.norm(self.g_t, dim=1)
        self.k = k
        self.excitation = excitation_errors(k, self.g_t, self.g_norm, self.wavenumber)
        self.strong = strong_beam_mask(self.excitation, self.base.u0_abs, self.settings.min_strong_beams)
        self.n_beams = int(self.strong.sum(dim=1).max())
        self.pixels_solved = len(reps)
        # blocks of neighbouring computed pixels (one union of strong beams each, the Chebyshev route)
        rows, cols = reps // extended, reps % extended
        keys = (rows // BLOCK_TILE) * extended + cols // BLOCK_TILE
        self.blocks = [torch.as_tensor(np.flatnonzero(keys == key), device=self.device) for key in np.unique(keys)]

    def _check_role_parameters(self) -> None:
        """InputError for a role's κ or U_iso that sets no site (each site of the role has its own)."""
        for name in self.free:
            kind, _, label = name.partition(":")
            if kind in ("kappa", "u_iso") and not any(self._parameter_of(kind, c.label) == name for c in self.crystal.sites):
                raise InputError(f"{name} sets no site: every site of role {label!r} has its own {kind} parameter "
                                 "(free either the role or its sites)", field="--free")

    def _start_value(self, name: str) -> float:
        """The CIF's value; for a role parameter the multiplicity-weighted mean over the role's
        sites (they share one value during the fit)."""
        kind, _, label = name.partition(":")
        if kind == "delta":
            return self.delta0
        if kind == "thickness":
            return self.thickness0
        if name in OPTICS_PARAMETERS:
            return float(self.optics_fixed[OPTICS_PARAMETERS.index(name)])
        chosen = [(site[kind], m) for site, c, m in zip(self.sites, self.crystal.sites, self.crystal.site_multiplicities(), strict=True)
                  if self._parameter_of(kind, c.label) == name]
        return sum(v * m for v, m in chosen) / sum(m for _, m in chosen)

    def _parameter_of(self, kind: str, label: str) -> str | None:
        """The free parameter that sets ``kind`` (kappa, u_iso) of site ``label``: its own, else its
        role's, else None (held fixed)."""
        if f"{kind}:{label}" in self.free:
            return f"{kind}:{label}"
        role = self.roles.by_label.get(label, "neutral") if self.roles is not None else None
        return f"{kind}:{role}" if role is not None and f"{kind}:{role}" in self.free else None

    def values(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: theta[i] for i, name in enumerate(self.free)}

    def site_parameters(self, theta: torch.Tensor) -> list[dict[str, torch.Tensor | float]]:
        """P_v, κ and B [Å²] per site for parameter vector ``theta``."""
        named = self.values(theta)
        out = []
        for site, cryst_site, deriv in zip(self.sites, self.crystal.sites, self.deriv, strict=True):
            label = cryst_site.label
            pv = site["pv"] + (named["delta"] - self.delta0) * deriv if "delta" in named and deriv else site["pv"]
            kappa_name, u_name = self._parameter_of("kappa", label), self._parameter_of("u_iso", label)
            kappa = named[kappa_name] if kappa_name else site["kappa"]
            b = 8.0 * math.pi**2 * named[u_name] if u_name else site["b_fixed"]
            out.append({"pv": pv, "kappa": kappa, "b": b})
        return out

    def potential(self, theta: torch.Tensor) -> torch.Tensor:
        """Ũ for every unique pool difference [Å⁻²], complex128."""
        s = self.s
        s_safe = torch.where(self.positive, s, torch.ones_like(s))
        u = torch.zeros_like(self.sites[0]["phase"])
        for site, params in zip(self.sites, self.site_parameters(theta), strict=True):
            pv, kappa, b = params["pv"], params["kappa"], params["b"]
            f = site["kirkland"]
            charged = not (isinstance(pv, float) and isinstance(kappa, float) and pv == site["pv0"] and kappa == 1.0)
            if charged:
                kappa_t = torch.as_tensor(kappa, dtype=torch.float64)
                delta_f = pv * valence_form_factor_t(site["element"], s_safe / kappa_t) \
                    - site["pv0"] * valence_form_factor_t(site["element"], s_safe)
                f = f + torch.where(self.positive, -MOTT_BETHE_CONSTANT * delta_f / (s_safe * s_safe), torch.zeros_like(s))
            dw = torch.exp(-torch.as_tensor(b, dtype=torch.float64) * s * s)
            u = u + site["occupancy"] * (f * dw).to(u.dtype) * site["phase"]
        u = self.prefactor * u
        if self.settings.absorb_flag == 1:
            return u * (1.0 + 1j * self.settings.absorption_per / 100.0)
        if self.settings.absorb_flag == 2:
            return u + 1j * self.u_abs_fixed
        return u

    def optics(self, theta: torch.Tensor) -> torch.Tensor:
        """(centre_x, centre_y, rotation, k_scale, blur) at ``theta``: free values from it, the
        others the fixed geometry's."""
        g = self.optics_fixed
        named = self.values(theta)
        if any(name in named for name in OPTICS_PARAMETERS):
            g = torch.stack([named[name].to(torch.float64) if name in named else g[i] for i, name in enumerate(OPTICS_PARAMETERS)])
        return g

    def _excited(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pixels' wave vectors and excitation errors at ``theta`` (fixed unless the geometry is free)."""
        if not self.geometric:
            return self.k, self.excitation
        k = seen_wavevectors(self.u, self.v, self.optics(theta)[:4], self.dk, self.wavenumber)
        return k, excitation_errors(k, self.g_t, self.g_norm, self.wavenumber)

    def _matrices(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per pixel the structure matrix Ã of the strong beams and the M⁻¹ diagonal."""
        structure = replace(self.base, coupling=self._coupling(theta))
        k, excitation = self._excited(theta)
        a, _, _, norm = structure_matrix(structure, k, excitation, self.strong, self.n_beams)
        return a, norm

    def _thickness(self, theta: torch.Tensor) -> torch.Tensor:
        return self.values(theta).get("thickness", torch.tensor(self.thickness0, dtype=torch.float64))

    def _expand(self, values: torch.Tensor) -> torch.Tensor:
        side = self.side + 2 * self.blur_margin
        return values[self.expand].reshape(side, side, *values.shape[1:])

    def _detector(self, image: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """The detector's image of the (enlarged) disc: the Gaussian PSF, cropped to side × side."""
        return blur_image(image, self.optics(theta)[4], self.blur_margin)

    def _amplitude(self, psi: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        """The fitted beam's amplitude (M ψ)_g per pixel from the strong beams' ψ (P, n, …)."""
        if self.beam == 0:  # 000 is pool index 0, always strong, so it is the first beam of every pixel
            return psi[:, 0] / norm[:, 0, None] if psi.dim() == 3 else psi[:, 0] / norm[:, 0]
        # M ψ at the beam's place among each pixel's strong beams (0 where it is not strong)
        arange = torch.arange(self.n_pool, device=self.device)[None, :]
        order = torch.sort(torch.where(self.strong, arange, self.n_pool + arange), dim=1).values[:, : self.n_beams]
        if psi.dim() == 3:
            order, norm = order[..., None], norm[..., None]
        return torch.where(order == self.beam, psi / norm, torch.zeros_like(psi)).sum(dim=1)

    def disc(self, theta: torch.Tensor) -> torch.Tensor:
        """The disc (side × side, float64) at parameters ``theta`` (differentiable)."""
        a, norm = self._matrices(theta)
        psi = torch.linalg.matrix_exp((1j * self._thickness(theta)) * a)[:, :, 0]
        amp = self._amplitude(psi, norm)
        return self._detector(self._expand(amp.real**2 + amp.imag**2), theta)

    def thickness_series(self, theta: torch.Tensor, thicknesses: list[float] | np.ndarray, *,
                         method: str = "auto") -> torch.Tensor:
        """The disc at every thickness of ``thicknesses`` [Å] (the rest of ``theta`` as given), shape
        (n_t, side, side), for a thickness scan before the fit (Felix's habit). ``method``
        ``eigen``: one eigendecomposition of each pixel's absorbing structure matrix Ã = V Λ V⁻¹
        serves every thickness, ψ(t) = V exp(iΛt) V⁻¹ e₀ (the Bloch-wave solution, Spence & Zuo
        1992, Electron Microdiffraction, §2; Ã is not Hermitian with absorption, so the general
        eigendecomposition; simulate/bloch.py: eigen_waves); ``evaluate``: :meth:`evaluate` at each
        thickness (the thickness must be free); ``auto``: the faster, as the simulator's solver
        (the eigendecomposition from EIGEN_FROM_THICKNESSES thicknesses on)."""
        if method == "auto":
            many = len(thicknesses) >= EIGEN_FROM_THICKNESSES or "thickness" not in self.free or self.solver != "chebyshev"
            method = "eigen" if many else "evaluate"
        if method == "evaluate":
            index = self.free.index("thickness")
            discs = []
            for t in thicknesses:
                at = theta.detach().clone()
                at[index] = float(t)
                discs.append(self.evaluate(at))
            return torch.stack(discs)
        with torch.no_grad():
            theta = theta.detach()
            a, norm = self._matrices(theta)
            psi = eigen_waves(a, list(thicknesses)).permute(1, 2, 0)  # (P, n, n_t)
            amp = self._amplitude(psi, norm)  # (P, n_t)
            images = self._expand(amp.real**2 + amp.imag**2)  # (side', side', n_t)
            return torch.stack([self._detector(images[..., i], theta) for i in range(images.shape[-1])])

    def evaluate(self, theta: torch.Tensor) -> torch.Tensor:
        """The disc at ``theta`` without derivatives, by the model's solver (the fit's evaluations;
        :meth:`disc` is the differentiable matrix-exponential route)."""
        with torch.no_grad():
            if self.solver == "chebyshev":
                try:
                    intensity, _, _ = self._series(theta.detach(), with_tangents=False)
                    return self._detector(self._expand(intensity), theta.detach())
                except SeriesDivergence:
                    pass
            return self.disc(theta.detach())

    def _coupling(self, theta: torch.Tensor) -> torch.Tensor:
        """(4π²/2K)·Ũ(g − h) for every pair of pool beams [1/Å] at ``theta``."""
        factor = 2.0 * math.pi**2 / self.wavenumber
        return factor * self.potential(theta)[self.inverse].reshape(self.n_pool, self.n_pool)

    def _beam_geometry(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Excitation errors s_g (P, n_pool) [1/Å] and the normal correction (1 + g·n̂/k_n)^½ (P, n_pool)."""
        k, excitation = self._excited(theta)
        every = torch.arange(self.n_pool, device=self.device)
        return excitation, normal_correction(self.base, k, every)

    def _series(self, theta: torch.Tensor, *, with_tangents: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """|ψ₀₀₀|² of the computed pixels and, with ``with_tangents``, its derivatives by every free
        parameter that enters the structure matrix and by the thickness (refine/propagator.py).

        Returns (intensity (P,), {name: ∂I/∂θ (P,)}, ∂I/∂t (P,))."""
        t = float(self._thickness(theta))
        names = [n for n in self.free if n not in ("thickness", "blur")] if with_tangents else []
        coupling_names = [n for n in names if n not in GEOMETRY_PARAMETERS]
        geometric = [n for n in names if n in GEOMETRY_PARAMETERS]
        coupling = self._coupling(theta)
        excitation, normal = self._beam_geometry(theta)
        d_coupling: dict[str, torch.Tensor] = {}
        if coupling_names:
            index = [self.free.index(n) for n in coupling_names]

            def of_structure(values: torch.Tensor) -> torch.Tensor:
                full = theta.clone()
                full[index] = values
                return torch.view_as_real(self._coupling(full))

            d_c = torch.view_as_complex(forward_jacobian(of_structure, theta[index]).movedim(-1, 0).contiguous())
            d_coupling = {n: d_c[i] for i, n in enumerate(coupling_names)}
        d_beam = None
        if geometric:
            index = [self.free.index(n) for n in geometric]

            def of_geometry(values: torch.Tensor) -> torch.Tensor:
                full = theta.clone()
                full[index] = values
                return torch.stack(self._beam_geometry(full), dim=-1)

            d_beam = forward_jacobian(of_geometry, theta[index])  # (P, n_pool, 2, K)
        absorption = self.base.mean_absorption
        n_pix = len(self.u)
        intensity = torch.zeros(n_pix, dtype=torch.float64, device=self.device)
        d_intensity = {n: torch.zeros(n_pix, dtype=torch.float64, device=self.device) for n in names}
        d_thickness = torch.zeros(n_pix, dtype=torch.float64, device=self.device)
        for block in self.blocks:
            strong = self.strong[block]
            union = torch.nonzero(strong.any(dim=0)).flatten()  # sorted: 000 first
            if self.beam and not bool((union == self.beam).any()):
                continue  # the beam is strong in none of these pixels: their g disc is dark
            member = strong[:, union]
            norm = normal[block][:, union]
            s_g = excitation[block][:, union]
            weight = torch.where(member, 1.0 / norm, torch.zeros_like(norm))
            diagonal = (s_g + 1j * absorption) / norm**2
            tangents_c: list[torch.Tensor | None] = []
            d_diag, d_weight = [], []
            for n in names:
                if n in d_coupling:
                    tangents_c.append(d_coupling[n][union][:, union])
                    d_diag.append(torch.zeros_like(diagonal))
                    d_weight.append(torch.zeros_like(weight))
                else:
                    j = geometric.index(n)
                    ds = d_beam[block][:, union, 0, j]
                    dn = d_beam[block][:, union, 1, j]
                    tangents_c.append(None)
                    d_diag.append(ds / norm**2 - 2.0 * (s_g + 1j * absorption) * dn / norm**3)
                    d_weight.append(torch.where(member, -dn / norm**2, torch.zeros_like(norm)))
            psi0, d_psi0, d_t = entry_and_tangents(
                coupling[union][:, union], diagonal, weight, t, entry=int(torch.nonzero(union == self.beam)[0, 0]),
                d_coupling=tangents_c if names else None,
                d_diagonal=torch.stack(d_diag) if names else None,
                d_weight=torch.stack(d_weight) if geometric else None)
            intensity[block] = psi0.real**2 + psi0.imag**2
            for j, n in enumerate(names):
                d_intensity[n][block] = 2.0 * (psi0.conj() * d_psi0[:, j]).real
            d_thickness[block] = 2.0 * (psi0.conj() * d_t).real
        return intensity, d_intensity, d_thickness

    def jacobian(self, theta: torch.Tensor, *, exact: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The disc and ∂disc/∂θ (side × side × n) at ``theta``.

        The thickness column is analytic, ∂ψ/∂t = iÃψ (Ã commutes with exp(iÃt)). The others
        (δ, κ, U_iso and the geometry): ∂Ã/∂θ from forward-mode autograd through the structure
        factors and the excitation errors, and the derivative of the propagator by the model's
        solver: ``chebyshev``, the forward tangents of the Chebyshev series (refine/propagator.py,
        one more product per parameter and term, as matrix–matrix products over blocks of pixels);
        ``eigen``, the derivative of the exponential from one eigendecomposition per pixel
        (:func:`exp_entry_derivative`, about three discs' cost for any number of parameters). With
        ``exact=False`` forward differences instead (one disc per parameter, step 1e-4 of the
        value or 1e-4 absolute; a first guess for the fit).
        """
        theta = theta.detach()
        # everything that enters the structure matrices: δ, κ, U_iso, and the geometry through k
        structural = [i for i, name in enumerate(self.free) if name not in ("thickness", "blur")]
        columns: dict[int, torch.Tensor] | None = None
        if self.solver == "chebyshev":
            try:
                intensity, d_intensity, d_thickness = self._series(theta, with_tangents=exact)
                image = self._expand(intensity)
                columns = {self.free.index(n): self._expand(v) for n, v in d_intensity.items()}
                if "thickness" in self.free:
                    columns[self.free.index("thickness")] = self._expand(d_thickness)
            except SeriesDivergence:
                columns = None
        if columns is None:
            image, columns = self._eigen_columns(theta, structural if exact else [])
        disc, columns = self._through_detector(theta, image, columns)
        if structural and not exact:
            for i in structural:
                h = 1e-4 * max(1.0, abs(float(theta[i])))
                shifted = theta.clone()
                shifted[i] += h
                columns[i] = (self.evaluate(shifted) - disc) / h
        return disc, torch.stack([columns[i] for i in range(len(self.free))], dim=-1)

    def _eigen_columns(self, theta: torch.Tensor, structural: list[int]) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The enlarged image and its columns by the parameters ``structural`` (and the thickness)
        from the matrix exponential and one eigendecomposition per pixel (Daleckii–Krein); (000) discs."""
        if self.beam:
            raise SimulationError(f"the Chebyshev series of the {self.hkl} disc did not converge, and the eigen route "
                                  "fits (000) discs only")
        t = self._thickness(theta).detach()
        a, norm = self._matrices(theta)
        columns: dict[int, torch.Tensor] = {}
        if structural:
            def of_structure(values: torch.Tensor) -> torch.Tensor:
                full = theta.clone()
                full[structural] = values
                return torch.view_as_real(self._matrices(full)[0])

            d_a = torch.view_as_complex(forward_jacobian(of_structure, theta[structural]).movedim(-1, -2).contiguous())
            try:
                psi, d_psi0 = exp_entry_derivative((1j * t) * a, (1j * t) * d_a)
            except (torch.linalg.LinAlgError, RuntimeError):  # a defective matrix: autograd through exp instead
                def entry(values: torch.Tensor) -> torch.Tensor:
                    return torch.view_as_real(torch.linalg.matrix_exp((1j * t) * (a + (d_a * values).sum(-1)))[:, 0, 0])

                zero = torch.zeros(len(structural), dtype=torch.float64, device=a.device)
                d_psi0 = torch.view_as_complex(forward_jacobian(entry, zero).movedim(1, -1).contiguous())  # (P, k)
                psi = torch.linalg.matrix_exp((1j * t) * a)[:, :, 0]
            amp = psi[:, 0] / norm[:, 0]
            for j, i in enumerate(structural):
                columns[i] = self._expand(2.0 * (amp.conj() * d_psi0[:, j] / norm[:, 0]).real)
        else:
            psi = torch.linalg.matrix_exp((1j * t) * a)[:, :, 0]
            amp = psi[:, 0] / norm[:, 0]
        if "thickness" in self.free:
            dpsi = 1j * torch.einsum("pj,pj->p", a[:, 0, :], psi) / norm[:, 0]
            columns[self.free.index("thickness")] = self._expand(2.0 * (amp.conj() * dpsi).real)
        return self._expand(amp.real**2 + amp.imag**2), columns

    def _through_detector(self, theta: torch.Tensor, image: torch.Tensor, columns: dict[int, torch.Tensor]
                          ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The detector's disc from the enlarged ``image``, and the columns through the same PSF
        (it is linear in the image), with the blur's own column."""
        width = self.optics(theta)[4]
        if columns:
            order = sorted(columns)
            blurred = blur_image(torch.stack([columns[i] for i in order], dim=-1), width, self.blur_margin)
            columns = {i: blurred[..., j] for j, i in enumerate(order)}
        disc = blur_image(image, width, self.blur_margin)
        if "blur" in self.free:
            columns[self.free.index("blur")] = torch.autograd.functional.jacobian(
                lambda w: blur_image(image, w, self.blur_margin), width.detach(), vectorize=True).detach()
        return disc, columns

    def register(self, observed: np.ndarray, use: np.ndarray) -> tuple[float, float] | None:
        """Start a free centre where the starting disc lies best on ``observed`` (optics.register_shift)
        when that is a whole pixel or more away; the shift applied, or None when the centre is not
        free. The strong beams follow."""
        names = [n for n in ("centre_x", "centre_y") if n in self.free]
        if not names:
            return None
        with torch.no_grad():
            disc = self.evaluate(self.start).cpu().numpy()
        x, y, _ = register_shift(np.nan_to_num(np.asarray(observed, dtype=float)), disc, np.asarray(use, dtype=bool))
        if round(x) == 0 and round(y) == 0:
            # within half a pixel already: the fit takes it from here (the parabola's fraction is a
            # guess on a broad peak: 0.03 px the wrong way once sent a joint fit into a false minimum)
            return 0.0, 0.0
        for name, shift in (("centre_x", x), ("centre_y", y)):
            if name in self.free:
                i = self.free.index(name)
                lo, hi = self.bounds[name]
                self.start[i] = min(max(float(self.start[i]) + shift, lo), hi)
        self.reselect_beams(self.start)
        return x, y

    def reselect_beams(self, theta: torch.Tensor) -> bool:
        """Choose each pixel's strong beams again from |Ũ_g| at ``theta`` (the simulator's rule,
        which depends on the charge through |Ũ_g|); True when any pixel's set changed."""
        with torch.no_grad():
            u = self.potential(theta.detach())
            column = self.inverse.reshape(self.n_pool, self.n_pool)[:, 0]
            _, excitation = self._excited(theta.detach())
            strong = strong_beam_mask(excitation, u[column].abs(), self.settings.min_strong_beams)
        changed = bool((strong != self.strong).any())
        self.strong = strong
        self.n_beams = int(strong.sum(dim=1).max())
        return changed

    def crystal_at(self, theta: torch.Tensor) -> Crystal:
        """The crystal with the parameters of ``theta`` written into its sites."""
        sites = []
        for cryst_site, params in zip(self.crystal.sites, self.site_parameters(theta.detach()), strict=True):
            pv = float(params["pv"])
            kappa = float(params["kappa"])
            u_name = self._parameter_of("u_iso", cryst_site.label)
            u_iso = float(self.values(theta)[u_name]) if u_name else cryst_site.u_iso
            sites.append(replace(cryst_site, pv=round(pv, 10), kappa=round(kappa, 10), u_iso=round(u_iso, 10)))
        return self.crystal.with_sites(tuple(sites))
