"""The command line: every sub-command is imported explicitly (a broken module is an error, not a
missing command), and building the parser imports none of the heavy libraries, so that
``lacbed-bridge --help`` costs well under a second."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lacbed_bridge.cli import STAGE_CLI_MODULES, build_parser

COMMANDS = ["variants", "cif-check", "edd", "simulate", "dataset", "train", "train-estimator", "evaluate", "predict", "figures",
            "refine", "refine-test", "refine-figure", "noisy", "batch", "metrics-summary", "check-config"]
HEAVY = ("torch", "gemmi", "matplotlib", "pandas", "numpy", "scipy", "tifffile", "jsonschema", "snakemake")


def test_parser_imports_no_heavy_library() -> None:
    code = ("import sys; import lacbed_bridge.cli as c; c.build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"building the parser imported {out}"


def test_every_command_is_registered() -> None:
    assert len(STAGE_CLI_MODULES) == 10
    choices = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert sorted(choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(command: str) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([command, "--help"])
    assert stop.value.code == 0
