"""Fixtures of the dataset tests: small real inputs written with write_tiff (see dataset_synthetic.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("lacbed_test_synthetic", Path(__file__).with_name("dataset_synthetic.py"))
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A results folder with three families (6 + 4 + 4 samples, 32² px)."""
    root = tmp_path / "results"
    return root, synthetic.make_results(root)
