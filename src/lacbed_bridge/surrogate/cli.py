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

    c = subparsers.add_parser("train-estimator", help="train the charge estimator: δ (and thickness) with a calibrated σ "
                              "from one LACBED disc")
    c.add_argument("--dataset", type=Path, required=True, help="dataset folder (lacbed-bridge dataset)")
    c.add_argument("--seed", type=int, required=True, help="training seed")
    c.add_argument("--out", type=Path, required=True, help="output folder (model.pt, train_log.csv)")
    c.add_argument("--config", type=Path, help="config.yaml (its estimator: block)")
    c.add_argument("--epochs", type=int, help="override estimator.epochs")
    c.add_argument("--split", help="override estimator.split")
    c.set_defaults(func=run_train_estimator)

    e = subparsers.add_parser("evaluate", help="score a trained model on a split (per sample, per space group)")
    e.add_argument("--model", type=Path, required=True, help="checkpoint (model.pt) or its folder")
    e.add_argument("--dataset", type=Path, required=True)
    e.add_argument("--split", required=True, help="split name (random_0, loso_F-43m, ...)")
    e.add_argument("--subset", choices=("train", "val", "test"), default="test")
    e.add_argument("--out", type=Path, required=True, help="folder for per_sample.csv, per_group.csv, metrics.json")
    e.add_argument("--config", type=Path, help="config.yaml (its evaluate: block)")
    e.add_argument("--device", choices=("auto", "cpu", "cuda"))
    e.add_argument("--counts", type=float, help="charge estimator: score Poisson draws of the discs at this many counts "
                   "per pixel at the disc's mean intensity")
    e.add_argument("--seed", type=int, default=0, help="seed of the Poisson draws (--counts)")
    e.set_defaults(func=run_evaluate)

    p = subparsers.add_parser("predict", help="predict images with a trained model (one file or a folder)")
    p.add_argument("model", type=Path, help="checkpoint (model.pt) or its folder")
    p.add_argument("input", type=Path, help="input .tif (or .cif for edd2lacbed models), or a folder of them")
    p.add_argument("--out", type=Path, help="output .tif for one input, else a folder (a charge estimator: a .json, optional)")
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


def run_train_estimator(args: argparse.Namespace) -> int:
    """Entry point of ``lacbed-bridge train-estimator``."""
    from ..config import load_config
    from .config import EstimatorConfig
    from .estimator_train import train_estimator

    _logging()
    block = load_config(args.config).get("estimator") if args.config else None
    config = EstimatorConfig.from_mapping(block, epochs=args.epochs, split=args.split)
    print(f"train-estimator: {train_estimator(args.dataset, args.out, seed=args.seed, config=config)}")
    return 0


def _evaluate_estimator(args: argparse.Namespace, device: str) -> int:
    from .estimator_eval import evaluate_estimator, write_estimator_evaluation

    table, groups, summary = evaluate_estimator(args.model, args.dataset, split=args.split, subset=args.subset,
                                                counts=args.counts, seed=args.seed, device=device)
    write_estimator_evaluation(args.out, table, groups, summary)
    parts = [f"{t} RMS {summary[t + '_rmse']:.3g} (middle of the training range {summary[t + '_prior_rmse']:.3g}), "
             f"68 % / 95 % intervals cover {summary[t + '_coverage68']:.0%} / {summary[t + '_coverage95']:.0%}"
             for t in summary["targets"]]
    print(f"evaluate: n={summary['n']} " + "; ".join(parts) + f" -> {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Entry point of ``lacbed-bridge evaluate`` (an image model, or a charge estimator)."""
    from ..config import load_config
    from .checkpoint import load_checkpoint
    from .config import EvaluateConfig
    from .estimator import is_estimator
    from .evaluate import evaluate, write_evaluation

    _logging()
    if is_estimator(load_checkpoint(args.model)):
        return _evaluate_estimator(args, args.device or "cpu")
    if args.counts is not None:
        raise InputError("--counts scores a charge estimator on noisy discs; this is an image model", field="--counts")
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

    from .checkpoint import load_checkpoint
    from .estimator import is_estimator

    ckpt = load_checkpoint(args.model)
    if is_estimator(ckpt):
        return _predict_estimate(args, ckpt)
    if args.out is None:
        raise InputError("an image model writes images: give --out", field="--out")
    config = load_config(args.config) if args.config else None
    if args.family:
        if config is None:
            raise InputError("--family needs --config (the family is looked up in its families list)", field="--family")
    edd = None
    if config is not None:
        from ..edd.settings import edd_settings

        edd = edd_settings(config, family=args.family)
    written = predict_files(args.model, args.input, args.out, edd=edd, device=args.device)
    print(f"predict: {len(written)} image(s) -> {args.out}")
    return 0


def _predict_estimate(args: argparse.Namespace, ckpt: dict) -> int:
    """``predict ESTIMATOR DISC.tif``: one line per disc (δ ± σ, ...), and the JSON with --out
    (``ckpt``: the estimator's checkpoint, already loaded)."""
    import numpy as np

    from ..io import read_tiff, write_text_atomic
    from .estimator import estimate_json, estimate_text, estimator_from_checkpoint
    from .predict import list_inputs

    estimator = estimator_from_checkpoint(ckpt, device=args.device if args.device != "auto" else "cpu")
    paths = list_inputs(args.input)
    discs = []
    for path in paths:
        image = read_tiff(path)[0]
        if image.shape != (estimator.side, estimator.side):
            raise InputError(f"disc shape {image.shape} does not match the estimator's {estimator.side} × {estimator.side} "
                             "(a measured frame: cut it to the model grid with lacbed-bridge refine first)", path=path,
                             field="shape")
        discs.append(image)
    values = estimator.estimate(np.stack(discs))
    for i, path in enumerate(paths):
        print(f"{path.name}: {estimate_text(values, i)}")
    if args.out is not None:
        write_text_atomic(args.out, estimate_json(values, [str(p) for p in paths], estimator.info))
    return 0
