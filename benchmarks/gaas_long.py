"""Benchmark: refinement against real measured discs — the GaAs_long discs of the Felix repository
(tests/data/GaAs_long: GaAs [-110], 200 kV, Bird–King absorption).

Runs `refine`'s pieces on the measured frames (Felix's .img, 70 × 70; the (000) disc also as the
.dm3, 336 × 336): each disc prepared for the model grid (binned to ``--pixel-count``), then a fit of
thickness and the detector optics (and δ, U_iso if asked), unweighted least squares (the files are
rescaled, not counts). With several reflections (``--discs +0+0+0,+2+2+0,…``, Felix's file names)
the discs are one pattern, fitted jointly as Felix fits its felix.hkl: one thickness, rotation,
k-scale and blur, each disc its own centre, scale and background, the structure shared.
Prints the Pearson correlation r of the fit with the measurement before and after (per disc and
over all), every refined value with its σ and the warnings, and what Felix's felix.inp for the
sample assumes (800–900 Å, RBlurRadius 1.45 px at 70 × 70). The LAST line is one JSON object.
Usage: python benchmarks/gaas_long.py [--pixel-count 17] [--source img|dm3] [--discs +0+0+0,+2+2+0]
       [--free thickness,centre,rotation,k_scale,blur,delta,u_iso:Ga1] [--start thickness=820,blur=0.6]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lacbed_bridge import __version__
from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.refine import OPTICS_PARAMETERS
from lacbed_bridge.refine.fit import fit_disc
from lacbed_bridge.refine.joint import JointModel
from lacbed_bridge.refine.measured import prepare_disc, read_measured
from lacbed_bridge.refine.model import DiscModel, Roles
from lacbed_bridge.refine.run import fit_warnings
from lacbed_bridge.simulate.felix.inp import parse_felix_inp

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "GaAs_long"


def pearson(a: np.ndarray, b: np.ndarray, use: np.ndarray) -> float:
    return float(np.corrcoef(a[use], b[use])[0, 1])


def hkl_of(name: str) -> tuple[int, int, int]:
    """Felix's file name of a reflection, ``+1+1-3`` → (1, 1, -3)."""
    return tuple(int(name[i:i + 2]) for i in (0, 2, 4))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pixel-count", type=int, default=17, help="model disc radius in pixels (35: the .img unbinned)")
    parser.add_argument("--source", choices=["img", "dm3"], default="img")
    parser.add_argument("--discs", default="+0+0+0", help="reflections (Felix's file names), one pattern fitted jointly")
    parser.add_argument("--free", default="thickness,centre_x,centre_y,rotation,k_scale,blur")
    parser.add_argument("--start", default="", help="starting values NAME=VALUE,… (thickness, optics, delta, u_iso:LABEL)")
    parser.add_argument("--thickness", type=float, default=850.0, help="starting thickness [Å]")
    parser.add_argument("--beams", default="600,100", help="pool, strong beams (felix.inp: 600, 100)")
    parser.add_argument("--max-iter", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    starts = {k.strip(): float(v) for k, _, v in (item.partition("=") for item in args.start.split(",") if item.strip())}
    thickness = starts.pop("thickness", args.thickness)
    felix = parse_felix_inp(DATA / "felix.inp")
    pool, strong = (int(v) for v in args.beams.split(","))
    settings = replace(felix, pixel_count=args.pixel_count, initial_thickness=thickness, final_thickness=thickness,
                       delta_thickness=10.0, blur_radius=0.0, min_reflection_pool=pool, min_strong_beams=strong)
    crystal = read_cif(DATA / "felix.cif")
    free = [n.strip() for n in args.free.split(",") if n.strip()]
    roles = Roles({"Ga1": "cation", "As1": "anion"}, 4) if "delta" in free else None
    names = [n.strip() for n in args.discs.split(",") if n.strip()]
    if len(names) > 1 and args.source != "img":
        parser.error("the ±g discs are kept as Felix's .img only")
    start_time = time.perf_counter()
    models, discs, frames = [], [], []
    for name in names:
        measured = read_measured(DATA / f"GaAs_{name}.{args.source}")
        prepared = prepare_disc(measured, settings.side)
        # felix.inp's blur is 1.45 px of the 70 × 70 image: in binned pixels
        blur0 = 1.45 * (measured.data.shape[0] / 70) / prepared.info["bin_factor"]
        optics = {"blur": blur0, **{k: v for k, v in starts.items() if k in OPTICS_PARAMETERS}}
        model = DiscModel(crystal, settings, free, roles=roles, geometry=replace(prepared.geometry, **optics), hkl=hkl_of(name))
        for i, parameter in enumerate(model.free):
            if parameter in starts and parameter not in OPTICS_PARAMETERS:
                model.start[i] = starts[parameter]
        model.reselect_beams(model.start)
        models.append(model)
        discs.append(prepared.disc)
        frames.append(f"{measured.data.shape[0]}² → {settings.side}² (×{prepared.info['bin_factor']})")
    fitted_model = models[0] if len(models) == 1 else JointModel(models, patterns=["GaAs_long"] * len(models))
    observed = discs[0] if len(models) == 1 else np.concatenate([d.reshape(-1) for d in discs])[None]
    use = np.isfinite(observed)

    def per_disc(image: np.ndarray) -> list[float]:
        parts = [image] if len(models) == 1 else fitted_model.split(image)
        return [pearson(p, d, np.isfinite(d)) for p, d in zip(parts, discs, strict=True)]

    with torch.no_grad():
        first = fitted_model.evaluate(fitted_model.start).numpy().reshape(observed.shape)
    r_start = pearson(first, observed, use)
    print(f"GaAs_long {', '.join(names)} from the {args.source} ({frames[0]} px), pool {models[0].n_pool}, "
          f"≤ {max(m.n_beams for m in models)} strong beams, {sum(m.pixels_solved for m in models)} pixels; start r = "
          f"{r_start:.4f} (per disc {', '.join(f'{v:.3f}' for v in per_disc(first))})", flush=True)
    result = fit_disc(fitted_model, np.where(use, observed, 0.0), mask=use, counts=None, max_iter=args.max_iter,
                      fit_scale=len(models) == 1, fit_background=len(models) == 1,
                      progress=lambda i, chi2, values: print(f"  {i:3d} χ² {chi2:.4g} " + ", ".join(f"{k} {v:.5g}" for k, v in values.items()), flush=True))
    seconds = time.perf_counter() - start_time
    r_fit = pearson(result.fitted.reshape(observed.shape), observed, use)
    r_discs = per_disc(result.fitted.reshape(observed.shape))
    warnings = fit_warnings(result, weighted=False)
    for name in result.names:
        print(f"{name:16s} {result.value(name):12.5g} ± {result.uncertainty(name):.3g}")
    for line in warnings:
        print("warning:", line)
    print(f"r = {r_fit:.4f} (start {r_start:.4f}); per disc {', '.join(f'{n} {v:.3f}' for n, v in zip(names, r_discs, strict=True))}; "
          f"{result.iterations} iterations, {seconds:.0f} s; felix.inp assumes 800–900 Å, blur 1.45 px at 70²")
    print(json.dumps({"benchmark": "gaas_long", "version": __version__, "source": args.source, "discs": names,
                      "side": settings.side, "pool": models[0].n_pool, "strong_beams": max(m.n_beams for m in models),
                      "r_start": r_start, "r_fit": r_fit, "r_per_disc": dict(zip(names, r_discs, strict=True)),
                      "values": dict(zip(result.names, result.values, strict=True)),
                      "sigma": dict(zip(result.names, result.sigma, strict=True)), "seconds": seconds,
                      "iterations": result.iterations, "converged": result.converged, "warnings": warnings}))


if __name__ == "__main__":
    main()
