"""Convergence control of the builtin simulator: grow the beam set until the disc stops changing.

A Bloch-wave disc computed with a finite beam set differs from the many-beam limit; the difference
falls as beams are added (the converged study is in docs/performance.md). Here the error of a disc
computed with (pool P, strong beams S) is *measured* as the RMS change of the disc when both grow
by a factor f (``growth``):

    ε(P, S) = sqrt( Σ_p w_p (I_{fP,fS}(p) − I_{P,S}(p))² / Σ_p w_p )   [intensity per unit beam]

over a deterministic sample of the disc's symmetry-independent pixels (weights w_p = orbit sizes,
so ε estimates the RMS over the whole disc, and the maximum over the thickness series is taken).
If ε exceeds ``target_rms`` the disc is recomputed with (fP, fS) and checked again, up to
``max_strong_beams``. The returned disc is the one whose error was measured; its metadata carry
ε, the beams used and whether the target was met.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from ..crystal.model import Crystal
from ..errors import ConfigError
from .bloch import bloch_structure, propagate, simulate_builtin
from .device import default_complex_dtype, resolve_device
from .electron import wavenumber_from_voltage
from ..crystal.orientation import microscope_frame
from .geometry import pixel_wavevectors
from .result import LacbedResult
from .settings import MAX_REFLECTION_POOL, BuiltinOptions, Convergence, LacbedSettings
from .symmetry import disc_symmetry, pixel_orbits


def grown(settings: LacbedSettings, growth: float) -> LacbedSettings:
    """The settings with pool and strong-beam count multiplied by ``growth`` (rounded up)."""
    return replace(
        settings,
        min_reflection_pool=int(math.ceil(settings.min_reflection_pool * growth)),
        min_strong_beams=int(math.ceil(settings.min_strong_beams * growth)),
    )


def check_pixels(side: int, pixel_operations: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic, evenly strided sample of the independent pixels and their orbit sizes."""
    reps, source = pixel_orbits(side, pixel_operations)
    sizes = np.bincount(np.searchsorted(reps, source), minlength=len(reps))
    step = max(1, int(round(1.0 / fraction)))
    chosen = np.arange(0, len(reps), step)
    return reps[chosen], sizes[chosen]


def change_rms(
    crystal: Crystal,
    result: LacbedResult,
    bigger: LacbedSettings,
    convergence: Convergence,
    options: BuiltinOptions,
    *,
    device: str | None,
) -> float:
    """ε: the weighted RMS change of ``result``'s (000) disc on the check pixels when computed with
    the ``bigger`` beam set and the same ``options`` (maximum over the thickness series)."""
    dev = resolve_device(device)
    constants = options.constants
    wavenumber = wavenumber_from_voltage(bigger.accelerating_voltage, constants)
    frame = microscope_frame(crystal, bigger.geometry)
    structure = bloch_structure(crystal, frame, wavenumber, potential=bigger.potential, beams=bigger.beam_selection,
                                geometry=bigger.geometry, pool_mode=options.pool_mode, constants=constants, device=dev,
                                mean_absorption=options.mean_absorption)
    pixels, weights = check_pixels(bigger.side, disc_symmetry(crystal, frame).pixel_operations, convergence.check_fraction)
    k = pixel_wavevectors(bigger.pixel_count, bigger.outer_convergence_angle, wavenumber).reshape(-1, 3)[pixels]
    solved = propagate(structure, k, bigger.thicknesses, bigger.min_strong_beams, [0], cdtype=options.dtype or default_complex_dtype(dev),
                       solver=options.solver)
    before = result.discs[(0, 0, 0)].reshape(len(result.thicknesses), -1)[:, pixels]
    diff = solved.intensities[0] - before
    per_thickness = np.sqrt((weights[None, :] * diff**2).sum(axis=1) / weights.sum())
    return float(per_thickness.max())


def simulate_converged(
    crystal: Crystal,
    settings: LacbedSettings,
    convergence: Convergence,
    options: BuiltinOptions | None = None,
    *,
    device: str | None = None,
    pixel_chunk: int = 1024,
) -> LacbedResult:
    """The (000) disc with the smallest beam set, from ``settings`` up by factors of ``growth``,
    whose measured error ε is at most ``target_rms``; ``info`` records ε, the steps and the beams.
    ``options``: how each disc is computed (default: the schema's; the pool must be ``shells``)."""
    options = BuiltinOptions() if options is None else options
    if options.pool_mode != "shells":
        raise ConfigError("convergence control needs simulation.pool: shells (a pool cut inside a shell is not symmetric)",
                          field="simulation.convergence")
    start = time.perf_counter()
    current = settings
    steps = []
    while True:
        result = simulate_builtin(crystal, current, options, device=device, pixel_chunk=pixel_chunk)
        bigger = grown(current, convergence.growth)
        error = change_rms(crystal, result, bigger, convergence, options, device=device)
        steps.append({"pool": current.min_reflection_pool, "strong": current.min_strong_beams, "rms_change": error})
        converged = error <= convergence.target_rms
        if converged or bigger.min_strong_beams > convergence.max_strong_beams or bigger.min_reflection_pool > MAX_REFLECTION_POOL:
            break
        current = bigger
    result.info.update(
        convergence_rms=error,
        convergence_target=convergence.target_rms,
        convergence_growth=convergence.growth,
        converged=bool(converged),
        convergence_steps=[[s["pool"], s["strong"], s["rms_change"]] for s in steps],
        min_reflection_pool_used=current.min_reflection_pool,
        min_strong_beams_used=current.min_strong_beams,
    )
    result.seconds = time.perf_counter() - start  # every step and check included
    return result
