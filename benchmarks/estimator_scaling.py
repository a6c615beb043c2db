"""Benchmark: how the charge estimator's δ error falls with the number of training crystals.

A learning curve (issue #28 item 1: what reaching δ RMS ≤ 0.1 e would cost). The base crystals of
a built dataset (all its discs, every split) are dealt into ``--folds`` groups by base crystal (a
crystal's charge states stay together: ``surrogate.estimator_train.fold_of``). For each fold k the
crystals of the other folds are the training pool; one estimator network (the members' network and
training of docs/surrogate.md §6: offsets, blur and noise drawn afresh, the mean fitted first, then
the Gaussian likelihood) is trained on nested subsets of the pool — the first ``f`` of a seeded
order of its crystals for each fraction f of ``--fractions`` — and scored on fold k's clean discs.
Every subset gets the same number of optimiser steps (epochs scaled by 1/f), so a small subset is
not also an under-trained one.

Printed per fraction: the mean number of training crystals N, the pooled δ RMS error over all
folds' discs (every disc scored once per fraction, by the network that never saw its crystal), and
the same error per family. Then a power law RMS = A·N^b fitted by least squares to log RMS over
the fractions, and the N it would need for δ RMS 0.1 e (only when b < 0; an extrapolation, said so).
The LAST line is one JSON object.

Usage: python benchmarks/estimator_scaling.py --dataset results/dataset [--folds 5]
       [--fractions 0.25,0.5,0.75,1] [--epochs 300] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGET_DELTA_RMSE = 0.1


def learning_curve(discs: np.ndarray, delta: np.ndarray, groups: np.ndarray, families: np.ndarray, *,
                   fractions: list[float], folds: int, config, seed: int) -> list[dict]:
    """One row per fraction: mean training crystals, pooled δ RMS [e] and per-family RMS [e]."""
    import torch

    from lacbed_bridge.surrogate.estimator import standardise_discs
    from lacbed_bridge.surrogate.estimator_train import fold_of, train_member

    fold = fold_of(groups, folds, seed)
    predictions = {f: np.full(len(delta), np.nan) for f in fractions}
    crystals = {f: [] for f in fractions}
    for k in range(folds):
        pool = np.unique(groups[fold != k])
        order = pool[np.random.default_rng(seed + 1 + k).permutation(len(pool))]
        test = fold == k
        for f in fractions:
            chosen = order[: max(2, round(f * len(order)))]
            train = np.isin(groups, chosen)
            mean, std = delta[train].mean(), delta[train].std()
            y_std = ((delta[train] - mean) / std)[:, None]
            net, _ = train_member(discs[train], y_std, replace(config, epochs=max(1, round(config.epochs / f))), seed + k)
            with torch.no_grad():
                mu, _ = net(torch.from_numpy(standardise_discs(discs[test]))[:, None])
            predictions[f][test] = mean + std * mu[:, 0].double().numpy()
            crystals[f].append(len(chosen))
    rows = []
    for f in fractions:
        error = predictions[f] - delta
        row = {"fraction": f, "train_crystals": float(np.mean(crystals[f])), "delta_rmse": float(np.sqrt(np.mean(error ** 2)))}
        for family in np.unique(families):
            row[f"rmse_{family}"] = float(np.sqrt(np.mean(error[families == family] ** 2)))
        rows.append(row)
    return rows


def power_law(rows: list[dict]) -> dict:
    """RMS = A·N^b by least squares on the logs; the N for :data:`TARGET_DELTA_RMSE` when b < 0."""
    n = np.log([r["train_crystals"] for r in rows])
    e = np.log([r["delta_rmse"] for r in rows])
    b, log_a = np.polyfit(n, e, 1)
    needed = math.exp((math.log(TARGET_DELTA_RMSE) - log_a) / b) if b < 0 else None
    return {"exponent": float(b), "prefactor": float(math.exp(log_a)), "crystals_for_target": needed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(REPO / "results" / "dataset"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fractions", default="0.25,0.5,0.75,1")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the full pool (default: the estimator's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3 folds, fractions 0.5 and 1, 20 epochs (plumbing)")
    args = parser.parse_args()

    import pandas as pd
    import tifffile
    import torch

    from lacbed_bridge.surrogate.config import EstimatorConfig

    torch.set_num_threads(2)
    root = Path(args.dataset)
    manifest = pd.read_csv(root / "manifest.csv", dtype={"sample_id": str})
    stack = np.asarray(tifffile.imread(root / "lacbed.tif"), dtype=np.float64)
    charged = manifest.groupby("base_id")["delta"].transform(lambda d: d.max() - d.min()) > 0  # charge series only
    discs, rows = stack[charged.to_numpy()], manifest[charged].reset_index(drop=True)
    delta = rows["delta"].to_numpy(dtype=float)
    groups, families = rows["base_id"].astype(str).to_numpy(), rows["family"].astype(str).to_numpy()
    folds = 3 if args.quick else args.folds
    fractions = [0.5, 1.0] if args.quick else [float(x) for x in args.fractions.split(",")]
    config = EstimatorConfig(epochs=20 if args.quick else (args.epochs or EstimatorConfig.epochs))
    prior = float(np.sqrt(np.mean((delta - 0.5 * (delta.min() + delta.max())) ** 2)))
    print(f"{len(discs)} discs of {len(np.unique(groups))} base crystals in charge series ({root}); {folds} folds; "
          f"{config.epochs} epochs for the whole pool; always answering the middle of the range scores δ RMS {prior:.3f} e")
    start = time.perf_counter()
    table = learning_curve(discs, delta, groups, families, fractions=fractions, folds=folds, config=config, seed=args.seed)
    seconds = time.perf_counter() - start
    names = sorted(np.unique(families))
    print(f"{'fraction':>8s} {'crystals':>9s} {'δ RMS [e]':>10s} " + " ".join(f"{n:>22s}" for n in names))
    for r in table:
        print(f"{r['fraction']:8.2f} {r['train_crystals']:9.1f} {r['delta_rmse']:10.3f} "
              + " ".join(f"{r['rmse_' + n]:22.3f}" for n in names))
    fit = power_law(table) if len(table) > 1 else {}
    if fit:
        print(f"power law: δ RMS ≈ {fit['prefactor']:.3g}·N^{fit['exponent']:.2f}; "
              + (f"δ RMS {TARGET_DELTA_RMSE} e would need ≈ {fit['crystals_for_target']:.0f} training crystals "
                 "(an extrapolation of this curve)" if fit["crystals_for_target"] else
                 "the error does not fall with N here: more crystals of this kind do not reach the target"))
    print(f"{seconds:.0f} s on {torch.get_num_threads()} threads")
    print(json.dumps({"benchmark": "estimator_scaling", "dataset": str(root), "quick": args.quick, "folds": folds,
                      "epochs": config.epochs, "prior_rmse": prior, "curve": table, "power_law": fit, "seconds": seconds,
                      "target_delta_rmse": TARGET_DELTA_RMSE}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
