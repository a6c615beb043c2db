"""Benchmark: surrogate accuracy against the targets of issue #5 (MSE ≤ 0.005, SSIM ≥ 0.90).

Runs the Snakemake workflow of ``configs/accuracy.yaml`` (≥ 2 000 crystals at 128², four cubic
space groups, 3 seeds, both directions, pix2pix and the regression U-Net; GPU) up to
``metrics/summary.csv`` and prints, per direction and model, the mean ± std over seeds of the test
MSE and SSIM, with the ratio to the target (MSE/0.005 ≤ 1, 0.90/SSIM ≤ 1 means met).

``--reduced`` runs the reduced CPU protocol of issue #10 (``configs/accuracy_reduced.yaml``: 280
converged discs at 32² as charge series of 4 states, two-channel EDD side, charge-difference loss;
≤ 1 hour on 2 cores) and also prints the charge metrics against their targets (charge-effect
r ≥ 0.9 with RMS ratio 0.8–1.25 for EDD → LACBED, δ RMS error ≤ 0.1 e for LACBED → EDD).

``--quick`` runs the same protocol scaled down to minutes on a CPU (40 crystals, 32², 2 epochs,
tiny networks): it checks the plumbing, not the accuracy. The LAST line is one JSON object.
Usage: python benchmarks/accuracy.py [--quick | --reduced] [--device cpu|cuda] [--cores N] [--pixel-count N]
       [--scale F] [--epochs N] [--ngf N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from workflow_run import run_workflow  # benchmarks/workflow_run.py

REPO = Path(__file__).resolve().parents[1]
TARGET_MSE = 0.005
TARGET_SSIM = 0.90
TARGET_CHARGE_R = 0.9
TARGET_RMS_RATIO = (0.8, 1.25)
TARGET_DELTA_RMSE = 0.1


def quick_config(config: dict, device: str) -> dict:
    for family in config["families"]:
        family["n_variants"] = 10
    config["simulation"].update(device=device, pixel_count=16, min_reflection_pool=40, min_strong_beams=15, pixel_chunk=1024)
    config["train"].update(device=device, epochs=2, ngf=8, ndf=8, batch_size=8, seeds=[0, 1], num_workers=0)
    config["evaluate"]["device"] = device
    config["workflow"]["batch_size"] = 10
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reduced", action="store_true", help="the reduced CPU protocol (configs/accuracy_reduced.yaml)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--workdir", type=Path, help="where results go (default: a temporary folder for --quick, else the repo)")
    parser.add_argument("--pixel-count", type=int, help="override simulation.pixel_count (image side = 2 × this)")
    parser.add_argument("--scale", type=float, help="multiply every family's n_variants")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--ngf", type=int, help="override train.ngf and train.ndf")
    args = parser.parse_args()
    if args.reduced:
        args.device = "cpu"
    config = yaml.safe_load((REPO / "configs" / ("accuracy_reduced.yaml" if args.reduced else "accuracy.yaml")).read_text())
    config["simulation"]["device"] = config["train"]["device"] = config["evaluate"]["device"] = args.device
    if args.device == "cpu":
        config["train"]["num_workers"] = 0
    if args.quick:
        config = quick_config(config, args.device)
    if args.pixel_count:
        config["simulation"]["pixel_count"] = args.pixel_count
    if args.scale:
        for family in config["families"]:
            family["n_variants"] = max(1, round(family["n_variants"] * args.scale))
    if args.epochs:
        config["train"]["epochs"] = args.epochs
    if args.ngf:
        config["train"]["ngf"] = config["train"]["ndf"] = args.ngf
    workdir = args.workdir or (Path(tempfile.mkdtemp(prefix="accuracy-")) if args.quick or args.reduced else REPO)
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "accuracy.effective-input.yaml"
    config_path.write_text(yaml.safe_dump(config))
    results = workdir / config["output"]["results"]
    seconds = run_workflow(workdir, config_path, f"{config['output']['results']}/metrics/summary.csv", args.cores)
    seeds = pd.read_csv(results / "metrics" / "summary_seeds.csv")
    info = json.loads((results / "dataset" / "dataset.json").read_text())
    figures: dict[str, object] = {
        "quick": args.quick, "reduced": args.reduced, "device": args.device, "samples": info["counts"]["included"], "side": info["side"],
        "workflow_seconds": seconds, "target_mse": TARGET_MSE, "target_ssim": TARGET_SSIM,
    }
    print(f"{info['counts']['included']} samples at {info['side']}², workflow {seconds:.0f} s ({args.device})")
    for row in seeds.itertuples():
        key = f"{row.direction}_{row.model}"
        figures[key] = {
            "n_seeds": int(row.n_seeds), "mse_mean": row.mse_mean, "mse_std": row.mse_std, "ssim_mean": row.ssim_mean,
            "ssim_std": row.ssim_std, "mse_ratio_to_target": row.mse_mean / TARGET_MSE, "ssim_ratio_to_target": TARGET_SSIM / row.ssim_mean,
            **{f"{k}_{s}": getattr(row, f"{k}_{s}", float("nan")) for k in ("charge_r", "charge_rms_ratio", "delta_rmse")
               for s in ("mean", "std")},
        }
        met = row.mse_mean <= TARGET_MSE and row.ssim_mean >= TARGET_SSIM
        print(f"  {key:22s} MSE {row.mse_mean:.4f} ± {row.mse_std:.4f} (ratio {row.mse_mean / TARGET_MSE:.2f})  "
              f"SSIM {row.ssim_mean:.3f} ± {row.ssim_std:.3f} (ratio {TARGET_SSIM / row.ssim_mean:.2f})  {'met' if met else 'not met'}")
        r, ratio, delta = (getattr(row, f"{k}_mean", float("nan")) for k in ("charge_r", "charge_rms_ratio", "delta_rmse"))
        if row.direction == "edd2lacbed" and r == r:
            ok = r >= TARGET_CHARGE_R and TARGET_RMS_RATIO[0] <= ratio <= TARGET_RMS_RATIO[1]
            print(f"  {'':22s} charge-effect r {r:.3f} (target ≥ {TARGET_CHARGE_R}), RMS ratio {ratio:.2f} "
                  f"(target {TARGET_RMS_RATIO[0]}–{TARGET_RMS_RATIO[1]})  {'met' if ok else 'not met'}")
        if row.direction == "lacbed2edd" and delta == delta:
            print(f"  {'':22s} δ RMS error {delta:.3f} e (target ≤ {TARGET_DELTA_RMSE}; ratio {delta / TARGET_DELTA_RMSE:.2f}), "
                  f"charge-effect r {r:.3f}  {'met' if delta <= TARGET_DELTA_RMSE else 'not met'}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
