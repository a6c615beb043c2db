"""Convergence study of the builtin simulator: how many beams does a trustworthy disc need?

For each case (a prototype's reference compound in the demo geometry of config.yaml, or the paper
geometry of configs/paper.yaml) and each beam set (pool P / strong beams S) it measures, against a
reference beam set (default 1000 / 300), all with the symmetric pool of complete shells:

- rms, max: the RMS and largest |ΔI| of the (000) disc against the reference;
- charge_r, charge_rms_ratio: the charge effect I(δ = 0.5) − I(δ = 0) (cation → anion transfer,
  Hansen–Coppens model) correlated with the reference's charge effect (Pearson r) and its RMS
  ratio;
- eps: the convergence control's own error estimate at that beam set (the RMS change when the
  beams grow by 1.5×, src/lacbed_bridge/simulate/convergence.py), to check that it is honest;
- asym: the largest |I − R·I| over the disc's pixel-permuting symmetry operations;
- seconds: time of one disc with the symmetry speed-up (and of the full calculation, for the
  ratio).

``--quick`` (≤ 60 s on 2 cores): GaAs only, 16² pixels, reference 400 / 120. The LAST line is one
JSON object.
Usage: python benchmarks/convergence.py [--quick] [--config config.yaml] [--prototypes zincblende,...]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from lacbed_bridge.config import load_config
from lacbed_bridge.crystal.variants import generate_family
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions
from lacbed_bridge.simulate.convergence import Convergence, change_rms, grown
from lacbed_bridge.crystal.orientation import microscope_frame
from lacbed_bridge.simulate.run import simulation_settings
from lacbed_bridge.simulate.symmetry import disc_symmetry

ROOT = Path(__file__).resolve().parents[1]
COMPOUNDS = {"zincblende": {"A": "Ga", "B": "As"}, "rocksalt": {"A": "Mg", "B": "O"},
             "fluorite": {"A": "Ca", "X": "F"}, "perovskite": {"A": "Sr", "B": "Ti", "O": "O"}}


def crystal(prototype: str, delta: float, seed: int = 0):
    """The prototype's reference compound at charge transfer δ (κ = 1, U_iso 0.008 Å²)."""
    elements = {k: [v] for k, v in COMPOUNDS[prototype].items()}
    family = {"name": f"study_{prototype}", "prototype": prototype, "n_variants": 1, "seed": seed,
              "elements": elements, "lattice_scale": [1.0, 1.0], "u_iso": [0.008, 0.008],
              "delta": [delta, delta], "kappa": [1.0, 1.0]}
    return generate_family(family, 0)[0][0]


def disc(c, settings, use_symmetry: bool) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = simulate_builtin(c, settings, BuiltinOptions(pool_mode="shells", use_symmetry=use_symmetry), device="cpu")
    return result.disc(), time.perf_counter() - start


def study(prototype: str, base, levels, reference) -> list[dict]:
    neutral, charged = crystal(prototype, 0.0), crystal(prototype, 0.5)
    ref_settings = replace(base, min_reflection_pool=reference[0], min_strong_beams=reference[1])
    ref0, _ = disc(neutral, ref_settings, use_symmetry=True)
    ref1, _ = disc(charged, ref_settings, use_symmetry=True)
    ref_effect = ref1 - ref0
    ops = disc_symmetry(neutral, microscope_frame(neutral, base.geometry)).pixel_operations
    rows = []
    for pool, strong in levels:
        s = replace(base, min_reflection_pool=pool, min_strong_beams=strong)
        i0, t_sym = disc(neutral, s, use_symmetry=True)
        i1, _ = disc(charged, s, use_symmetry=True)
        full, t_full = disc(neutral, s, use_symmetry=False)
        effect = i1 - i0
        result = simulate_builtin(neutral, s, BuiltinOptions(pool_mode="shells", use_symmetry=True), device="cpu")
        eps = change_rms(neutral, result, grown(s, 1.5), Convergence(), BuiltinOptions(pool_mode="shells"), device="cpu")
        n = i0.shape[0] / 2
        asym = 0.0
        for op in ops:
            r, c = np.meshgrid(np.arange(i0.shape[0]), np.arange(i0.shape[0]), indexing="ij")
            x2, y2 = op @ np.stack([c.ravel() - n + 0.5, r.ravel() - n + 0.5])
            mapped = full[np.rint(y2 + n - 0.5).astype(int), np.rint(x2 + n - 0.5).astype(int)].reshape(full.shape)
            asym = max(asym, float(np.abs(mapped - full).max()))
        rows.append({
            "prototype": prototype, "pool": pool, "strong": strong, "pool_size": int(result.info["pool_size"]),
            "beams_mean": round(float(result.info["beams_mean"]), 1),
            "rms": float(np.sqrt(np.mean((i0 - ref0) ** 2))), "max": float(np.abs(i0 - ref0).max()),
            "charge_rms": float(np.sqrt(np.mean(effect**2))),
            "charge_r": float(np.corrcoef(effect.ravel(), ref_effect.ravel())[0, 1]),
            "charge_rms_ratio": float(np.sqrt(np.mean(effect**2)) / np.sqrt(np.mean(ref_effect**2))),
            "eps": eps, "asym": asym, "sym_vs_full_max": float(np.abs(i0 - full).max()),
            "seconds_sym": t_sym, "seconds_full": t_full, "speedup": t_full / t_sym,
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--prototypes", default="zincblende,rocksalt,fluorite,perovskite")
    ap.add_argument("--reference", default="1000,300")
    ap.add_argument("--levels", default="60/20,200/60,300/90,400/120,500/150,700/200")
    args = ap.parse_args()
    base = simulation_settings(load_config(args.config)).lacbed
    levels = [tuple(int(v) for v in lv.split("/")) for lv in args.levels.split(",")]
    reference = tuple(int(v) for v in args.reference.split(","))
    prototypes = args.prototypes.split(",")
    if args.quick:
        base = replace(base, pixel_count=8)
        levels, reference, prototypes = [(60, 20), (200, 60)], (400, 120), ["zincblende"]
    rows = []
    for prototype in prototypes:
        rows += study(prototype, base, levels, reference)
    print(json.dumps({"reference": list(reference), "side": base.side, "rows": rows}))


if __name__ == "__main__":
    main()
