"""``lacbed-bridge check-config CONFIG``: the whole-config check the workflow runs before any job.

Kept apart from :mod:`.config` so that building the command-line parser imports nothing heavy.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """``lacbed-bridge check-config CONFIG``: the whole-config check the workflow runs first."""
    p = subparsers.add_parser(
        "check-config",
        help="check a config file as the workflow does before any job (YAML syntax with line and column, "
        "schema, geometry, beams, families)",
    )
    p.add_argument("config", help="config YAML")
    p.set_defaults(func=_check_config_command)


def _check_config_command(args: argparse.Namespace) -> int:
    from .config import load_config
    from .pipeline.config_check import check_workflow_config

    config = load_config(args.config)
    check_workflow_config(config, path=args.config)
    families = ", ".join(f["name"] for f in config["families"])
    print(f"{args.config}: ok ({config['simulation'].get('backend', 'builtin')} backend; families {families})")
    return 0
