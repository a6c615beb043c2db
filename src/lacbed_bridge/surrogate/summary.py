"""``lacbed-bridge metrics-summary``: collect per-model metrics.json files into summary.csv.

The workflow's table of record (docs/architecture.md §7): one row per (direction, model, seed, split) with the
columns ``direction, model, seed, split, n, mse, ssim, psnr``, plus ``summary_seeds.csv`` beside
it with mean ± std over seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``metrics-summary`` sub-command."""
    p = subparsers.add_parser("metrics-summary", help="collect metrics.json files into summary.csv (+ mean ± std over seeds)")
    p.add_argument("metrics", nargs="+", type=Path, help="metrics.json files written by `lacbed-bridge evaluate`")
    p.add_argument("--out", type=Path, required=True, help="summary.csv to write")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..io import write_text_atomic
    from .evaluate import aggregate_seeds, read_metrics, write_summary

    frame = write_summary(read_metrics(args.metrics), args.out)
    seeds = aggregate_seeds(frame)
    write_text_atomic(args.out.with_name(args.out.stem + "_seeds.csv"), seeds.to_csv(index=False, float_format="%.6g"))
    print(seeds.to_string(index=False))
    return 0
