"""Fixtures of the dataset tests: small real inputs written with write_tiff (see tests/support/synthetic.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import synthetic


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A results folder with three families (6 + 4 + 4 samples, 32² px)."""
    root = tmp_path / "results"
    return root, synthetic.make_results(root)
