"""Benchmark: seconds per EDD image (GaAs, 128² by default) on one CPU core.

Prints the figures, then as the LAST line one JSON object. Target: ≤ 0.5 s per 128² image.
Usage: python benchmarks/edd.py [--quick] [--device cpu] [--side 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one core (set before numpy loads its BLAS)

import numpy as np  # noqa: E402

from lacbed_bridge import __version__  # noqa: E402
from lacbed_bridge.crystal.model import Crystal, Site  # noqa: E402
from lacbed_bridge.edd.projection import projection_info_and_image  # noqa: E402

TARGET_S = 0.5


def gaas(delta: float, u_iso: float) -> Crystal:
    a = 5.6533
    return Crystal(
        "GaAs_bench", (a, a, a, 90, 90, 90), "F -4 3 m",
        (Site("Ga1", "Ga", (0, 0, 0), 1.0, u_iso, 3 - delta), Site("As1", "As", (0.25, 0.25, 0.25), 1.0, u_iso, 5 + delta)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (≤ 60 s)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="the EDD code is NumPy: cpu only")
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.device == "cuda":
        print("note: EDD projection runs on NumPy/CPU; timing the CPU path")
    repeats = 2 if args.quick else args.repeats
    figures: dict[str, float] = {}
    cases = [("[001] U=0.003", [0, 0, 1], [1, 0, 0], 0.003), ("[001] U=0.0063", [0, 0, 1], [1, 0, 0], 0.0063),
             ("[-110] U=0.0063", [-1, 1, 0], [1, 1, 0], 0.0063), ("[-110] U=0.012", [-1, 1, 0], [1, 1, 0], 0.012)]
    worst = 0.0
    for name, beam, x, u in cases:
        crystal = gaas(0.3, u)
        projection_info_and_image(crystal, side=args.side, beam_direction=beam, x_direction=x)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            _, info = projection_info_and_image(crystal, side=args.side, beam_direction=beam, x_direction=x)
            times.append(time.perf_counter() - start)
        best = float(np.min(times))
        worst = max(worst, best)
        figures[name] = best
        print(f"{name:18s} {args.side}² px: {best * 1e3:7.1f} ms  (s_max {info.s_max:.2f} 1/Å, "
              f"{info.n_reflections} reflections)")
    print(f"slowest case {worst:.3f} s per image; target ≤ {TARGET_S} s -> ratio {worst / TARGET_S:.2f}")
    print(json.dumps({
        "edd_s_per_image_max": worst,
        "edd_s_per_image": figures,
        "target_s": TARGET_S,
        "ratio_to_target": worst / TARGET_S,
        "side": args.side,
        "threads": 1,
        "device": "cpu",
        "machine": platform.processor() or platform.machine(),
        "numpy": np.__version__,
        "version": __version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }))


if __name__ == "__main__":
    main()
