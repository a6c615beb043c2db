"""``lacbed-bridge dataset``: build the dataset stacks, manifest and splits (docs/architecture.md §6)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import section_settings
from ..errors import InputError


@dataclass(frozen=True)
class DatasetSettings:
    """The dataset stage's settings (config ``dataset``; the schema documents each key and holds
    the defaults): split_fractions (train, val, test), random_splits, loso_groups ("all" or a list of
    space groups, [] = none), side [px] (None: the most common side among the samples)."""

    split_fractions: tuple[float, ...]
    random_splits: int
    loso_groups: str | tuple[str, ...]
    side: int | None

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> DatasetSettings:
        """From a config (None, or absent keys: the schema's defaults)."""
        block = section_settings(config or {}, "dataset")
        groups = block["loso_groups"]
        return cls(split_fractions=tuple(float(f) for f in block["split_fractions"]), random_splits=int(block["random_splits"]),
                   loso_groups=groups if isinstance(groups, str) else tuple(groups),
                   side=None if block["side"] is None else int(block["side"]))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dataset`` sub-command."""
    p = subparsers.add_parser(
        "dataset",
        help="build edd.tif/lacbed.tif stacks, manifest.csv, dataset.json and splits/",
        description=(
            "Collect per-sample EDD and LACBED images (and deformation-density images) into a dataset "
            "folder. Give either --results (uses RESULTS/variants/*/variants.csv, RESULTS/edd, "
            "RESULTS/lacbed, RESULTS/deformation if present) or --variants with --edd-root and "
            "--lacbed-root (and --deformation-root)."
        ),
    )
    p.add_argument("--results", type=Path, help="results folder of the earlier stages")
    p.add_argument("--variants", type=Path, nargs="+", help="variants.csv files")
    p.add_argument("--edd-root", type=Path, help="folder holding <family>/<sample_id>.tif EDD images")
    p.add_argument("--lacbed-root", type=Path, help="folder holding <family>/<sample_id>.tif LACBED images")
    p.add_argument("--deformation-root", type=Path,
                   help="folder holding <family>/<sample_id>.tif deformation-density images (a third stack; "
                   "with --results, RESULTS/deformation is used when it exists)")
    p.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    p.add_argument("--config", type=Path, help="config.yaml (dataset: block, seed, config hash)")
    p.add_argument("--seed", type=int, help="split seed (default: the config's seed, else 0)")
    p.set_defaults(func=run_dataset)


def run_dataset(args: argparse.Namespace) -> int:
    """Entry point of ``lacbed-bridge dataset``."""
    from ..config import config_hash, load_config
    from .builder import build_dataset, sample_refs_from_variants

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    config = load_config(args.config) if args.config else None
    settings = DatasetSettings.from_config(config)
    if args.results is not None:
        import glob

        from ..layout import layout

        results = layout(args.results)
        variants = sorted(Path(p) for p in glob.glob(results.variants("*")))
        if not variants:
            raise InputError("no variants/<family>/variants.csv found", path=args.results)
        edd_root, lacbed_root = Path(results.stage_root("edd")), Path(results.stage_root("lacbed"))
        deformation_root = Path(results.stage_root("deformation"))
        deformation_root = deformation_root if deformation_root.is_dir() else None
    else:
        if not (args.variants and args.edd_root and args.lacbed_root):
            raise InputError("give --results, or --variants with --edd-root and --lacbed-root", field="arguments")
        variants, edd_root, lacbed_root = args.variants, args.edd_root, args.lacbed_root
        deformation_root = args.deformation_root
    seed = args.seed if args.seed is not None else (config["seed"] if config else 0)
    provenance = None
    if config:
        provenance = config_hash({k: config.get(k) for k in ("seed", "families", "simulation", "edd", "dataset")})
    refs = sample_refs_from_variants(variants, edd_root=edd_root, lacbed_root=lacbed_root, deformation_root=deformation_root)
    info = build_dataset(
        refs,
        args.out,
        seed=seed,
        split_fractions=list(settings.split_fractions),
        n_random_splits=settings.random_splits,
        loso_groups=settings.loso_groups if isinstance(settings.loso_groups, str) else list(settings.loso_groups),
        side=settings.side,
        config_hash=provenance,
    )
    print(f"dataset: {info.n} samples of {info.side}² px, {len(info.excluded)} excluded, splits {sorted(info.splits)} -> {args.out}")
    return 0
