"""``lacbed-bridge train | evaluate | predict``: the surrogate's sub-commands (docs/architecture.md §7)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..dataset import DIRECTIONS
from ..errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``evaluate`` and ``predict``."""
    t = subparsers.add_parser("train", help="train the pix2pix surrogate (or the regression U-Net)")
    t.add_argument("--dataset", type=Path, required=True, help="dataset folder (lacbed-bridge dataset)")
    t.add_argument("--direction", choices=sorted(DIRECTIONS), required=True)
    t.add_argument("--seed", type=int, required=True, help="training seed")
    t.add_argument("--out", type=Path, required=True, help="output folder (model.pt, last.pt, train_log.csv)")
    t.add_argument("--config", type=Path, help="config.yaml (its train: block)")
    t.add_argument("--model", choices=("pix2pix", "unet"), help="override train.model")
    t.add_argument("--epochs", type=int, help="override train.epochs")
    t.add_argument("--split", help="override train.split (e.g. random_0, loso_F-43m)")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt (refuse a checkpoint of another run)")
    t.add_argument(
        "--resume-if-compatible",
        action="store_true",
        help="continue from OUT/last.pt if it belongs to the same run (settings, dataset, seed), else start again",
    )
    t.set_defaults(func=run_train)

    e = subparsers.add_parser("evaluate", help="score a trained model on a split (per sample, per space group)")
    e.add_argument("--model", type=Path, required=True, help="checkpoint (model.pt) or its folder")
    e.add_argument("--dataset", type=Path, required=True)
    e.add_argument("--split", required=True, help="split name (random_0, loso_F-43m, ...)")
    e.add_argument("--subset", choices=("train", "val", "test"), default="test")
    e.add_argument("--out", type=Path, required=True, help="folder for per_sample.csv, per_group.csv, metrics.json")
    e.add_argument("--config", type=Path, help="config.yaml (its evaluate: block)")
    e.add_argument("--device", choices=("auto", "cpu", "cuda"))
    e.set_defaults(func=run_evaluate)

    p = subparsers.add_parser("predict", help="predict images with a trained model (one file or a folder)")
    p.add_argument("model", type=Path, help="checkpoint (model.pt) or its folder")
    p.add_argument("input", type=Path, help="input .tif (or .cif for edd2lacbed models), or a folder of them")
    p.add_argument("--out", type=Path, required=True, help="output .tif for one input, else a folder")
    p.add_argument("--config", type=Path, help="config.yaml (needed for CIF input: EDD projection settings)")
    p.add_argument("--family", help="project CIF input with this config family's geometry (families[].geometry), "
                   "as the workflow did for that family's EDD images")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(func=run_predict)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")


def run_train(args: argparse.Namespace) -> int:
    """Entry point of ``lacbed-bridge train``."""
    from ..config import load_config
    from .config import TrainConfig
    from .train import train

    _logging()
    block = load_config(args.config).get("train") if args.config else None
    config = TrainConfig.from_mapping(block, model=args.model, epochs=args.epochs, split=args.split, device=args.device)
    path = train(
        args.dataset, args.out, direction=args.direction, seed=args.seed, config=config,
        resume="if-compatible" if args.resume_if_compatible else args.resume,
        progress=sys.stderr.isatty()
    )
    print(f"train: {path}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Entry point of ``lacbed-bridge evaluate``."""
    from ..config import load_config
    from .config import EvaluateConfig
    from .evaluate import evaluate, write_evaluation

    _logging()
    settings = EvaluateConfig.from_mapping(load_config(args.config).get("evaluate") if args.config else None)
    done = evaluate(
        args.model, args.dataset, split=args.split, subset=args.subset, batch_size=settings.batch_size, device=args.device or settings.device
    )
    summary = done.summary
    write_evaluation(args.out, done.per_sample, summary, done.predictions)
    print(f"evaluate: n={summary['n']} mse={summary['mse']:.4g} ssim={summary['ssim']:.4g} psnr={summary['psnr']:.4g} dB -> {args.out}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Entry point of ``lacbed-bridge predict``."""
    from ..config import load_config
    from .predict import predict_files

    config = load_config(args.config) if args.config else None
    if args.family:
        if config is None:
            raise InputError("--family needs --config (the family is looked up in its families list)", field="--family")
        from ..family_geometry import family_config

        config = family_config(config, args.family)
    written = predict_files(args.model, args.input, args.out, config=config, device=args.device)
    print(f"predict: {len(written)} image(s) -> {args.out}")
    return 0
