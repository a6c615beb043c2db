"""Benchmark: the charge estimator on held-back discs as an experiment records them.

Reads a trained estimator (``lacbed-bridge train-estimator``; the workflow's
``results/models/estimator/seed<s>``) and the test subset of its split. Every test disc is scored
clean, with Poisson noise (10⁴ and 10² counts per pixel at its mean), moved off-centre by (1, −0.6) px
(cubic interpolation), and moved and blurred by a 0.8 px Gaussian PSF — cases the estimator never
saw in this form (its training draws offsets, blur and noise of its own: docs/surrogate.md §6).
Per case: δ RMS error, the mean stated σ, the fraction of truths within ±1σ and ±1.96σ, and how far
the estimate moved from the clean disc's; then the time per disc. The LAST line is one JSON object.

Usage: python benchmarks/estimator.py [--results results] [--model results/models/estimator/seed0]
       [--split random_0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def cases(discs: np.ndarray) -> dict[str, np.ndarray]:
    """The held-back versions of the test discs."""
    from scipy.ndimage import gaussian_filter, shift

    from lacbed_bridge.surrogate.estimator_eval import noisy

    off = np.array([shift(d, (1.0, -0.6), order=3, mode="nearest") for d in discs])
    return {"clean": discs, "10^4 counts": noisy(discs, 1e4, 1), "10^2 counts": noisy(discs, 1e2, 1),
            "offset (1, -0.6) px": off, "offset + blur 0.8 px": np.array([gaussian_filter(d, 0.8, mode="nearest") for d in off])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(REPO / "results"))
    parser.add_argument("--model", help="estimator folder (default RESULTS/models/estimator/seed0)")
    parser.add_argument("--split", default=None, help="split (default: the estimator's own)")
    args = parser.parse_args()

    from lacbed_bridge.surrogate.estimator import load_estimator
    from lacbed_bridge.surrogate.estimator_eval import interval_scores
    from lacbed_bridge.surrogate.estimator_train import load_discs

    results = Path(args.results)
    model = Path(args.model) if args.model else results / "models" / "estimator" / "seed0"
    estimator = load_estimator(model)
    split = args.split or estimator.info["split"]
    discs, rows = load_discs(results / "dataset", split, "test")
    truth = rows["delta"].to_numpy(dtype=float)
    prior = float(np.sqrt(np.mean((truth - estimator.mean[estimator.targets.index("delta")]) ** 2)))
    print(f"charge estimator {model} on {len(discs)} test discs of {split}; always answering the middle of the "
          f"training range scores δ RMS {prior:.3f} e")
    print(f"{'case':24s} {'δ RMS [e]':>10s} {'mean σ':>8s} {'±1σ holds':>10s} {'±1.96σ':>8s} {'moved by':>9s}")
    out: dict = {"benchmark": "estimator", "model": str(model), "split": split, "n": len(discs), "prior_rmse": prior, "cases": {}}
    clean = None
    for name, images in cases(discs).items():
        values = estimator.estimate(images)
        clean = values["delta"] if clean is None else clean
        scores = interval_scores(values["delta"], values["delta_sigma"], truth)
        row = {"delta_rmse": scores["rmse"], "sigma_mean": scores["sigma_mean"], "coverage68": scores["coverage68"],
               "coverage95": scores["coverage95"], "moved_rms": float(np.sqrt(np.mean((values["delta"] - clean) ** 2)))}
        out["cases"][name] = row
        print(f"{name:24s} {row['delta_rmse']:10.3f} {row['sigma_mean']:8.3f} {row['coverage68']:10.0%} "
              f"{row['coverage95']:8.0%} {row['moved_rms']:9.3f}")
    estimator.estimate(discs[:1])
    t0 = time.perf_counter()
    for disc in discs:
        estimator.estimate(disc)
    out["seconds_per_disc"] = (time.perf_counter() - t0) / len(discs)
    print(f"time: {1e3 * out['seconds_per_disc']:.2f} ms per disc (one at a time, CPU)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
