"""Command-line entry points of the crystal stage.

``lacbed-bridge variants CONFIG --family NAME --out DIR``: write a family's CIFs and variants.csv.
``lacbed-bridge cif-check CIF [--block NAME]``: read a CIF and print a one-line summary.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Crystal


def summary(crystal: Crystal) -> str:
    """One line: name, space group, cell [Å, deg], sites (label element) and atoms per cell."""
    a, b, c, alpha, beta, gamma = crystal.cell
    counts = Counter(crystal.sites[i].element for i, _ in crystal.unit_cell_atoms())
    content = " ".join(f"{el}{n}" for el, n in sorted(counts.items()))
    sites = ", ".join(f"{s.label} {s.element}" for s in crystal.sites)
    charged = any(s.pv is not None or s.kappa != 1.0 for s in crystal.sites)
    return (
        f"{crystal.name}: {crystal.formula or '?'}, {crystal.spacegroup or '?'} ({len(crystal.operations())} ops), "
        f"a={a:g} b={b:g} c={c:g} Å, α={alpha:g} β={beta:g} γ={gamma:g}°, V={crystal.volume:.4f} Å³, "
        f"{len(crystal.sites)} sites ({sites}), cell content {content}" + (", kappa model" if charged else "")
    )


def _cmd_variants(args: argparse.Namespace) -> int:
    from ..config import load_config
    from .variants import write_family

    config = load_config(args.config)
    csv_path = write_family(config, args.family, args.out)
    with open(csv_path) as handle:
        n = sum(1 for _ in handle) - 1
    print(f"wrote {n} variants of {args.family} to {args.out} ({csv_path.name})")
    return 0


def _cmd_cif_check(args: argparse.Namespace) -> int:
    from .cif import read_cif

    print(summary(read_cif(args.cif, block=args.block)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``variants`` and ``cif-check`` sub-commands."""
    p = subparsers.add_parser("variants", help="write the CIFs and variants.csv of one crystal family")
    p.add_argument("config", metavar="CONFIG", help="config YAML (see src/lacbed_bridge/schemas/config.schema.yaml)")
    p.add_argument("--family", required=True, metavar="NAME", help="family name (config families[].name)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for <sample_id>.cif and variants.csv")
    p.set_defaults(func=_cmd_variants)

    q = subparsers.add_parser("cif-check", help="read a CIF and print a one-line summary")
    q.add_argument("cif", metavar="CIF", help="CIF file")
    q.add_argument("--block", default=None, help="data block name (default: the first)")
    q.set_defaults(func=_cmd_cif_check)
