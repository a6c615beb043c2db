"""Shared helpers of the Felix-backend tests (reference-data paths, stand-in installation)."""

from __future__ import annotations

import shutil
import stat
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = REPO_ROOT / "tests" / "data" / "felix_reference"
FAKES = Path(__file__).resolve().parents[1] / "felix" / "fakes"

#: reference case → reflections whose discs it holds
CASES: dict[str, list[tuple[int, int, int]]] = {
    "GaAs_m110_930A_64px": [(0, 0, 0), (2, 2, 0)],
    "GaAs_m110_930A_64px_noabs": [(0, 0, 0)],
    "GaAs_m110_930A_64px_propabs": [(0, 0, 0)],
    "GaAs_m110_3t_128px": [(0, 0, 0), (2, 2, 0)],
}


def reference_case(case: str) -> Path:
    """The folder of one reference case (a missing reference is a failure, not a skip)."""
    folder = REFERENCE / case
    if not (folder / "felix.inp").is_file():
        pytest.fail(f"Felix reference data missing: {folder} (tests/data/felix_reference is part of the repository)")
    return folder


def install_script(source: Path, target: Path) -> Path:
    """Copy a stand-in script to ``target`` with this interpreter in its shebang; make it executable."""
    lines = source.read_text().splitlines(keepends=True)
    lines[0] = f"#!{sys.executable}\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(lines))
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


def copy_inputs(case: str, run_dir: Path) -> Path:
    """A run folder holding only the reference case's felix.inp, felix.cif and felix.hkl."""
    source = reference_case(case)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("felix.inp", "felix.cif", "felix.hkl"):
        shutil.copyfile(source / name, run_dir / name)
    return run_dir
