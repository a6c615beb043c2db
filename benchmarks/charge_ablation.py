"""Benchmark: which training choices make a surrogate see the charge? (issue #10 item 4)

Trains one model per (variant, direction, seed) on an already built dataset with charge series
(e.g. ``results_accuracy_reduced/dataset`` of ``python benchmarks/accuracy.py --reduced``),
evaluates it on the test subset of the split and prints, per variant and direction, the mean over
seeds of MSE, SSIM (first target channel) and the charge metrics (charge-effect r, RMS ratio,
δ RMS error [e]; :mod:`lacbed_bridge.surrogate.charge_metrics`), next to the issue's targets.
The variants change one thing at a time from the plain pix2pix/U-Net setting:

* ``plain``: total EDD in and out, no charge term;
* ``channels``: EDD side as two channels (total + deformation density), no charge term;
* ``channels+charge``: two channels and the charge-difference term (``--charge-weight``).

The LAST line is one JSON object. Usage:
    python benchmarks/charge_ablation.py DATASET [--model unet] [--epochs 60] [--seeds 0 1]
        [--variants plain channels channels+charge] [--charge-weight 10] [--ngf 32] [--out DIR] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from lacbed_bridge.surrogate.config import TrainConfig
from lacbed_bridge.surrogate.evaluate import evaluate_model
from lacbed_bridge.surrogate.train import train

TARGETS = {"mse": 0.005, "ssim": 0.90, "charge_r": 0.9, "rms_ratio": (0.8, 1.25), "delta_rmse": 0.1}


def variant_settings(name: str, charge_weight: float) -> dict[str, object]:
    """TrainConfig keys of a variant."""
    table = {
        "plain": {"input": "edd", "target": "edd", "charge_weight": 0.0},
        "channels": {"input": "both", "target": "both", "charge_weight": 0.0},
        "channels+charge": {"input": "both", "target": "both", "charge_weight": charge_weight},
        "deformation+charge": {"input": "deformation", "target": "deformation", "charge_weight": charge_weight},
    }
    if name not in table:
        raise SystemExit(f"unknown variant {name!r}; expected one of {sorted(table)}")
    return table[name]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--model", default="unet", choices=["unet", "pix2pix"])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--directions", nargs="+", default=["edd2lacbed", "lacbed2edd"])
    parser.add_argument("--variants", nargs="+", default=["plain", "channels", "channels+charge"])
    parser.add_argument("--charge-weight", type=float, default=10.0)
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--split", default="random_0")
    parser.add_argument("--out", type=Path, help="where the models go (default: a temporary folder)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="charge-ablation-"))
    record: dict[str, object] = {"dataset": str(args.dataset), "device": args.device, "model": args.model, "epochs": args.epochs, "seeds": args.seeds,
                                 "charge_weight": args.charge_weight, "targets": TARGETS, "results": {}}
    print(f"{'variant':20s} {'direction':11s} {'MSE':>7s} {'SSIM':>6s} {'r':>6s} {'RMS ratio':>9s} {'δ RMSE':>7s} {'s/run':>6s}")
    for variant in args.variants:
        settings = variant_settings(variant, args.charge_weight)
        for direction in args.directions:
            rows = []
            for seed in args.seeds:
                config = TrainConfig(model=args.model, epochs=args.epochs, ngf=args.ngf, ndf=args.ngf, batch_size=args.batch_size,
                                     split=args.split, device=args.device, **settings)  # type: ignore[arg-type]
                start = time.perf_counter()
                ckpt = train(args.dataset, out / variant / direction / f"seed{seed}", direction=direction, seed=seed, config=config)
                seconds = time.perf_counter() - start
                _, summary = evaluate_model(ckpt, args.dataset, split=args.split, device=args.device)
                rows.append({k: summary[k] for k in ("mse", "ssim", "charge_r", "charge_rms_ratio", "delta_rmse", "n_series")}
                            | {"seconds": seconds})
            mean = {k: float(np.nanmean([r[k] for r in rows])) if any(np.isfinite(r[k]) for r in rows) else float("nan")
                    for k in rows[0]}
            record["results"][f"{variant}/{direction}"] = {"mean": mean, "seeds": rows}  # type: ignore[index]
            print(f"{variant:20s} {direction:11s} {mean['mse']:7.4f} {mean['ssim']:6.3f} {mean['charge_r']:6.3f} "
                  f"{mean['charge_rms_ratio']:9.3f} {mean['delta_rmse']:7.3f} {mean['seconds']:6.0f}", flush=True)
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
