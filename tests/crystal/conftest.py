"""Shared fixtures of the crystal-stage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[2]
FELIX_REFERENCE = REPO / "tests" / "data" / "felix_reference"
REFERENCE_CIF = FELIX_REFERENCE / "GaAs_m110_930A_64px" / "felix.cif"


@pytest.fixture
def reference_cif() -> Path:
    """The GaAs felix.cif of the Felix reference runs (tests/data; missing is a failure)."""
    if not REFERENCE_CIF.is_file():
        pytest.fail(f"Felix reference data missing: {REFERENCE_CIF}")
    return REFERENCE_CIF
