"""The ``lacbed-bridge`` command line.

Each stage registers its own sub-commands from a small ``cli`` module of its subpackage
(``crystal/cli.py``, ``edd/cli.py``, ``simulate/cli.py``, ...), so this file only assembles them
and turns every :class:`~lacbed_bridge.errors.LacbedError` into a one-line message and exit
status 2 (no traceback for bad input).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import config_cli
from .version import __version__
from .crystal import cli as crystal_cli
from .pipeline import batch
from .dataset import cli as dataset_cli
from .edd import cli as edd_cli
from .errors import LacbedError
from .figures import cli as figures_cli
from .refine import run as refine_cli
from .simulate import cli as simulate_cli
from .surrogate import cli as surrogate_cli
from .surrogate import summary

#: The stage modules that define ``register(subparsers)``, imported explicitly (a broken module
#: is an error, not a missing command). Each imports its heavy dependencies (torch, gemmi,
#: matplotlib, pandas) only inside its command functions, so ``lacbed-bridge --help`` stays fast.
STAGE_CLI_MODULES = (config_cli, crystal_cli, edd_cli, simulate_cli, dataset_cli, surrogate_cli, figures_cli, refine_cli, batch, summary)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every stage's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="lacbed-bridge",
        description="Crystal families, LACBED (000)-disc simulation, EDD images and a pix2pix surrogate.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in STAGE_CLI_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input or failed stage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        result = args.func(args)
    except LacbedError as exc:
        print(f"lacbed-bridge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that is a folder, unreadable, on a full disk...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"lacbed-bridge {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"lacbed-bridge {args.command}: error: out of memory: the crystal or the settings ask for more than this "
              "machine has (a larger cell means more reflections and atoms; see the limits in docs/conventions.md)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lacbed-bridge {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
