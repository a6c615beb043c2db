"""``lacbed-bridge figures``: the paper figures from ``results/`` (PNG + PDF each)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import FIGURE_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``figures``."""
    p = subparsers.add_parser("figures", help="paper figures (a–e) from results/ as PNG and PDF")
    p.add_argument("--results", type=Path, required=True, help="the workflow's results folder")
    p.add_argument("--config", type=Path, required=True, help="config.yaml (validated; e.g. results/config.effective.yaml)")
    p.add_argument("--out", type=Path, required=True, help="output folder (the workflow: RESULTS/figures)")
    p.add_argument("--only", nargs="+", choices=FIGURE_NAMES, metavar="NAME",
                   help=f"make only these figures ({', '.join(FIGURE_NAMES)})")
    p.set_defaults(func=run_figures)
    q = subparsers.add_parser("refine-figure", help="the refine study's figure (recovered δ against true δ) from its folder")
    q.add_argument("study", type=Path, help="the folder `lacbed-bridge refine-test --out` wrote (per_sample.csv, summary.json)")
    q.set_defaults(func=run_refine_figure)


def run_figures(args: argparse.Namespace) -> int:
    """Entry point of ``lacbed-bridge figures``."""
    from ..config import load_config
    from .make import make_figures

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    config = load_config(args.config)
    written = make_figures(args.results, config, args.out, names=args.only or FIGURE_NAMES)
    for path in written:
        print(path)
    return 0


def run_refine_figure(args: argparse.Namespace) -> int:
    """Entry point of ``lacbed-bridge refine-figure``."""
    from .refine import write_recovered_delta

    for path in write_recovered_delta(args.study):
        print(path)
    return 0
