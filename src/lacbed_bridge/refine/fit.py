"""Least-squares fit of a (000) disc: Levenberg–Marquardt on exact (autograd) Jacobians.

Model of the observed disc D (side × side): D ≈ s · I(θ) + b, I from :class:`.model.DiscModel`, with a
free intensity scale s and background b (each optional). Figure of merit

    χ² = Σ_pixels in mask ((s I + b − D) / σ)²

Noise model: with ``counts`` N (expected counts per unit intensity, e.g. 10⁴ per pixel for I ≈ 1)
the pixels are Poisson, σ² = max(D, 1/N) / N (the observed counts' variance, floored at one count);
without, σ = 1 (unweighted) and the uncertainties are scaled by the residual variance
(reduced χ² taken as 1). Standard uncertainties and correlations come from the curvature at the
minimum, C = (JᵀJ)⁻¹ (Gauss–Newton, J = ∂r/∂p exact, :meth:`.model.DiscModel.jacobian`).

Levenberg–Marquardt (Marquardt 1963, J. Soc. Ind. Appl. Math. 11, 431): step Δ from
(JᵀJ + λ diag JᵀJ) Δ = −Jᵀr; accepted when χ² falls (λ ← λ/3), else λ ← 4λ. The Jacobian is exact
(:meth:`.model.DiscModel.jacobian`: autograd through the structure factors, one
eigendecomposition per pixel for the exponential, thickness analytic) at every candidate minimum, so
the minimum and the uncertainties rest on exact derivatives; it starts exact with the Chebyshev
solver (its Jacobian costs about one disc per parameter, :mod:`.propagator`) and from forward
differences with the eigen solver, goes on after a beam refresh with the Jacobian it has, and
between, Broyden's rank-1 update J ← J + (Δr − JΔ)Δᵀ/ΔᵀΔ carries it along (Moré 1978, Lecture
Notes in Math. 630, 105). Converged
when a step made with the exact Jacobian lowers χ² by less than 0.01 · χ²/dof, or its
Gauss–Newton model promises less (then the parameters are within about a tenth of their
uncertainty of the minimum). Physical bounds
(κ in [0.5, 1.5], U_iso ≥ 0, thickness > 0, δ in [−2, 2]; the optics' in refine/optics.py) clip a
step (projected Levenberg–Marquardt: a parameter rests on its bound while the others move on; a
parameter that ends there is reported, :attr:`FitResult.at_bounds`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InputError, SimulationError
from .linear import linear_scale_background
from .model import DiscModel
from .optics import OPTICS_BOUNDS

#: Times the strong beams are chosen again at a minimum before the fit stops.
MAX_BEAM_REFRESHES = 5
#: Times they are chosen again after a large step, on the way to the minimum
MAX_EARLY_REFRESHES = 10
BOUNDS = {"delta": (-2.0, 2.0), "kappa": (0.5, 1.5), "u_iso": (0.0, 0.1), "thickness": (1.0, 1e5), **OPTICS_BOUNDS}


@dataclass
class FitResult:
    """A finished fit. Values and uncertainties per parameter name (model's plus ``scale``,
    ``background`` when fitted); ``chi2`` at the minimum, ``dof`` = pixels − parameters."""

    names: list[str]
    start: list[float]
    values: list[float]
    sigma: list[float]
    correlation: np.ndarray
    chi2: float
    dof: int
    iterations: int
    seconds: float
    converged: bool
    beam_refreshes: int
    noise_model: str
    fitted: np.ndarray
    residual: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    #: one line per parameter that ended at a bound of its range (its σ then means little)
    at_bounds: list[str] = field(default_factory=list)
    #: the thickness scan before the fit (refine/scan.py): per thickness parameter [(t [Å], χ²)]
    thickness_scan: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def reduced_chi2(self) -> float:
        return self.chi2 / max(self.dof, 1)

    def value(self, name: str) -> float:
        return self.values[self.names.index(name)]

    def uncertainty(self, name: str) -> float:
        return self.sigma[self.names.index(name)]


def check_disc(observed: np.ndarray, shape: tuple[int, int], mask: np.ndarray | None, path: str | None = None) -> np.ndarray:
    """The mask of usable pixels: shape and values checked (InputError with one clear line)."""
    if observed.ndim != 2 or observed.shape != tuple(shape):
        raise InputError(f"the disc is {observed.shape}, the config's simulation gives {shape[0]} × {shape[1]} "
                         "(simulation.pixel_count × 2)", path=path)
    use = np.ones_like(observed, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if use.shape != observed.shape:
        raise InputError(f"the mask is {use.shape}, the disc {observed.shape}", path=path, field="--mask")
    bad = ~np.isfinite(observed) & use
    if bad.any():
        raise InputError(f"{int(bad.sum())} pixel(s) are NaN or infinite; mask them out (--mask: nonzero = use)", path=path)
    if use.sum() < 10:
        raise InputError(f"only {int(use.sum())} usable pixels", path=path, field="--mask")
    return use


def unit_columns(jac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """J D and the column norms 1/D, D = diag(1/‖J_j‖) (a zero column kept as it is): the
    parameters' units differ by orders of magnitude (a scale of 10⁵ beside a centre in px), and a
    least-squares solve or pseudo-inverse of the unscaled J cuts the small curvatures off as rounding."""
    norms = torch.linalg.norm(jac, dim=0)
    norms = torch.where(norms > 0, norms, torch.ones_like(norms))
    return jac / norms, norms


def curvature_covariance(jac: torch.Tensor) -> np.ndarray:
    """C = (JᵀJ)⁻¹ of the weighted residuals' Jacobian J (pixels × parameters), computed on the
    columns scaled to unit norm, C = D (D JᵀJ D)⁺ D (:func:`unit_columns`; unscaled, correlations
    of ±1.000 that are not in the data)."""
    scaled, norms = unit_columns(jac)
    return (torch.linalg.pinv(scaled.T @ scaled) / torch.outer(norms, norms)).numpy()


def poisson_sigma(observed: Any, counts: Any) -> Any:
    """σ per pixel of a disc of Poisson counts, N = ``counts`` per unit intensity:
    σ² = max(D, 1/N)/N (the observed counts' variance, floored at one count); numpy or torch."""
    if isinstance(observed, torch.Tensor):
        return torch.sqrt(torch.clamp(observed, min=1.0 / counts) / counts)
    return np.sqrt(np.clip(observed, 1.0 / counts, None) / counts)


def _noise_model(obs: torch.Tensor, use: np.ndarray, counts: Any) -> tuple[torch.Tensor, str]:
    """σ of each used pixel (``obs``: the observed intensities there) in the disc's intensity units
    and the noise model's line for the report: Poisson with ``counts`` N per unit intensity (one
    number, or an array shaped like the disc: counts per pixel), σ² = max(D, 1/N)/N; without
    counts σ = 1 (unweighted)."""
    if counts is None:
        return torch.ones_like(obs), "unweighted least squares (σ = 1; uncertainties scaled by the reduced χ²)"
    if isinstance(counts, np.ndarray):  # counts per pixel (a joint fit of discs with their own)
        if counts.shape != use.shape or not (counts[use] > 0).all():
            raise InputError("counts per pixel must be > 0 and shaped like the disc", field="counts")
        sigma = poisson_sigma(obs, torch.as_tensor(counts[use], dtype=torch.float64))
        return sigma, ("Poisson, " + ", ".join(f"{c:g}" for c in np.unique(counts[use])) + " counts per unit intensity "
                       "(σ² = max(D, 1/N)/N)")
    if not counts > 0:
        raise InputError(f"counts must be > 0, got {counts}", field="--counts")
    return poisson_sigma(obs, counts), f"Poisson, {counts:g} counts per unit intensity (σ² = max(D, 1/N)/N)"


def _sigma_image(use: np.ndarray, sigma: torch.Tensor) -> np.ndarray:
    """σ on the whole disc (``use``'s shape): the used pixels' σ, 1 on the others."""
    sigma_all = np.ones(use.shape)
    sigma_all[use] = sigma.numpy()
    return sigma_all


def _scan_start(model: DiscModel, observed: np.ndarray, use: np.ndarray, sigma: torch.Tensor, thickness_scan: Any, *,
                fit_scale: bool, fit_background: bool) -> dict[str, list[tuple[float, float]]]:
    """Start the model's free thickness (each, a joint model's) at the least χ² over ``thickness_scan``
    [Å] (refine/scan.py: the right Pendellösung fringe), the strong beams chosen again there;
    returns the scans' (t [Å], χ²) pairs per thickness parameter (none without a scan)."""
    if thickness_scan is None or len(thickness_scan) == 0:
        return {}
    from .scan import scan_thickness

    scans = scan_thickness(model, np.where(use, observed, 0.0), use, _sigma_image(use, sigma), thickness_scan,
                           fit_scale=fit_scale, fit_background=fit_background)
    if scans and hasattr(model, "reselect_beams"):
        model.reselect_beams(model.start)
    return scans


def _start_vector(model: DiscModel, observed: np.ndarray, use: np.ndarray, obs: torch.Tensor, sigma: torch.Tensor, *,
                  fit_scale: bool, fit_background: bool) -> torch.Tensor:
    """The fit's starting vector p = (θ_start, [s], [b]): the model's start, the intensity scale s and
    background b [the disc's intensity units] by weighted linear least squares on the starting disc
    (a joint model: each disc's own, :meth:`.joint.JointModel.set_linear_start`, and p its start)."""
    p = torch.cat([model.start, torch.tensor([1.0] * fit_scale + [0.0] * fit_background, dtype=torch.float64)])
    if fit_scale or fit_background:  # a linear least-squares start for the scale and background
        disc0 = model.evaluate(model.start).cpu()[torch.as_tensor(use)]
        solution, _ = linear_scale_background(disc0, obs, (1.0 / sigma).numpy(), scale=fit_scale, background=fit_background)
        p[len(model.free):] = torch.as_tensor(solution, dtype=torch.float64)
    if hasattr(model, "set_linear_start"):  # a joint model: each disc's scale and background, linear
        model.set_linear_start(observed, use, _sigma_image(use, sigma))
        p = model.start.clone()
    return p


class _Problem:
    """The least-squares problem of one fit: the weighted residuals r = (s·I(θ) + b − D)/σ of the
    used pixels (dimensionless) as a function of q = (θ, [s], [b]) — θ the model's free parameters
    in their own units, s the intensity scale, b the background in the disc's intensity units — their
    Jacobian, and the physical bounds a step is projected into (module docstring)."""

    def __init__(self, model: DiscModel, obs: torch.Tensor, sigma: torch.Tensor, use: np.ndarray, names: list[str], *,
                 fit_scale: bool, fit_background: bool) -> None:
        self.model, self.obs, self.sigma, self.names = model, obs, sigma, names
        self.use_t = torch.as_tensor(use)
        self.n_pixels = int(use.sum())
        self.n_model = len(model.free)
        self.fit_scale, self.fit_background = fit_scale, fit_background
        self.own_bounds = getattr(model, "bounds", {})  # bounds that move with the start (the optics')
        self.limits = torch.tensor([self.bounds_of(name) for name in model.free], dtype=torch.float64).reshape(-1, 2)

    def split(self, q: torch.Tensor) -> tuple[torch.Tensor, Any, Any]:
        """(θ, s, b) of ``q``; s = 1 and b = 0 when not fitted."""
        scale = q[self.n_model] if self.fit_scale else 1.0
        background = q[self.n_model + int(self.fit_scale)] if self.fit_background else 0.0
        return q[:self.n_model], scale, background

    def residuals(self, q: torch.Tensor) -> torch.Tensor:
        """r(q) = (s·I(θ) + b − D)/σ on the used pixels (no derivatives)."""
        theta, scale, background = self.split(q)
        with torch.no_grad():
            return (scale * self.model.evaluate(theta).cpu()[self.use_t] + background - self.obs) / self.sigma

    def exact(self, q: torch.Tensor, approximate: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals and their Jacobian ∂r/∂q (model.jacobian, exact unless ``approximate``: forward
        differences; the scale's and background's columns I/σ and 1/σ, linear)."""
        theta, scale, background = self.split(q)
        disc, d_disc = (v.cpu() for v in self.model.jacobian(theta, exact=not approximate))  # the fit itself runs on the CPU
        disc, d_disc = disc[self.use_t], d_disc[self.use_t]
        columns = [scale * d_disc / self.sigma[:, None]]
        if self.fit_scale:
            columns.append((disc / self.sigma)[:, None])
        if self.fit_background:
            columns.append((1.0 / self.sigma)[:, None])
        jac = torch.cat(columns, dim=1)
        bad = [self.names[i] for i in range(jac.shape[1]) if not torch.isfinite(jac[:, i]).all()]
        if bad or not torch.isfinite(disc).all():
            raise SimulationError(f"the model gave non-finite values{' in the derivatives by ' + ', '.join(bad) if bad else ''} at "
                                  + ", ".join(f"{n} {v:.6g}" for n, v in zip(self.names, q.tolist(), strict=True)))
        return (scale * disc + background - self.obs) / self.sigma, jac

    def bounds_of(self, name: str) -> tuple[float, float]:
        """A model parameter's physical range, in its units (the model's own, else :data:`BOUNDS`)."""
        return self.own_bounds.get(name) or BOUNDS[name.partition(":")[0]]

    def project(self, q: torch.Tensor) -> torch.Tensor:
        """``q`` with the model's parameters clipped into their bounds (a projected step: the
        others go on moving while one rests on its bound)."""
        out = q.clone()
        out[:self.n_model] = torch.minimum(torch.maximum(q[:self.n_model], self.limits[:, 0]), self.limits[:, 1])
        return out

    def check_start(self) -> None:
        """InputError when a model parameter starts outside its bounds (the fit would refuse every step)."""
        for name, value in zip(self.model.free, self.model.start.tolist(), strict=True):
            lo, hi = self.bounds_of(name)
            if not lo <= value <= hi:  # a fit that starts outside its bounds would refuse every step
                raise InputError(f"{name} starts at {value:g}, outside its bounds [{lo:g}, {hi:g}]", field="--free")


@dataclass
class _State:
    """Where the Levenberg–Marquardt iteration stands: the parameters p, their residuals r, the
    Jacobian (``jac_exact``: exact, else Broyden-updated or forward differences), χ² = rᵀr, the
    damping λ, and how often the strong beams were chosen again (at a minimum; on the way)."""

    p: torch.Tensor
    r: torch.Tensor
    jac: torch.Tensor
    jac_exact: bool
    chi2: float
    lam: float = 1e-3
    refreshes: int = 0
    early: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def _tolerance(chi2: float, n_pixels: int, n_parameters: int) -> float:
    """The convergence test's χ² decrease, 0.01 · χ²/dof: below it the parameters move by far less
    than their standard uncertainties (Δχ² = 1 is one σ for Poisson weights)."""
    return 1e-2 * max(chi2 / max(n_pixels - n_parameters, 1), 1e-300)


def _predicted_decrease(jac: torch.Tensor, r: torch.Tensor) -> float:
    """The Gauss–Newton model's largest possible decrease of χ², gᵀ(JᵀJ)⁻¹g, as ‖JΔ‖² with the
    least-squares Δ on unit-norm columns (robust to an ill-conditioned JᵀJ; the parameters' units
    differ by orders of magnitude); ∞ when it gives no information (then steps are tried)."""
    scaled, _ = unit_columns(jac)
    gauss_newton = torch.linalg.lstsq(scaled, -r[:, None]).solution[:, 0]
    predicted = float((scaled @ gauss_newton).square().sum())
    if not math.isfinite(predicted) or predicted <= 0.0:
        predicted = math.inf
    return predicted


def _try_steps(problem: _Problem, state: _State) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor] | None:
    """Levenberg–Marquardt steps Δ from (JᵀJ + λ diag JᵀJ) Δ = −Jᵀr, projected into the bounds,
    λ ← 4λ after each that does not lower χ²: (trial p, its residuals, its χ², Δ) of the first that
    does, or None after 12 refusals (3 with an updated, approximate Jacobian: then the exact one is
    asked for)."""
    jac, p = state.jac, state.p
    jtj = jac.T @ jac
    grad = jac.T @ state.r
    eye = torch.eye(len(p), dtype=torch.float64)
    for _ in range(12 if state.jac_exact else 3):
        step = torch.linalg.solve(jtj + state.lam * torch.diag(torch.diagonal(jtj)) + 1e-30 * eye, -grad)
        trial = problem.project(p + step)
        step = trial - p
        if bool((step != 0).any()):
            r_trial = problem.residuals(trial)
            chi2_trial = float(r_trial @ r_trial)
            if chi2_trial < state.chi2:
                return trial, r_trial, chi2_trial, step
        state.lam *= 4.0
    return None


def _accept(problem: _Problem, state: _State, accepted: tuple[torch.Tensor, torch.Tensor, float, torch.Tensor], iteration: int,
            progress: Callable[[int, float, dict[str, float]], None] | None) -> float:
    """Move to an accepted step: Broyden's rank-1 update of the Jacobian (Moré 1978), λ ← λ/3, the
    history and ``progress`` told; while χ² still falls by more than a tenth the strong beams follow
    the parameters at once. Returns the χ² decrease of the step."""
    trial, r_trial, chi2_trial, step = accepted
    drop = state.chi2 - chi2_trial
    # Broyden's rank-1 update of the Jacobian (Moré 1978) until an exact one is needed
    state.jac = state.jac + torch.outer(r_trial - state.r - state.jac @ step, step) / float(step @ step)
    state.jac_exact = False
    state.p, state.r, state.chi2 = trial, r_trial, chi2_trial
    state.lam = max(state.lam / 3.0, 1e-12)
    state.history.append({"iteration": iteration, "chi2": state.chi2, **dict(zip(problem.names, state.p.tolist(), strict=True))})
    if progress is not None:
        progress(iteration, state.chi2, dict(zip(problem.names, state.p.tolist(), strict=True)))
    # while the fit still moves far (χ² falling by more than a tenth), the strong beams follow
    # it at once: a fit that goes on with the starting crystal's beams bends the structure to
    # make up for them (measured: GaAs at 60 / 20 beams ended at χ²/dof 5.5, δ 0.21 for a true
    # 0.4; with the beams following, at 0.95)
    if drop > 0.1 * state.chi2 and state.early < MAX_EARLY_REFRESHES and problem.model.reselect_beams(state.p[:problem.n_model]):
        state.early += 1
        state.r = problem.residuals(state.p)
        state.chi2 = float(state.r @ state.r)
        state.jac_exact = False
    return drop


def _goes_on_from_minimum(problem: _Problem, state: _State, step_exact: bool) -> bool:
    """At a minimum of the current model: True (go on) when the Jacobian was not exact (it is
    computed exactly now) or when the strong beams, chosen again for the fitted structure, changed
    (at most :data:`MAX_BEAM_REFRESHES` times); False when the fit has converged."""
    if not step_exact:  # a minimum by the updated Jacobian: check it with the exact one
        state.r, state.jac = problem.exact(state.p)
        state.jac_exact, state.lam = True, 1e-3
        return True
    # the strong beams follow the fitted structure: choose them again, go on if they changed
    if state.refreshes < MAX_BEAM_REFRESHES and problem.model.reselect_beams(state.p[:problem.n_model]):
        state.refreshes += 1
        # a few pixels' beams changed: the last exact Jacobian is a good start for the new model
        state.r = problem.residuals(state.p)
        state.jac_exact = False
        state.chi2 = float(state.r @ state.r)
        state.lam = 1e-3
        return True
    return False


def _uncertainties(jac: torch.Tensor, chi2: float, dof: int, weighted: bool) -> tuple[np.ndarray, np.ndarray]:
    """Standard uncertainties σ (the parameters' units) and correlations from C = (JᵀJ)⁻¹ at the
    minimum; unweighted (σ = 1 per pixel), C scaled by the reduced χ²."""
    cov = curvature_covariance(jac)
    if not weighted:
        cov = cov * chi2 / max(dof, 1)
    sig = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    corr = cov / np.outer(np.where(sig > 0, sig, 1.0), np.where(sig > 0, sig, 1.0))
    return sig, corr


def _fitted_disc(problem: _Problem, p: torch.Tensor, observed: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted disc s·I(θ) + b on every pixel and the residual D − fitted (NaN off the mask), in
    the disc's intensity units."""
    with torch.no_grad():
        disc = problem.model.evaluate(p[:problem.n_model]).cpu().numpy()
    n_model, fit_scale = problem.n_model, problem.fit_scale
    scale = float(p[n_model]) if fit_scale else 1.0
    background = float(p[n_model + int(fit_scale)]) if problem.fit_background else 0.0
    fitted = scale * disc + background
    return fitted, np.where(use, observed - fitted, np.nan)


def _at_bounds(problem: _Problem, p: torch.Tensor) -> list[str]:
    """One line per model parameter that ended within 0.1 % of its range of a bound."""
    at_bounds = []
    for name, value in zip(problem.model.free, p[:problem.n_model].tolist(), strict=True):
        lo, hi = problem.bounds_of(name)
        if min(value - lo, hi - value) < 1e-3 * (hi - lo):
            at_bounds.append(f"{name} = {value:.4g} ended at a bound of its range [{lo:g}, {hi:g}]: the fit could go no "
                             "further (start it nearer, e.g. refine --blur for the blur)")
    return at_bounds


def fit_disc(
    model: DiscModel,
    observed: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    counts: float | None = None,
    fit_scale: bool = True,
    fit_background: bool = True,
    max_iter: int = 60,
    progress: Callable[[int, float, dict[str, float]], None] | None = None,
    thickness_scan: Any = None,
) -> FitResult:
    """Fit ``model`` to the ``observed`` disc (module docstring); returns the :class:`FitResult`.
    ``thickness_scan``: thicknesses [Å] (a joint model: per thickness parameter); a free thickness
    starts at the one of least χ² among them (refine/scan.py). A joint model (refine/joint.py) has
    each disc's own scale and background among its parameters, so ``fit_scale`` and
    ``fit_background`` (one scale and background for the whole) do not apply to it and are ignored."""
    start_time = time.perf_counter()
    if hasattr(model, "set_linear_start"):  # a joint model: its discs' scales and backgrounds are its own parameters
        fit_scale = fit_background = False
    shape = model.shape if hasattr(model, "shape") else (model.side, model.side)  # a joint model: its discs side by side
    observed = np.asarray(observed, dtype=float)
    use = check_disc(observed, shape, mask)
    obs = torch.as_tensor(observed[use], dtype=torch.float64)
    sigma, noise = _noise_model(obs, use, counts)
    if hasattr(model, "register"):  # a free disc centre: start where the starting disc lies best
        model.register(observed, use)
    scans = _scan_start(model, observed, use, sigma, thickness_scan, fit_scale=fit_scale, fit_background=fit_background)
    names = list(model.free) + (["scale"] if fit_scale else []) + (["background"] if fit_background else [])
    p = _start_vector(model, observed, use, obs, sigma, fit_scale=fit_scale, fit_background=fit_background)
    start = p.clone()
    problem = _Problem(model, obs, sigma, use, names, fit_scale=fit_scale, fit_background=fit_background)
    problem.check_start()

    # the series' exact Jacobian costs about what forward differences cost (one product per
    # parameter and term, :mod:`.propagator`): start exact; the eigen route's costs more, start by differences
    cheap_exact = getattr(model, "solver", "eigen") == "chebyshev"
    r, jac = problem.exact(p, approximate=not cheap_exact)
    state = _State(p=p, r=r, jac=jac, jac_exact=cheap_exact, chi2=float(r @ r))
    state.history.append({"iteration": 0, "chi2": state.chi2, **dict(zip(names, p.tolist(), strict=True))})
    converged = False
    iteration = 0
    for iteration in range(1, max_iter + 1):
        # converged when a step made with the exact Jacobian lowers χ² by less than the tolerance,
        # or the Gauss–Newton model promises less: no trial step can gain anything worth a disc
        tolerance = _tolerance(state.chi2, problem.n_pixels, len(state.p))
        step_exact = state.jac_exact
        accepted = _try_steps(problem, state) if _predicted_decrease(state.jac, state.r) >= tolerance else None
        drop = _accept(problem, state, accepted, iteration, progress) if accepted is not None else 0.0
        if accepted is None or drop < tolerance:
            if _goes_on_from_minimum(problem, state, step_exact):
                continue
            converged = True
            break
    if not state.jac_exact:
        state.r, state.jac = problem.exact(state.p)
    dof = problem.n_pixels - len(state.p)
    sig, corr = _uncertainties(state.jac, state.chi2, dof, weighted=counts is not None)
    fitted, residual = _fitted_disc(problem, state.p, observed, use)
    return FitResult(names=names, start=start.tolist(), values=state.p.tolist(), sigma=sig.tolist(), correlation=corr,
                     chi2=state.chi2, dof=dof, iterations=iteration, seconds=time.perf_counter() - start_time,
                     converged=converged, beam_refreshes=state.refreshes, noise_model=noise, fitted=fitted, residual=residual,
                     history=state.history, at_bounds=_at_bounds(problem, state.p), thickness_scan=scans)


def poisson_disc(disc: np.ndarray, counts: float, seed: int) -> np.ndarray:
    """A noisy observation of ``disc``: Poisson(N · I) / N with N = ``counts`` per unit intensity."""
    rng = np.random.default_rng(seed)
    return rng.poisson(np.clip(disc, 0.0, None) * counts).astype(float) / counts


def significant(value: float, sigma: float) -> str:
    """``value(σ)`` in crystallographic notation, σ to two significant digits."""
    if not math.isfinite(sigma) or sigma <= 0:
        return f"{value:.6g}"
    digits = max(0, 1 - int(math.floor(math.log10(sigma))))
    return f"{value:.{digits}f}({round(sigma * 10**digits):d})"

