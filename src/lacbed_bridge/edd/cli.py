"""``lacbed-bridge edd CIF --config CONFIG --out FILE.tif``: one projected-density image."""

from __future__ import annotations

import argparse
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from .images import write_edd
    from .settings import edd_settings

    settings = edd_settings(load_config(args.config), family=args.family)
    print(write_edd(args.cif, settings, args.out))
    if args.deformation is not None:
        print(write_edd(args.cif, settings, args.deformation, kind="deformation"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``edd`` sub-command."""
    p = subparsers.add_parser(
        "edd",
        help="projected electron density image (e/Å², float32 TIFF) of one CIF",
        description="Project the electron density of a crystal along the configured beam direction "
        "(Hansen–Coppens form factors, zero-order Laue zone) onto the LACBED image grid.",
    )
    p.add_argument("cif", type=Path, help="crystal structure (CIF)")
    p.add_argument("--config", type=Path, required=True, help="config.yaml (simulation and edd sections)")
    p.add_argument("--out", type=Path, required=True, help="output TIFF (total projected density)")
    p.add_argument("--family", help="use this config family's geometry (families[].geometry: beam, x direction)")
    p.add_argument("--deformation", type=Path, help="also write the deformation density ρ − ρ_IAM (neutral spherical atoms) here")
    p.set_defaults(func=_run)
