"""Benchmark: recover the charge transfer δ from noisy (000) discs, by refinement and by the surrogate.

The comparison itself is ``lacbed_bridge.refine.study.charge_recovery`` (also the workflow's
optional ``refine_test`` rule). Reads the results of the workflow (``make run``: ``results/dataset``, ``results/variants``,
``results/models/lacbed2edd``). For held-back test crystals that belong to a charge series (split
``train.split``, subset test), each clean disc of the dataset becomes a noisy observation,
Poisson(N·I)/N with N = ``--counts`` per unit intensity (seeded). Then, on the same noisy discs:

1. **refinement** (``lacbed_bridge.refine``): the crystal's CIF with δ moved 0.5 e towards the
   middle of the family's range and the thickness 10 % off, fitting δ and thickness (plus the
   intensity scale and background) by Levenberg–Marquardt on exact gradients; beams as the dataset
   made the disc (its ``sim_pool_size`` and ``sim_strong_beams_used``);
2. **surrogate**: the trained lacbed2edd model predicts the deformation density and δ is read by
   least squares against the true deformation series of the same base crystal
   (``surrogate.charge_metrics.read_delta``, as in the charge metrics).

Prints per route the RMS error of δ (and of the thickness for refinement), the refinement's mean
stated uncertainty and the fraction of errors within 2σ, the wall time per disc, and the ratios.
Targets (issue): refinement δ ≤ 0.02 e RMS at 10⁴ counts in ≤ 60 s per 32² fit on 2 CPU cores.
The LAST line is one JSON object.

Then, without the workflow (``lacbed_bridge.refine.scenarios``): discs as an experiment records them —
centred, one pixel off, one pixel off and blurred 0.8 px, and with κ unknown from one disc and from a
joint fit of a [001] and a [110] disc — of held-back zincblende crystals at the config's geometry and
beams (``--quick``: 16² px at 120 / 40 beams, 3 crystals), each fitted from δ 0.2 e off; per scenario
the RMS error of δ (κ), the mean stated σ, the coverage of the σ (within 1σ, 2σ) and the time per fit.
Targets (issue #24): with κ free, δ ≤ 0.03 e and κ ≤ 0.01 from 2–3 discs at 10⁴ counts; a δ +
thickness + geometry fit of a 32² disc in ≤ 60 s.

``--calibration FITS`` asks only whether the stated σ is right: FITS Poisson draws of one held-back
crystal's disc, centred and off-centre blurred, each fitted; the RMS z-score (δ̂ − δ)/σ and the
coverage, over all fits and over those the report does not flag.

Usage: python benchmarks/refine.py [--quick] [--results results] [--config config.yaml] [--counts 1e4]
       [--n N] [--free delta,thickness] [--crystals N] [--calibration FITS]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_DELTA_RMSE = 0.02
TARGET_SECONDS = 60.0
#: the fits from the starts of lacbed_bridge.refine.study.FIT_STARTS, as printed
START_LABELS = {"estimator": "estimator's δ; thickness 10 % off", "study_delta_true_thickness": "δ 0.5 e off; true thickness",
                "estimator_true_thickness": "estimator's δ; true thickness", "truth": "true δ and thickness (the floor)"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 discs (two base crystals)")
    parser.add_argument("--results", default=str(REPO / "results"))
    parser.add_argument("--config", default=str(REPO / "config.yaml"))
    parser.add_argument("--counts", type=float, default=1e4)
    parser.add_argument("--n", type=int, default=None, help="number of test discs (default: all; --quick: 4)")
    parser.add_argument("--free", default="delta,thickness")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--estimator", help="a charge estimator (lacbed-bridge train-estimator): its δ ± σ on the same "
                        "noisy discs, and the refinement again from its δ (iterations, time, same answer) and from the "
                        "starts that bound what any start can gain (the true thickness; everything true)")
    parser.add_argument("--crystals", type=int, default=None, help="held-back crystals of the scenario table (0: skip it) "
                        "(default 3 with --quick, else 5)")
    parser.add_argument("--calibration", type=int, default=0, metavar="FITS",
                        help="only the σ calibration: FITS Poisson draws of one crystal, centred and off-centre blurred")
    args = parser.parse_args()

    import torch

    from lacbed_bridge.config import load_config
    from lacbed_bridge.refine.study import charge_recovery

    torch.set_num_threads(2)
    config = load_config(args.config)
    if args.calibration:
        print(json.dumps({"benchmark": "refine", "quick": bool(args.quick), "calibration": calibration_part(config, args)}))
        return 0
    scenarios = scenario_part(config, args) if args.crystals != 0 else {}
    results = Path(args.results)
    if not (results / "dataset" / "dataset.json").is_file():
        print(f"no dataset under {results}: the comparison with the surrogate needs `make run` first")
        print(json.dumps({"benchmark": "refine", "quick": bool(args.quick), "scenarios": scenarios}))
        return 0
    _, summary = charge_recovery(results, config, counts=args.counts, n=args.n or (4 if args.quick else None),
                                 free=args.free, seed=args.seed, progress=lambda line: print(line, flush=True),
                                 estimator=args.estimator)
    summary.update({"benchmark": "refine", "quick": bool(args.quick), "scenarios": scenarios,
                    "targets": {"delta_rmse": TARGET_DELTA_RMSE, "seconds_per_fit": TARGET_SECONDS}})
    r, s = summary["refine"], summary["surrogate"]
    print(f"\n{'route':12s} {'δ RMSE [e]':>11s} {'time/disc':>12s}")
    print(f"{'refinement':12s} {r['delta_rmse']:11.4f} {r['seconds_per_disc']:10.2f} s   (mean σ_δ {r['delta_sigma_mean']:.4f}, "
          f"{100 * r['within_2sigma']:.0f} % within 2σ, thickness RMSE {r['thickness_rmse']:.2f} Å, χ²/dof {r['reduced_chi2_mean']:.2f})")
    if s["available"]:
        print(f"{'surrogate':12s} {s['delta_rmse']:11.4f} {1e3 * s['seconds_per_disc']:10.2f} ms  ({s['model']}, δ read from {s['kind']})")
        print(f"ratios: surrogate/refinement δ RMSE {s['delta_rmse'] / max(r['delta_rmse'], 1e-12):.1f}×, "
              f"refinement/surrogate time {r['seconds_per_disc'] / max(s['seconds_per_disc'], 1e-12):.0f}×")
    else:
        print("surrogate: no lacbed2edd model under results/models (run `make run`)")
    if "estimator" in summary:
        e = summary["estimator"]
        print(f"{'estimator':12s} {e['delta_rmse']:11.4f} {1e3 * e['seconds_per_disc']:10.2f} ms  (mean σ_δ "
              f"{e['delta_sigma_mean']:.3f}, 68 % / 95 % intervals hold {100 * e['coverage68']:.0f} % / "
              f"{100 * e['coverage95']:.0f} % of the truths)")
        print(f"refinement from the estimator's δ: {e['refine_iterations_mean']:.1f} iterations, "
              f"{e['refine_seconds_per_disc']:.2f} s per disc (from the study's start: {r['iterations_mean']:.1f}, "
              f"{r['seconds_per_disc']:.2f} s; ratio {r['seconds_per_disc'] / max(e['refine_seconds_per_disc'], 1e-12):.2f}×); "
              f"largest change of the refined δ {e['refine_delta_change_max']:.2g} e")
        print(f"  {'start (δ; thickness)':44s} {'iterations':>10s} {'s per disc':>10s} {'ratio to the study start':>24s}")
        rows = [("study: δ 0.5 e off; thickness 10 % off", r["iterations_mean"], r["seconds_per_disc"])]
        rows += [(START_LABELS[label], v["iterations_mean"], v["seconds_per_disc"]) for label, v in e["starts"].items()]
        for text, iterations, seconds in rows:
            print(f"  {text:44s} {iterations:10.1f} {seconds:10.2f} {r['iterations_mean'] / iterations:11.2f}× iterations "
                  f"{r['seconds_per_disc'] / seconds:5.2f}× time")
    print(f"targets: refinement δ RMSE ≤ {TARGET_DELTA_RMSE} e ({r['delta_rmse'] / TARGET_DELTA_RMSE:.2f} of it), "
          f"≤ {TARGET_SECONDS:.0f} s per fit ({r['seconds_per_disc'] / TARGET_SECONDS:.2f} of it)")
    print(json.dumps(summary))
    return 0


def _settings(config: dict, args: argparse.Namespace):
    from dataclasses import replace

    from lacbed_bridge.simulate.run import simulation_settings

    settings = replace(simulation_settings(config).lacbed, blur_radius=0.0)
    if args.quick:
        settings = replace(settings, pixel_count=8, min_reflection_pool=120, min_strong_beams=40)
    return settings


def calibration_part(config: dict, args: argparse.Namespace) -> list[dict]:
    """Does the stated σ cover the errors? Many noise draws of one held-back crystal (scenarios.calibration)."""
    from lacbed_bridge.refine.scenarios import SCENARIOS, calibration, format_calibration

    settings = _settings(config, args)
    print(f"σ calibration: {args.calibration} Poisson draws per scenario, {settings.side}² px, pool "
          f"{settings.min_reflection_pool} / {settings.min_strong_beams} strong beams, {args.counts:g} counts", flush=True)
    out = []
    for scenario in (s for s in SCENARIOS if s.name in ("centred", "offset + blur")):
        result = calibration(scenario, settings, fits=args.calibration, counts=args.counts)
        print(format_calibration(result) + f"  ({result['seconds_per_fit']:.1f} s per fit)", flush=True)
        out.append(result)
    return out


def scenario_part(config: dict, args: argparse.Namespace) -> dict:
    """The scenario table (module docstring), printed; its summary for the JSON line."""
    from lacbed_bridge.refine.scenarios import format_summary, scenario_table

    settings = _settings(config, args)
    n = args.crystals or (3 if args.quick else 5)
    print(f"scenarios: {n} held-back crystals, {settings.side}² px, pool {settings.min_reflection_pool} / "
          f"{settings.min_strong_beams} strong beams, {args.counts:g} counts per unit intensity", flush=True)
    rows, summary = scenario_table(settings, n_crystals=n, counts=args.counts, progress=lambda line: print("  " + line, flush=True))
    print(format_summary(summary), flush=True)
    return {"side": settings.side, "pool": settings.min_reflection_pool, "strong": settings.min_strong_beams,
            "counts": args.counts, "summary": summary, "rows": rows}


if __name__ == "__main__":
    sys.exit(main())
