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
    starts at the one of least χ² among them (refine/scan.py)."""
    start_time = time.perf_counter()
    shape = model.shape if hasattr(model, "shape") else (model.side, model.side)  # a joint model: its discs side by side
    use = check_disc(np.asarray(observed, dtype=float), shape, mask)
    obs = torch.as_tensor(np.asarray(observed, dtype=float)[use], dtype=torch.float64)
    use_t = torch.as_tensor(use)
    if counts is not None:
        if isinstance(counts, np.ndarray):  # counts per pixel (a joint fit of discs with their own)
            if counts.shape != use.shape or not (counts[use] > 0).all():
                raise InputError("counts per pixel must be > 0 and shaped like the disc", field="counts")
            sigma = poisson_sigma(obs, torch.as_tensor(counts[use], dtype=torch.float64))
            noise = ("Poisson, " + ", ".join(f"{c:g}" for c in np.unique(counts[use])) + " counts per unit intensity "
                     "(σ² = max(D, 1/N)/N)")
        else:
            if not counts > 0:
                raise InputError(f"counts must be > 0, got {counts}", field="--counts")
            sigma = poisson_sigma(obs, counts)
            noise = f"Poisson, {counts:g} counts per unit intensity (σ² = max(D, 1/N)/N)"
    else:
        sigma = torch.ones_like(obs)
        noise = "unweighted least squares (σ = 1; uncertainties scaled by the reduced χ²)"
    if hasattr(model, "register"):  # a free disc centre: start where the starting disc lies best
        model.register(np.asarray(observed, dtype=float), use)
    scans: dict[str, list[tuple[float, float]]] = {}
    if thickness_scan is not None and len(thickness_scan) > 0:  # the thickness: start in the right fringe
        from .scan import scan_thickness

        sigma_all = np.ones(use.shape)
        sigma_all[use] = sigma.numpy()
        scans = scan_thickness(model, np.where(use, np.asarray(observed, dtype=float), 0.0), use, sigma_all, thickness_scan,
                               fit_scale=fit_scale, fit_background=fit_background)
        if scans and hasattr(model, "reselect_beams"):
            model.reselect_beams(model.start)
    n_model = len(model.free)
    names = list(model.free) + (["scale"] if fit_scale else []) + (["background"] if fit_background else [])
    p = torch.cat([model.start, torch.tensor([1.0] * fit_scale + [0.0] * fit_background, dtype=torch.float64)])
    if fit_scale or fit_background:  # a linear least-squares start for the scale and background
        disc0 = model.evaluate(model.start).cpu()[use_t]
        columns = ([disc0] if fit_scale else []) + ([torch.ones_like(disc0)] if fit_background else [])
        design = torch.stack(columns, dim=1) / sigma[:, None]
        target = (obs - (0.0 if fit_scale else disc0)) / sigma
        p[n_model:] = torch.linalg.lstsq(design, target[:, None]).solution[:, 0]
    if hasattr(model, "set_linear_start"):  # a joint model: each disc's scale and background, linear
        sigma_all = np.ones(use.shape)
        sigma_all[use] = sigma.numpy()
        model.set_linear_start(np.asarray(observed, dtype=float), use, sigma_all)
        p = model.start.clone()
    start = p.clone()

    def split(q: torch.Tensor) -> tuple[torch.Tensor, Any, Any]:
        scale = q[n_model] if fit_scale else 1.0
        background = q[n_model + int(fit_scale)] if fit_background else 0.0
        return q[:n_model], scale, background

    def residuals(q: torch.Tensor) -> torch.Tensor:
        theta, scale, background = split(q)
        with torch.no_grad():
            return (scale * model.evaluate(theta).cpu()[use_t] + background - obs) / sigma

    def exact(q: torch.Tensor, approximate: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals and their Jacobian (model.jacobian; scale and background are linear)."""
        theta, scale, background = split(q)
        disc, d_disc = (v.cpu() for v in model.jacobian(theta, exact=not approximate))  # the fit itself runs on the CPU
        disc, d_disc = disc[use_t], d_disc[use_t]
        columns = [scale * d_disc / sigma[:, None]]
        if fit_scale:
            columns.append((disc / sigma)[:, None])
        if fit_background:
            columns.append((1.0 / sigma)[:, None])
        jac = torch.cat(columns, dim=1)
        bad = [names[i] for i in range(jac.shape[1]) if not torch.isfinite(jac[:, i]).all()]
        if bad or not torch.isfinite(disc).all():
            raise SimulationError(f"the model gave non-finite values{' in the derivatives by ' + ', '.join(bad) if bad else ''} at "
                                  + ", ".join(f"{n} {v:.6g}" for n, v in zip(names, q.tolist(), strict=True)))
        return (scale * disc + background - obs) / sigma, jac

    own = getattr(model, "bounds", {})  # bounds that move with the start (the optics')

    def bounds_of(name: str) -> tuple[float, float]:
        return own.get(name) or BOUNDS[name.partition(":")[0]]

    limits = torch.tensor([bounds_of(name) for name in model.free], dtype=torch.float64).reshape(-1, 2)

    def project(q: torch.Tensor) -> torch.Tensor:
        """``q`` with the model's parameters clipped into their bounds (a projected step: the
        others go on moving while one rests on its bound)."""
        out = q.clone()
        out[:n_model] = torch.minimum(torch.maximum(q[:n_model], limits[:, 0]), limits[:, 1])
        return out

    for name, value in zip(model.free, model.start.tolist(), strict=True):
        lo, hi = bounds_of(name)
        if not lo <= value <= hi:  # a fit that starts outside its bounds would refuse every step
            raise InputError(f"{name} starts at {value:g}, outside its bounds [{lo:g}, {hi:g}]", field="--free")

    n_pixels = int(use.sum())
    # the series' exact Jacobian costs about what forward differences cost (one product per
    # parameter and term, :mod:`.propagator`): start exact; the eigen route's costs more, start by differences
    cheap_exact = getattr(model, "solver", "eigen") == "chebyshev"
    r, jac = exact(p, approximate=not cheap_exact)
    jac_exact = cheap_exact
    chi2 = float(r @ r)
    lam = 1e-3
    history = [{"iteration": 0, "chi2": chi2, **dict(zip(names, p.tolist(), strict=True))}]
    converged = False
    iteration = 0
    refreshes = 0
    early = 0
    eye = torch.eye(len(p), dtype=torch.float64)
    for iteration in range(1, max_iter + 1):
        # converged when χ² can fall by less than 1e-2 of χ²/dof: the parameters then move by far less
        # than their standard uncertainties (Δχ² = 1 is one σ for Poisson weights)
        tolerance = 1e-2 * max(chi2 / max(n_pixels - len(p), 1), 1e-300)
        jtj = jac.T @ jac
        grad = jac.T @ r
        step_exact = jac_exact
        # the Gauss–Newton model's largest possible decrease, gᵀ(JᵀJ)⁻¹g: below the tolerance no
        # trial step can gain anything worth a disc
        # (as ‖JΔ‖² with the least-squares Δ, robust to an ill-conditioned JᵀJ; no information → try steps)
        # (on unit-norm columns: the parameters' units differ by orders of magnitude)
        scaled, _ = unit_columns(jac)
        gauss_newton = torch.linalg.lstsq(scaled, -r[:, None]).solution[:, 0]
        predicted = float((scaled @ gauss_newton).square().sum())
        if not math.isfinite(predicted) or predicted <= 0.0:
            predicted = math.inf
        improved, drop = False, 0.0
        if predicted >= tolerance:
            # with an updated (approximate) Jacobian a few refused steps suffice to ask for the exact one
            for _ in range(12 if jac_exact else 3):
                step = torch.linalg.solve(jtj + lam * torch.diag(torch.diagonal(jtj)) + 1e-30 * eye, -grad)
                trial = project(p + step)
                step = trial - p
                if bool((step != 0).any()):
                    r_trial = residuals(trial)
                    chi2_trial = float(r_trial @ r_trial)
                    if chi2_trial < chi2:
                        improved = True
                        break
                lam *= 4.0
        if improved:
            drop = chi2 - chi2_trial
            # Broyden's rank-1 update of the Jacobian (Moré 1978) until an exact one is needed
            jac = jac + torch.outer(r_trial - r - jac @ step, step) / float(step @ step)
            jac_exact = False
            p, r, chi2 = trial, r_trial, chi2_trial
            lam = max(lam / 3.0, 1e-12)
            history.append({"iteration": iteration, "chi2": chi2, **dict(zip(names, p.tolist(), strict=True))})
            if progress is not None:
                progress(iteration, chi2, dict(zip(names, p.tolist(), strict=True)))
            # while the fit still moves far (χ² falling by more than a tenth), the strong beams follow
            # it at once: a fit that goes on with the starting crystal's beams bends the structure to
            # make up for them (measured: GaAs at 60 / 20 beams ended at χ²/dof 5.5, δ 0.21 for a true
            # 0.4; with the beams following, at 0.95)
            if drop > 0.1 * chi2 and early < MAX_EARLY_REFRESHES and model.reselect_beams(p[:n_model]):
                early += 1
                r = residuals(p)
                chi2 = float(r @ r)
                jac_exact = False
        if not improved or drop < tolerance:
            if not step_exact:  # a minimum by the updated Jacobian: check it with the exact one
                r, jac = exact(p)
                jac_exact, lam = True, 1e-3
                continue
            # the strong beams follow the fitted structure: choose them again, go on if they changed
            if refreshes < MAX_BEAM_REFRESHES and model.reselect_beams(p[:n_model]):
                refreshes += 1
                # a few pixels' beams changed: the last exact Jacobian is a good start for the new model
                r = residuals(p)
                jac_exact = False
                chi2 = float(r @ r)
                lam = 1e-3
                continue
            converged = True
            break
    if not jac_exact:
        r, jac = exact(p)
    dof = int(use.sum()) - len(p)
    cov = curvature_covariance(jac)
    if counts is None:
        cov = cov * chi2 / max(dof, 1)
    sig = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    corr = cov / np.outer(np.where(sig > 0, sig, 1.0), np.where(sig > 0, sig, 1.0))
    with torch.no_grad():
        disc = model.evaluate(p[:n_model]).cpu().numpy()
    scale = float(p[n_model]) if fit_scale else 1.0
    background = float(p[n_model + int(fit_scale)]) if fit_background else 0.0
    fitted = scale * disc + background
    residual = np.where(use, np.asarray(observed, dtype=float) - fitted, np.nan)
    at_bounds = []
    for name, value in zip(model.free, p[:n_model].tolist(), strict=True):
        lo, hi = bounds_of(name)
        if min(value - lo, hi - value) < 1e-3 * (hi - lo):
            at_bounds.append(f"{name} = {value:.4g} ended at a bound of its range [{lo:g}, {hi:g}]: the fit could go no "
                             "further (start it nearer, e.g. refine --blur for the blur)")
    return FitResult(names=names, start=start.tolist(), values=p.tolist(), sigma=sig.tolist(), correlation=corr,
                     chi2=chi2, dof=dof, iterations=iteration, seconds=time.perf_counter() - start_time,
                     converged=converged, beam_refreshes=refreshes, noise_model=noise, fitted=fitted, residual=residual,
                     history=history, at_bounds=at_bounds, thickness_scan=scans)


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

