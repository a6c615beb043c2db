"""``lacbed-bridge refine CIF DISC.tif --config C --free ...``: fit a crystal to a measured (000) disc.

Writes into ``--out`` (default ``<disc>_refine/``): ``refined.cif`` (with ``_atom_site_pv`` and
``_atom_site_kappa``), ``fitted.tif`` (s·I + b), ``residual.tif`` (D − fit; NaN outside the mask),
``report.json`` and ``report.md`` (values with standard uncertainties, correlations, χ², noise model,
what was held fixed, iterations, wall time). Every file is written atomically.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..version import __version__
from ..errors import InputError
from . import OPTICS_PARAMETERS, ROLE_NAMES

FREE_KINDS = ("delta", "kappa", "u_iso", "thickness", "centre", *OPTICS_PARAMETERS)
HELD_FIXED = [
    "reflection pool (complete shells of equal |g|, simulation.min_reflection_pool)",
    "cell, atomic positions and occupancies",
    "strong beams of each pixel between beam refreshes (chosen again at each minimum until unchanged)",
    "absorption model (proportional: U' = p % of U; Bird–King: U' of the starting structure)",
]


def parse_free(text: str, labels: list[str]) -> list[str]:
    """``delta,kappa,u_iso:A,kappa:cation,thickness`` → model parameter names (``kappa`` = every
    site's κ; ``kappa:cation`` = one κ for all cation sites)."""
    out: list[str] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        kind, _, label = item.partition(":")
        if kind not in FREE_KINDS:
            raise InputError(f"unknown parameter {item!r}; expected any of {', '.join(FREE_KINDS)} "
                             "(kappa and u_iso per site as kappa:<label>, per role as kappa:cation; centre = centre_x "
                             "and centre_y)", field="--free")
        if kind == "centre" and not label:  # both coordinates of the disc centre
            out += ["centre_x", "centre_y"]
        elif kind in ("kappa", "u_iso") and not label:
            out += [f"{kind}:{lab}" for lab in labels]
        elif kind in ("kappa", "u_iso") and label not in labels and label not in ROLE_NAMES:
            raise InputError(f"the crystal has no site {label!r} (sites: {', '.join(labels)}; or a role: cation, anion)",
                             field="--free")
        else:
            out.append(item)
    if not out:
        raise InputError("nothing to refine", field="--free")
    return list(dict.fromkeys(out))


def needs_roles(free: list[str]) -> bool:
    """Whether the parameters need the sites' roles (δ, or a κ / U_iso per role)."""
    return "delta" in free or any(name.partition(":")[2] in ROLE_NAMES for name in free)


def roles_for(crystal: Any, config: dict[str, Any], roles_text: str | None, family_name: str | None = None) -> Any:
    """Site roles for δ: ``--roles`` (label or element = role), else the config family given
    (``--family``) or the one the CIF's sample id belongs to (its prototype's roles, or a CIF
    family's ``roles``); None if none of these."""
    import math

    from ..refine.model import Roles

    z_f = math.gcd(*crystal.site_multiplicities())
    if roles_text:
        given = {}
        for item in roles_text.split(","):
            key, _, role = item.partition("=")
            if role.strip() not in ROLE_NAMES:
                raise InputError(f"expected label=role or element=role with role cation, anion or neutral, got {item!r}",
                                 field="--roles")
            given[key.strip()] = role.strip()
        return Roles({s.label: given.get(s.label, given.get(s.element, "neutral")) for s in crystal.sites}, z_f)
    family_name = family_name or crystal.name.rsplit("_", 1)[0]
    family = next((f for f in config.get("families") or [] if f["name"] == family_name), None)
    if family is None:
        return None
    if family.get("cif_dir"):
        by_element = family.get("roles") or {}
        return Roles({s.label: by_element.get(s.element, "neutral") for s in crystal.sites}, z_f)
    from ..crystal.variants import resolve_prototype

    prototype = resolve_prototype(family, f"families[{family_name}]")
    by_label = {s.label: s.role for s in prototype.sites}
    # a CIF of the user's own may name its sites otherwise (Ga1, As1): then the prototype site whose
    # element list holds the site's element (the family's `elements` override counts too)
    allowed = {s.label: set((family.get("elements") or {}).get(s.label, s.elements)) for s in prototype.sites}
    roles = {}
    for site in crystal.sites:
        if site.label in by_label:
            roles[site.label] = by_label[site.label]
            continue
        matches = {by_label[label] for label, elements in allowed.items() if site.element in elements}
        roles[site.label] = matches.pop() if len(matches) == 1 else "neutral"
    return Roles(roles, prototype.formula_units())


def _observed(path: str | os.PathLike[str], side: int, *, disc_centre: Any = None, disc_radius: Any = None) -> tuple[Any, dict[str, Any], Any]:
    """(disc, its metadata, the preparation or None): a TIFF already side × side on the model grid is
    used as it is; any other image (a microscope file, a larger frame) is prepared (refine/measured.py)."""
    import numpy as np

    from ..io import read_tiff
    from .measured import prepare_disc, read_measured

    if Path(path).suffix.lower() in (".tif", ".tiff") and disc_centre is None and disc_radius is None:
        try:
            image, meta = read_tiff(path)
        except InputError:
            image, meta = None, {}
        if image is not None and (image.shape == (side, side) or "pixel_sha256" in meta):
            # a disc this package wrote is on a model grid: the right one, or a clear error
            if image.shape != (side, side):
                raise InputError(f"the disc is {image.shape}, the config's simulation gives {side} × {side} "
                                 "(simulation.pixel_count × 2)", path=path)
            return np.asarray(image, dtype=float), meta, None
    prepared = prepare_disc(read_measured(path), side, centre=disc_centre, radius=disc_radius)
    return prepared.disc, {}, prepared


def fit_beams(crystal: Any, settings: Any, sim: Any, disc_meta: dict[str, Any], *, device: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The beams the fit's model uses, and where they come from: the disc's own (a disc the builtin
    simulator made records the pool and strong beams its convergence control settled on), else the
    convergence control run on the starting crystal (config ``simulation.convergence``), else the
    config's. A fit with fewer beams than the disc was made with fits the truncation error too (a
    spinel disc made at 753 reflections fitted with 505: χ²/dof 2.71 against 0.95)."""
    from dataclasses import replace

    pool, strong = disc_meta.get("info_min_reflection_pool_used"), disc_meta.get("info_min_strong_beams_used")
    if pool is not None and strong is not None:
        try:  # the disc's own numbers, held to the same limits as a config's
            used = replace(settings, min_reflection_pool=int(pool), min_strong_beams=int(strong)).validate()
        except InputError as exc:
            raise InputError(f"the disc's metadata ask for beams past the limits: {exc.message}", field="info_min_reflection_pool_used") from None
        return used, {"source": "the disc's metadata", "min_reflection_pool": int(pool), "min_strong_beams": int(strong),
                      "simulation_rms_error": disc_meta.get("info_convergence_rms")}
    convergence = sim.convergence
    if convergence is None:
        return settings, {"source": "the config (simulation.convergence is null: no convergence control)",
                          "min_reflection_pool": settings.min_reflection_pool, "min_strong_beams": settings.min_strong_beams,
                          "simulation_rms_error": None}
    from ..simulate.convergence import simulate_converged

    options = replace(sim.builtin, pool_mode="shells", use_symmetry=True)  # the control needs complete shells
    result = simulate_converged(crystal, settings, convergence, options, device=device or "cpu")
    info = result.info
    used = replace(settings, min_reflection_pool=int(info["min_reflection_pool_used"]), min_strong_beams=int(info["min_strong_beams_used"]))
    return used, {"source": "the convergence control on the starting crystal", "min_reflection_pool": used.min_reflection_pool,
                  "min_strong_beams": used.min_strong_beams, "simulation_rms_error": float(info["convergence_rms"]),
                  "converged": bool(info["converged"])}


def noise_rms(observed: Any, mask: Any, counts: float | None) -> float | None:
    """RMS of the Poisson σ over the used pixels (None without --counts): the scale to hold the
    simulation's own error against."""
    import numpy as np

    from .fit import poisson_sigma

    if counts is None:
        return None
    use = np.isfinite(observed) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(observed))
    return float(np.sqrt(np.mean(poisson_sigma(observed[use], counts) ** 2)))


def beams_line(beams: dict[str, Any]) -> str:
    """One line: the beams the fit used, where from, the simulation's error next to the noise."""
    text = (f"beams from {beams['source']}: pool ≥ {beams['min_reflection_pool']} ({beams.get('pool_size', '?')} reflections), "
            f"≥ {beams['min_strong_beams']} strong")
    error, noise = beams.get("simulation_rms_error"), beams.get("noise_rms")
    if error is not None:
        text += f"; simulation error {error:.2g} RMS"
        if noise is not None:
            text += f" against noise {noise:.2g} RMS"
    return text


#: a correlation above this between two free parameters: one disc does not separate them
CORRELATION_WARNING = 0.95
#: standard uncertainties above these say the disc barely determines the parameter
USEFUL_SIGMA = {"delta": 0.1, "kappa": 0.05, "u_iso": 0.002, "thickness": 20.0}


def identifiability_warnings(names: list[str], values: list[float], sigma: list[float], correlation: Any) -> list[str]:
    """One line per pair of parameters correlated beyond ±0.95 and per parameter whose σ exceeds a
    useful size (:data:`USEFUL_SIGMA`): what one disc cannot tell apart, said next to the result."""
    lines = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            r = float(correlation[i][j])
            if abs(r) > CORRELATION_WARNING:
                lines.append(f"{names[i]} and {names[j]} are correlated {r:+.3f}: this disc barely separates them "
                             "(fix one, or fit several discs of the crystal)")
    for name, value, s in zip(names, values, sigma, strict=True):
        limit = USEFUL_SIGMA.get(name.partition(":")[0])
        if limit is not None and s > limit:
            lines.append(f"{name} = {value:.4g} has σ {s:.3g}, above {limit:g}: hardly determined by this disc")
    return lines


#: χ²/dof above this with Poisson weights: the model did not reach the data
POOR_FIT = 3.0


def fit_warnings(result: Any, weighted: bool) -> list[str]:
    """What the report must say next to the numbers: parameters correlated or undetermined
    (:func:`identifiability_warnings`), parameters that ended on a bound, a fit that stopped before
    converging, and with Poisson weights
    a χ²/dof far above 1 — a false minimum (LACBED fits are not convex: a thickness 20 Å off at
    900 Å can end in one) or a model that lacks something; its σ then mean little."""
    lines = identifiability_warnings(result.names, result.values, result.sigma, result.correlation) + list(result.at_bounds)
    if not result.converged:  # measured: such fits carry the errors beyond their σ (docs/refine.md, σ calibration)
        lines.append(f"the fit stopped after {result.iterations} iterations without converging: its values are not a "
                     "minimum's and its σ do not cover their errors (raise --max-iter or start nearer)")
    if weighted and result.reduced_chi2 > POOR_FIT:
        lines.append(f"χ²/dof = {result.reduced_chi2:.3g} with Poisson weights: the fit did not reach the data (a false "
                     "minimum, or something the model lacks); start nearer (thickness, optics) and check the residual")
    return lines


def fit_report(result: Any) -> dict[str, Any]:
    """The fit's part of a report (one disc or several): every parameter's start, value, σ and unit
    (``thickness@2`` has the thickness's), the correlations, χ² and how the fit went."""
    import numpy as np

    from .model import UNITS

    return {
        "parameters": {name: {"start": s0, "value": v, "sigma": sg, "unit": UNITS.get(name.partition("@")[0].partition(":")[0], "")}
                       for name, s0, v, sg in zip(result.names, result.start, result.values, result.sigma, strict=True)},
        "correlation": np.round(result.correlation, 6).tolist(),
        "chi2": result.chi2, "dof": result.dof, "reduced_chi2": result.reduced_chi2, "noise_model": result.noise_model,
        "iterations": result.iterations, "beam_refreshes": result.beam_refreshes, "seconds": result.seconds,
        "converged": result.converged, "thickness_scan": result.thickness_scan,
    }


def say_warnings(result: Any, weighted: bool) -> list[str]:
    """:func:`fit_warnings`, each also one line on stderr."""
    lines = fit_warnings(result, weighted)
    for line in lines:
        print(f"lacbed-bridge refine: warning: {line}", file=sys.stderr)
    return lines


def report_markdown(report: dict[str, Any]) -> str:
    from .fit import significant

    lines = [f"# Refinement of {report['crystal']} against {Path(report['disc']).name}", "",
             f"The model's {beams_line(report['beams'])}." if report.get("beams") else "", "",
             f"{report['iterations']} iterations, {report['beam_refreshes']} beam refreshes, {report['seconds']:.1f} s "
             f"({'converged' if report['converged'] else 'NOT converged'}); χ² = {report['chi2']:.1f} for "
             f"{report['dof']} degrees of freedom (reduced {report['reduced_chi2']:.3f}).", "",
             f"Noise model: {report['noise_model']}.", ""]
    for name, scan in (report.get("thickness_scan") or {}).items():
        best = min(scan, key=lambda pair: pair[1])
        lines += [f"Thickness scan before the fit ({name}): {len(scan)} thicknesses {scan[0][0]:g}–{scan[-1][0]:g} Å, "
                  f"least χ² {best[1]:.4g} at {best[0]:g} Å, where the fit started.", ""]
    lines += ["| parameter | start | refined | unit |", "|---|---|---|---|"]
    for name, p in report["parameters"].items():
        lines.append(f"| {name} | {p['start']:.6g} | {significant(p['value'], p['sigma'])} | {p['unit']} |")
    lines += ["", "Correlations:", "", "| | " + " | ".join(report["parameters"]) + " |",
              "|---|" + "---|" * len(report["parameters"])]
    for name, row in zip(report["parameters"], report["correlation"], strict=True):
        lines.append(f"| {name} | " + " | ".join(f"{v:+.2f}" for v in row) + " |")
    if report.get("warnings"):
        lines += ["", "Warnings:", ""] + [f"- {line}" for line in report["warnings"]]
    lines += ["", "Held fixed: " + "; ".join(report["held_fixed"]) + ".", ""]
    return "\n".join(lines)


def refine(cif: str | os.PathLike[str], disc_path: str | os.PathLike[str], config: dict[str, Any], free_text: str, *,
           out_dir: str | os.PathLike[str] | None = None, family: str | None = None, roles_text: str | None = None,
           counts: float | None = None, mask_path: str | os.PathLike[str] | None = None, fit_scale: bool = True,
           fit_background: bool = True, device: str | None = None, max_iter: int = 60, quiet: bool = False,
           geometry: Any = None, disc_centre: tuple[float, float] | None = None,
           disc_radius: float | None = None, thickness_scan: bool = True, start: str | None = None) -> dict[str, Any]:
    """Run one refinement and write its files (module docstring); returns the report.

    ``geometry``: the detector optics (:class:`.optics.OpticsGeometry`: centre offset, rotation,
    k-scale, blur) — starting values of the free ones, fixed values of the others; a dict gives only
    some of them, over those a measured disc's preparation found. ``disc_path`` is a side × side TIFF
    on the model grid, or a measured file (refine/measured.py: .dm3, .dm4, .emd, .mrc, .tif, Felix
    .img), whose disc is found (or at ``disc_centre``, ``disc_radius`` [frame px]), binned and cut.
    ``thickness_scan``: a free thickness starts at the config's thickness of least χ² (its series
    initial … final in steps of delta, when it has more than one; refine/scan.py). ``start``:
    ``surrogate:MODEL`` starts the free parameters a charge estimator reads (δ, thickness) at its
    estimate from this disc (:func:`surrogate_start`). The fit itself is :func:`fit_crystal`."""
    import numpy as np
    from ..crystal.cif import read_cif, write_cif
    from ..io import read_tiff, write_text_atomic, write_tiff
    from ..simulate.run import simulation_settings

    crystal = read_cif(cif)
    side = simulation_settings(config, family=family or None).lacbed.side
    observed, disc_meta, prepared = _observed(disc_path, side, disc_centre=disc_centre, disc_radius=disc_radius)
    mask = None
    if mask_path is not None:
        mask = read_tiff(mask_path)[0] != 0
    fit = fit_crystal(crystal, observed, config, free_text, disc_meta=disc_meta, mask=mask, prepared=prepared,
                      family=family, roles_text=roles_text, counts=counts, fit_scale=fit_scale,
                      fit_background=fit_background, device=device, max_iter=max_iter, quiet=quiet, geometry=geometry,
                      thickness_scan=thickness_scan, start=start, cif_label=str(cif), disc_label=str(disc_path))
    result = fit.result
    out = Path(out_dir) if out_dir is not None else Path(disc_path).with_name(Path(disc_path).stem + "_refine")
    out.mkdir(parents=True, exist_ok=True)
    write_cif(fit.refined, out / "refined.cif")
    meta = {"crystal": crystal.name, "disc": str(disc_path), "version": __version__}
    if prepared is not None:  # the measured frame as read, and the disc the fit saw
        write_tiff(out / "measured.tif", prepared.measured.data.astype(np.float32), {**meta, "kind": "measured frame as read"})
        write_tiff(out / "prepared.tif", observed.astype(np.float32), {**meta, "kind": "measured disc on the model grid",
                                                                       **{f"prepare_{k}": v for k, v in prepared.info.items()}})
    write_tiff(out / "fitted.tif", result.fitted.astype(np.float32), {**meta, "kind": "fitted disc s·I + b"})
    write_tiff(out / "residual.tif", result.residual.astype(np.float32), {**meta, "kind": "residual D − fit (NaN: masked)"})
    for line in fit.warnings:
        print(f"lacbed-bridge refine: warning: {line}", file=sys.stderr)
    write_text_atomic(out / "report.json", json.dumps(fit.report, indent=2) + "\n")
    write_text_atomic(out / "report.md", report_markdown(fit.report))
    return fit.report


@dataclass(frozen=True)
class DiscFit:
    """What :func:`fit_crystal` found, in memory: ``result`` (refine/fit.py's FitResult: values, σ,
    correlations, χ², the fitted disc s·I + b and the residual D − fit), the ``model`` it fitted
    (refine/model.py's DiscModel), the ``refined`` crystal (P_v, κ, U_iso of the fitted values), the
    ``warnings`` the report lists and the ``report`` itself (what ``refine`` writes to report.json)."""

    result: Any
    model: Any
    refined: Any
    warnings: list[str]
    report: dict[str, Any]


def fit_crystal(crystal: Any, observed: Any, config: dict[str, Any], free_text: str, *,
                disc_meta: dict[str, Any] | None = None, mask: Any = None, prepared: Any = None,
                family: str | None = None, roles_text: str | None = None, counts: float | None = None,
                fit_scale: bool = True, fit_background: bool = True, device: str | None = None, max_iter: int = 60,
                quiet: bool = False, geometry: Any = None, thickness_scan: bool = True, start: str | None = None,
                cif_label: str | None = None, disc_label: str | None = None) -> DiscFit:
    """The in-memory half of :func:`refine` (which the command line calls, and so does the Python API,
    ``lacbed_bridge.api.refine_disc``): fit ``crystal`` (the start) to ``observed``, a side × side
    disc on the model grid of the config's simulation [intensity per unit incident beam, or counts
    with ``counts`` 1], and return the :class:`DiscFit`; nothing is written.

    ``disc_meta``: the disc's metadata (a disc the builtin simulator made names its beams, which the
    model then uses; :func:`fit_beams`); ``mask``: pixels used (True); ``prepared``: the preparation
    of a measured frame (refine/measured.py), whose optics start the fit; ``family``: the config
    family whose geometry and roles apply; ``cif_label``, ``disc_label``: what the report names as
    the CIF and the disc. The other arguments as :func:`refine`'s."""
    from dataclasses import replace

    import numpy as np
    import torch

    from ..device import resolve_device
    from ..simulate.run import simulation_settings
    from .fit import fit_disc
    from .model import DiscModel
    from .optics import OpticsGeometry

    sim = simulation_settings(config, family=family or None)
    settings = sim.lacbed
    observed = np.asarray(observed, dtype=float)
    if prepared is not None:  # pixels of the model's window outside the measured frame
        outside = ~np.isfinite(observed)
        mask = ~outside if mask is None else (mask & ~outside)
    free = parse_free(free_text, [s.label for s in crystal.sites])
    roles = roles_for(crystal, config, roles_text, family) if needs_roles(free) else None
    index = sim.thickness_index
    settings, beams = fit_beams(crystal, settings, sim, disc_meta or {}, device=device)
    start_optics = prepared.geometry if prepared is not None else OpticsGeometry()
    if isinstance(geometry, dict):  # only the values the user gave override the prepared ones
        geometry = replace(start_optics, **geometry)
    geometry = geometry or start_optics
    model = DiscModel(crystal, settings, free, roles=roles, thickness_index=index, device=resolve_device(device or "cpu"),
                      mean_absorption=sim.builtin.mean_absorption, geometry=geometry)

    estimate = surrogate_start(model, observed, start) if start else None

    def show(iteration: int, chi2: float, values: dict[str, float]) -> None:
        if not quiet:
            text = ", ".join(f"{k} {v:.5g}" for k, v in values.items())
            print(f"  iteration {iteration:3d}  χ² {chi2:12.2f}  {text}", file=sys.stderr, flush=True)

    try:
        result = fit_disc(model, observed, mask=mask, counts=counts, fit_scale=fit_scale, fit_background=fit_background,
                          max_iter=max_iter, progress=show, thickness_scan=settings.thicknesses if thickness_scan else None)
    except InputError as exc:  # a bad disc, mask or counts: named with the disc
        if disc_label is None:
            raise
        raise InputError(exc.message, path=disc_label, field=exc.field) from None
    theta = torch.tensor(result.values[: len(free)], dtype=torch.float64)
    refined = model.crystal_at(theta)
    beams.update(pool_size=model.n_pool, strong_beams_max=model.n_beams, noise_rms=noise_rms(observed, mask, counts))
    if not quiet:
        print(f"lacbed-bridge refine: {beams_line(beams)}", file=sys.stderr)
    fixed_optics = {name: geometry.value(name) for name in OPTICS_PARAMETERS if name not in free}
    held = HELD_FIXED + ["detector optics " + ", ".join(f"{name} {value:g}" for name, value in fixed_optics.items())
                         + " (free them with --free centre,rotation,k_scale,blur)"] if fixed_optics else HELD_FIXED
    warnings = fit_warnings(result, counts is not None)
    report = {
        "crystal": crystal.name, "cif": cif_label, "disc": disc_label, "free": free, "warnings": warnings,
        **fit_report(result), "held_fixed": held, "pool_size": model.n_pool,
        "pixels_solved": model.pixels_solved, "disc_symmetry": model.symmetry, "beams": beams,
        "measured": prepared.info if prepared is not None else None,
        "thickness_index": index, "surrogate_start": estimate, "version": __version__,
    }
    return DiscFit(result=result, model=model, refined=refined, warnings=warnings, report=report)


def surrogate_start(model: Any, observed: Any, spec: str) -> dict[str, Any]:
    """``--start surrogate:MODEL``: read the disc with the charge estimator MODEL
    (surrogate/estimator.py) and start each free parameter it estimates there (δ [e], thickness [Å]),
    clipped into the estimator's training range. Returns the estimate (value, σ, whether used) for the
    report. The disc must be on the model grid (a measured frame is cut to it first)."""
    import numpy as np

    from ..surrogate.estimator import load_estimator

    kind, _, path = spec.partition(":")
    if kind != "surrogate" or not path:
        raise InputError(f"expected surrogate:MODEL (a charge estimator's model.pt or folder), got {spec!r}", field="--start")
    estimator = load_estimator(path)
    values = estimator.estimate(np.asarray(observed, dtype=float)[None])
    out: dict[str, Any] = {"model": str(path)}
    for name in estimator.targets:
        value, sigma = float(values[name][0]), float(values[f"{name}_sigma"][0])
        lo, hi = estimator.info["target_range"][name]
        used = name in model.free
        if used:
            model.start[model.free.index(name)] = min(max(value, lo), hi)
        out[name] = {"value": value, "sigma": sigma, "used": used}
    return out


#: keys of one entry of a joint fit's disc settings file (refine --disc-settings)
DISC_SETTING_KEYS = ("disc", "hkl", "pattern", "simulation", "optics", "counts", "mask")


def read_disc_settings(path: str | os.PathLike[str], discs: list[str]) -> list[dict[str, Any]]:
    """The per-disc settings of a joint fit, one dict per disc in the order of ``discs``.

    The file (YAML) is a list of entries ``{disc: NAME, hkl: [h, k, l], pattern: P, simulation: {...},
    optics: {...}, counts: N, mask: M.tif}``: ``disc`` names one of the discs (its path as given or its
    file name); ``hkl`` the reflection whose disc it is (default 000: a ±g disc of the pattern, as
    Felix's felix.hkl); ``pattern`` names the exposure it was cut from — the discs of one pattern share
    the thickness, rotation, k-scale and blur (refine/joint.py; parameters ``thickness@P`` …);
    ``simulation`` overrides keys of the config's simulation section for that disc (its zone axis,
    thickness, voltage); ``optics`` starts or fixes its detector optics (``centre: [x, y]``,
    ``rotation``, ``k_scale``, ``blur``); ``counts`` and ``mask`` as the options of one disc. A disc
    without an entry uses the config and the options."""
    from ..io import read_yaml
    from .joint import check_pattern_name

    entries = read_yaml(path)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError("expected a list of entries {disc: NAME, simulation: {...}, optics: {...}, counts: N, mask: M}",
                         path=path)
    out: list[dict[str, Any]] = [{} for _ in discs]
    for n, entry in enumerate(entries):
        unknown = sorted(set(entry) - set(DISC_SETTING_KEYS))
        if unknown:
            raise InputError(f"unknown key(s) {unknown}; expected any of {list(DISC_SETTING_KEYS)}", path=path, field=f"[{n}]")
        name = str(entry.get("disc", ""))
        matches = [i for i, d in enumerate(discs) if name in (d, Path(d).name)]
        if len(matches) != 1:
            raise InputError(f"disc {name!r} is {'not one of' if not matches else 'ambiguous among'} the discs given "
                             f"({', '.join(Path(d).name for d in discs)})", path=path, field=f"[{n}].disc")
        if out[matches[0]]:
            raise InputError(f"disc {name!r} has two entries", path=path, field=f"[{n}].disc")
        for key, kind in (("simulation", dict), ("optics", dict)):
            if key in entry and not isinstance(entry[key], kind):
                raise InputError(f"expected a mapping, got {entry[key]!r}", path=path, field=f"[{n}].{key}")
        hkl = entry.get("hkl", [0, 0, 0])
        if not (isinstance(hkl, list) and len(hkl) == 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in hkl)):
            raise InputError(f"expected three integers [h, k, l], got {hkl!r}", path=path, field=f"[{n}].hkl")
        if "pattern" in entry:
            try:
                check_pattern_name(str(entry["pattern"]))
            except InputError as exc:
                raise InputError(exc.message, path=path, field=f"[{n}].pattern") from None
        out[matches[0]] = dict(entry)
    return out


def _optics_of(entry: dict[str, Any], path: Any, n: int) -> dict[str, float]:
    """The detector optics an entry of the disc settings gives (refine/optics.py names)."""
    import math

    given: dict[str, float] = {}
    optics = entry.get("optics") or {}
    unknown = sorted(set(optics) - {"centre", "rotation", "k_scale", "blur"})
    if unknown:
        raise InputError(f"unknown optics key(s) {unknown}; expected centre, rotation, k_scale, blur", path=path,
                         field=f"[{n}].optics")
    if "centre" in optics:
        centre = optics["centre"]
        if not (isinstance(centre, list) and len(centre) == 2):
            raise InputError(f"expected [x, y] in px, got {centre!r}", path=path, field=f"[{n}].optics.centre")
        given["centre_x"], given["centre_y"] = (float(v) for v in centre)
    for key in ("rotation", "k_scale", "blur"):
        if key in optics:
            given[key] = float(optics[key])
    if not all(math.isfinite(v) for v in given.values()):
        raise InputError("optics values must be finite numbers", path=path, field=f"[{n}].optics")
    return given


def refine_joint(cif: str | os.PathLike[str], disc_paths: list[str], config: dict[str, Any], free_text: str, *,
                 disc_settings: str | os.PathLike[str] | None = None, out_dir: str | os.PathLike[str] | None = None,
                 family: str | None = None, roles_text: str | None = None, counts: float | None = None,
                 mask_path: str | os.PathLike[str] | None = None, device: str | None = None, max_iter: int = 60,
                 quiet: bool = False, thickness_scan: bool = True) -> dict[str, Any]:
    """Fit several discs of one crystal at once (refine/joint.py): the structure shared, each disc
    its own thickness, optics, scale and background; per-disc settings from ``disc_settings``
    (:func:`read_disc_settings`). Writes refined.cif, fitted_<i>.tif, residual_<i>.tif and the
    report (parameters of disc i named ``thickness@i`` …); returns the report. ``thickness_scan``: each
    free thickness starts at the least χ² of its disc's thickness series (as :func:`refine`)."""
    import copy
    from dataclasses import replace

    import numpy as np
    import torch

    from ..config import validate_config
    from ..crystal.cif import read_cif, write_cif
    from ..device import resolve_device
    from ..family_geometry import family_geometry
    from ..io import read_tiff, write_text_atomic, write_tiff
    from ..simulate.run import simulation_settings
    from .fit import fit_disc
    from .joint import JointModel
    from .model import DiscModel
    from .optics import OpticsGeometry

    crystal = read_cif(cif)
    # the family's own directions, then each disc's own simulation keys over them
    own = {key: list(v) for key, v in family_geometry(config, family).items()} if family else {}
    entries = read_disc_settings(disc_settings, disc_paths) if disc_settings else [{} for _ in disc_paths]
    free = parse_free(free_text, [s.label for s in crystal.sites])
    roles = roles_for(crystal, config, roles_text, family) if needs_roles(free) else None
    models, observed, masks, counts_px, beams_all, series = [], [], [], [], [], []
    for n, (path, entry) in enumerate(zip(disc_paths, entries, strict=True)):
        disc_config = copy.deepcopy(config)
        disc_config["simulation"] = {**disc_config.get("simulation", {}), **own, **(entry.get("simulation") or {})}
        try:
            disc_config = validate_config(disc_config, path=disc_settings)
        except InputError as exc:
            raise InputError(f"disc {Path(path).name}: {exc.message}", path=disc_settings, field=exc.field) from None
        sim = simulation_settings(disc_config, path=disc_settings)
        disc, disc_meta, prepared = _observed(path, sim.lacbed.side)
        mask = np.ones(disc.shape, dtype=bool)
        mask_file = entry.get("mask", mask_path)
        if mask_file is not None:
            mask &= read_tiff(mask_file)[0] != 0
        mask &= np.isfinite(disc)
        settings, beams = fit_beams(crystal, sim.lacbed, sim, disc_meta, device=device)
        series.append(settings.thicknesses)
        start = prepared.geometry if prepared is not None else OpticsGeometry()
        geometry = replace(start, **_optics_of(entry, disc_settings, n))
        try:
            models.append(DiscModel(crystal, settings, free, roles=roles, thickness_index=sim.thickness_index,
                                    device=resolve_device(device or "cpu"), mean_absorption=sim.builtin.mean_absorption,
                                    geometry=geometry, hkl=tuple(entry.get("hkl", (0, 0, 0)))))
        except InputError as exc:
            raise InputError(f"disc {Path(path).name}: {exc.message}", path=disc_settings, field=exc.field) from None
        disc_counts = entry.get("counts", counts)
        if (disc_counts is None) != (counts is None and all(e.get("counts") is None for e in entries)):
            raise InputError("give counts for every disc or for none (--counts or each entry's counts)", path=disc_settings)
        observed.append(np.where(mask, disc, 0.0).reshape(-1))
        masks.append(mask.reshape(-1))
        counts_px.append(np.full(mask.size, float(disc_counts) if disc_counts is not None else 1.0))
        beams.update(pool_size=models[-1].n_pool, strong_beams_max=models[-1].n_beams)
        beams_all.append(beams)
    try:
        joint = JointModel(models, patterns=[None if e.get("pattern") is None else str(e["pattern"]) for e in entries])
    except InputError as exc:
        raise InputError(exc.message, path=disc_settings, field=exc.field) from None
    has_counts = counts is not None or any(e.get("counts") is not None for e in entries)

    def show(iteration: int, chi2: float, values: dict[str, float]) -> None:
        if not quiet:
            print(f"  iteration {iteration:3d}  χ² {chi2:12.2f}", file=sys.stderr, flush=True)

    grids: dict[str, list[float]] = {}
    for i, thicknesses in enumerate(series):  # a pattern's thickness: its first disc's series
        grids.setdefault(joint.name_of("thickness", i), thicknesses)
    result = fit_disc(joint, np.concatenate(observed)[None], mask=np.concatenate(masks)[None],
                      counts=np.concatenate(counts_px)[None] if has_counts else None, fit_scale=False,
                      fit_background=False, max_iter=max_iter, progress=show, thickness_scan=grids if thickness_scan else None)
    out = Path(out_dir) if out_dir is not None else Path(disc_paths[0]).with_name(Path(disc_paths[0]).stem + "_joint_refine")
    out.mkdir(parents=True, exist_ok=True)
    theta = torch.tensor(result.values, dtype=torch.float64)
    write_cif(joint.crystal_at(theta), out / "refined.cif")
    meta = {"crystal": crystal.name, "version": __version__}
    for i, (fitted, residual) in enumerate(zip(joint.split(result.fitted), joint.split(result.residual), strict=True), start=1):
        write_tiff(out / f"fitted_{i}.tif", fitted.astype(np.float32), {**meta, "disc": disc_paths[i - 1], "kind": "fitted disc s·I + b"})
        write_tiff(out / f"residual_{i}.tif", residual.astype(np.float32),
                   {**meta, "disc": disc_paths[i - 1], "kind": "residual D − fit (NaN: masked)"})
    warnings = say_warnings(result, has_counts)
    report = {
        "crystal": crystal.name, "cif": str(cif), "discs": [str(d) for d in disc_paths], "free": result.names,
        "warnings": warnings, **fit_report(result), "held_fixed": HELD_FIXED, "beams": beams_all[0], "beams_per_disc": beams_all,
        "disc_settings": entries, "version": __version__,
    }
    write_text_atomic(out / "report.json", json.dumps(report, indent=2, default=str) + "\n")
    write_text_atomic(out / "report.md", report_markdown({**report, "disc": ", ".join(Path(d).name for d in disc_paths)}))
    return report


def _run(args: Any) -> int:
    from ..config import load_config

    config = load_config(args.config)
    if len(args.disc) > 1 or args.disc_settings:
        for option in ("centre", "rotation", "k_scale", "blur", "disc_centre", "disc_radius"):
            if getattr(args, option) is not None:
                raise InputError("a joint fit takes each disc's optics from --disc-settings (optics: {...})",
                                 field="--" + option.replace("_", "-"))
        if args.start:
            raise InputError("a surrogate start reads one disc; a joint fit starts from the CIF", field="--start")
        if args.no_scale or args.no_background:
            raise InputError("a joint fit always fits each disc's scale and background", field="--no-scale")
        report = refine_joint(args.cif, args.disc, config, args.free, disc_settings=args.disc_settings, out_dir=args.out,
                              family=args.family, roles_text=args.roles, counts=args.counts, mask_path=args.mask,
                              device=args.device, max_iter=args.max_iter, thickness_scan=not args.no_thickness_scan)
        _print_parameters(report)
        return 0
    given: dict[str, float] = {}
    if args.centre:
        given["centre_x"], given["centre_y"] = _numbers(args.centre, 2, "--centre")
    for name in ("rotation", "k_scale", "blur"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    report = refine(args.cif, args.disc[0], config, args.free, out_dir=args.out, family=args.family, roles_text=args.roles,
                    counts=args.counts, mask_path=args.mask, fit_scale=not args.no_scale,
                    fit_background=not args.no_background, device=args.device, max_iter=args.max_iter, geometry=given,
                    disc_centre=_numbers(args.disc_centre, 2, "--disc-centre") if args.disc_centre else None,
                    disc_radius=args.disc_radius, thickness_scan=not args.no_thickness_scan, start=args.start)
    _print_parameters(report)
    return 0


def _print_parameters(report: dict[str, Any]) -> None:
    from .fit import significant

    for name, p in report["parameters"].items():
        print(f"{name:16s} {significant(p['value'], p['sigma']):>16s} {p['unit']}")
    print(f"reduced χ² {report['reduced_chi2']:.3f}, {report['iterations']} iterations, {report['seconds']:.1f} s")


def _numbers(text: str, count: int, option: str) -> tuple[float, ...]:
    import math

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise InputError(f"expected {count} comma-separated numbers, got {text!r}", field=option)
    return values


def register(subparsers: Any) -> None:
    """Add ``lacbed-bridge refine``."""
    p = subparsers.add_parser(
        "refine",
        help="refine δ, κ, U_iso and thickness of a crystal from a (000) LACBED disc (differentiable Bloch waves)",
        description="Fit the builtin simulator's (000) disc to a measured one by Levenberg–Marquardt on exact "
        "autograd Jacobians; writes the refined CIF, the fitted disc, the residual and a report with uncertainties.",
    )
    p.add_argument("cif", help="starting crystal (CIF; its P_v and κ are the start)")
    p.add_argument("disc", nargs="+", help="the disc: a TIFF side × side of the config's simulation, or a measured frame "
                   "(.dm3, .dm4, .emd, .mrc, .tif, Felix .img) whose disc is found, binned and cut to the model grid; "
                   "several discs of the crystal: a joint fit (shared structure; each disc its own thickness, optics, "
                   "scale and background)")
    p.add_argument("--disc-settings", help="joint fit: YAML list of {disc: NAME, hkl: [h, k, l], pattern: P, "
                   "simulation: {...}, optics: {...}, counts: N, mask: M.tif}, each disc's own settings over the config's; "
                   "the discs of one pattern share thickness, rotation, k_scale and blur (docs/refine.md)")
    p.add_argument("--config", required=True, help="config YAML (simulation settings: geometry, beams, thickness)")
    p.add_argument("--free", required=True, help="parameters: delta, kappa, u_iso, thickness; kappa/u_iso per site as kappa:<label> or per role as kappa:cation, kappa:anion; the detector optics centre (= centre_x, centre_y), rotation, k_scale, blur")
    p.add_argument("--family", help="use this config family's geometry and roles")
    p.add_argument("--centre", help="disc centre offset X,Y [px] on the detector (start, or fixed unless --free centre)")
    p.add_argument("--rotation", type=float, help="disc rotation [degrees] (start, or fixed unless --free rotation; default 0)")
    p.add_argument("--k-scale", type=float, help="k-space scale (start, or fixed unless --free k_scale; default 1, or what "
                   "the preparation of a measured frame found)")
    p.add_argument("--blur", type=float, help="detector Gaussian PSF σ [px] (start, or fixed unless --free blur; default 0)")
    p.add_argument("--disc-centre", help="measured frame: the disc centre X,Y [frame px] (default: found)")
    p.add_argument("--disc-radius", type=float, help="measured frame: the disc radius [frame px], which the config's "
                   "outer_convergence_angle is (default: found)")
    p.add_argument("--roles", help="roles for delta as label=role or element=role, e.g. Ga=cation,As=anion "
                   "(default: the config family of the CIF's sample id)")
    p.add_argument("--counts", type=float, help="expected counts per unit intensity (Poisson weights); default unweighted")
    p.add_argument("--mask", help="TIFF of the disc's shape, nonzero = pixel used (disc edge, beam stop)")
    p.add_argument("--no-scale", action="store_true", help="do not fit an intensity scale")
    p.add_argument("--no-background", action="store_true", help="do not fit a constant background")
    p.add_argument("--no-thickness-scan", action="store_true",
                   help="start a free thickness at the config's thickness_index instead of the least χ² of its thickness "
                   "series (initial_thickness … final_thickness in steps of delta_thickness; scanned when it has more than one)")
    p.add_argument("--start", help="surrogate:MODEL: start δ (and a free thickness) at a charge estimator's reading of "
                   "the disc (lacbed-bridge train-estimator) instead of the CIF's")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument("--max-iter", type=int, default=60)
    p.add_argument("--out", help="output folder (default <disc>_refine/)")
    p.set_defaults(func=_run)
    register_study(subparsers)
    register_noisy(subparsers)


def _run_noisy(args: Any) -> int:
    import numpy as np

    from ..io import read_tiff, write_tiff
    from .fit import poisson_disc

    if not (args.counts > 0 and np.isfinite(args.counts)):
        raise InputError(f"expected a positive number of counts per unit intensity, got {args.counts}", field="--counts")
    disc, meta = read_tiff(args.disc)
    noisy = poisson_disc(np.asarray(disc, dtype=float), args.counts, args.seed)
    out = args.out or str(Path(args.disc).with_name(Path(args.disc).stem + f"_noisy{args.seed}.tif"))
    write_tiff(out, noisy.astype(np.float32), {**meta, "noise": {"kind": "Poisson", "counts_per_unit_intensity": args.counts,
                                                                 "seed": args.seed, "source": str(args.disc)}})
    print(out)
    return 0


def register_noisy(subparsers: Any) -> None:
    """Add ``lacbed-bridge noisy`` (test discs: Poisson noise on a simulated disc)."""
    p = subparsers.add_parser("noisy", help="a noisy observation of a disc: Poisson(N·I)/N, seeded (test data for refine)")
    p.add_argument("disc", help="disc TIFF (intensity per unit incident beam)")
    p.add_argument("--counts", type=float, required=True, help="expected counts N per unit intensity")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (same seed, same bytes)")
    p.add_argument("--out", help="output TIFF (default <disc>_noisy<seed>.tif)")
    p.set_defaults(func=_run_noisy)


def _run_study(args: Any) -> int:
    from ..config import load_config
    from .study import charge_recovery, write_study

    from ..pipeline.settings import RefineTestSettings

    config = load_config(args.config)
    settings = RefineTestSettings.from_config(config)  # what an option does not say, the config's `refine` does
    frame, summary = charge_recovery(args.results, config, counts=args.counts if args.counts is not None else settings.counts,
                                     n=args.n if args.n is not None else settings.n,
                                     free=args.free if args.free is not None else settings.free, seed=args.seed,
                                     progress=lambda line: print(line, flush=True))
    for path in write_study(frame, summary, args.out):
        print(path)
    return 0


def register_study(subparsers: Any) -> None:
    """Add ``lacbed-bridge refine-test`` (refine/study.py)."""
    p = subparsers.add_parser("refine-test", help="recover δ from noisy test discs: refinement against the surrogate")
    p.add_argument("--results", default="results", help="the workflow's results folder")
    p.add_argument("--config", required=True, help="config YAML")
    p.add_argument("--out", required=True, help="output folder (per_sample.csv, summary.json; "
                   "`lacbed-bridge refine-figure OUT` draws recovered_delta.png of them)")
    p.add_argument("--counts", type=float, help="counts per unit intensity of the noisy discs (default: the config's refine.counts)")
    p.add_argument("--n", type=int, help="number of test discs (default: the config's refine.n; null there: all in charge series)")
    p.add_argument("--free", help="refined parameters, comma-separated (default: the config's refine.free)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run_study)
