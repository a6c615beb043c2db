"""Shared fixtures of the crystal-stage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[2]
FELIX_REFERENCE = REPO / ".." / "shared" / "felix_reference"
REFERENCE_CIF = FELIX_REFERENCE / "GaAs_m110_930A_64px" / "felix.cif"


@pytest.fixture
def reference_cif() -> Path:
    """The GaAs felix.cif of the shared Felix reference runs (skips when shared/ is absent)."""
    if not REFERENCE_CIF.is_file():
        pytest.skip(f"shared Felix reference data not found at {REFERENCE_CIF}")
    return REFERENCE_CIF
