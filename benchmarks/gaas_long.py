"""Benchmark: refinement against a real measured disc — the GaAs_long (000) disc of the Felix
repository (tests/data/GaAs_long: GaAs [-110], 200 kV, Bird–King absorption).

Runs `refine`'s pieces on the measured frame (Felix's .img, 70 × 70, or the .dm3, 336 × 336): the disc
prepared for the model grid (binned to ``--pixel-count``), then a fit of thickness and the
detector optics (and δ if asked), unweighted least squares (the files are rescaled, not counts).
Prints the Pearson correlation r of the fit with the measurement before and after, every refined
value with its σ and the warnings, and what Felix's felix.inp for the sample assumes (800–900 Å,
RBlurRadius 1.45 px at 70 × 70). The LAST line is one JSON object.
Usage: python benchmarks/gaas_long.py [--pixel-count 17] [--source img|dm3] [--free thickness,centre,rotation,k_scale,blur]
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
from lacbed_bridge.refine.fit import fit_disc
from lacbed_bridge.refine.measured import prepare_disc, read_measured
from lacbed_bridge.refine.model import DiscModel, Roles
from lacbed_bridge.refine.run import fit_warnings
from lacbed_bridge.simulate.felix.inp import parse_felix_inp

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "GaAs_long"


def pearson(a: np.ndarray, b: np.ndarray, use: np.ndarray) -> float:
    return float(np.corrcoef(a[use], b[use])[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pixel-count", type=int, default=17, help="model disc radius in pixels (35: the .img unbinned)")
    parser.add_argument("--source", choices=["img", "dm3"], default="img")
    parser.add_argument("--free", default="thickness,centre_x,centre_y,rotation,k_scale,blur")
    parser.add_argument("--thickness", type=float, default=850.0, help="starting thickness [Å]")
    parser.add_argument("--beams", default="600,100", help="pool, strong beams (felix.inp: 600, 100)")
    parser.add_argument("--max-iter", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(2)
    felix = parse_felix_inp(DATA / "felix.inp")
    pool, strong = (int(v) for v in args.beams.split(","))
    settings = replace(felix, pixel_count=args.pixel_count, initial_thickness=args.thickness, final_thickness=args.thickness,
                       delta_thickness=10.0, blur_radius=0.0, min_reflection_pool=pool, min_strong_beams=strong)
    crystal = read_cif(DATA / "felix.cif")
    measured = read_measured(DATA / f"GaAs_+0+0+0.{args.source}")
    prepared = prepare_disc(measured, settings.side)
    free = [n.strip() for n in args.free.split(",") if n.strip()]
    # felix.inp's blur is 1.45 px of the 70 × 70 image: in binned pixels
    blur0 = 1.45 * (measured.data.shape[0] / 70) / prepared.info["bin_factor"]
    geometry = replace(prepared.geometry, blur=blur0)
    roles = Roles({"Ga1": "cation", "As1": "anion"}, 4) if "delta" in free else None
    start = time.perf_counter()
    model = DiscModel(crystal, settings, free, roles=roles, geometry=geometry)
    use = np.isfinite(prepared.disc)
    with torch.no_grad():
        first = model.evaluate(model.start).numpy()
    r_start = pearson(first, prepared.disc, use)
    print(f"GaAs_long (000) from the {args.source} ({measured.data.shape[0]}² px), binned ×{prepared.info['bin_factor']} to "
          f"{settings.side}² px, pool {model.n_pool}, ≤ {model.n_beams} strong beams, {model.pixels_solved} pixels; "
          f"start r = {r_start:.4f}", flush=True)
    result = fit_disc(model, prepared.disc, mask=use, counts=None, max_iter=args.max_iter,
                      progress=lambda i, chi2, values: print(f"  {i:3d} χ² {chi2:.4g} " + ", ".join(f"{k} {v:.5g}" for k, v in values.items()), flush=True))
    seconds = time.perf_counter() - start
    r_fit = pearson(result.fitted, prepared.disc, use)
    warnings = fit_warnings(result, weighted=False)
    for name in result.names:
        print(f"{name:12s} {result.value(name):12.5g} ± {result.uncertainty(name):.3g}")
    for line in warnings:
        print("warning:", line)
    print(f"r = {r_fit:.4f} (start {r_start:.4f}); {result.iterations} iterations, {seconds:.0f} s; felix.inp assumes 800–900 Å, "
          f"blur 1.45 px at 70² ({blur0:.3g} px here)")
    print(json.dumps({"benchmark": "gaas_long", "version": __version__, "source": args.source, "side": settings.side,
                      "pool": model.n_pool, "strong_beams": model.n_beams, "r_start": r_start, "r_fit": r_fit,
                      "values": dict(zip(result.names, result.values, strict=True)),
                      "sigma": dict(zip(result.names, result.sigma, strict=True)), "seconds": seconds,
                      "iterations": result.iterations, "converged": result.converged, "warnings": warnings}))


if __name__ == "__main__":
    main()
