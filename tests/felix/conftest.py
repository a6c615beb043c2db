"""Fixtures of the Felix-backend tests: the shared reference runs and stand-in executables.

The reference data (real Felix 9034b2a inputs and outputs) lives in ``tests/data/felix_reference``;
a missing reference is a failure. The stand-ins in ``fakes/``
are copied into ``tmp_path`` with a shebang pointing at this interpreter and made executable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.felix_refdata import FAKES, install_script, reference_case


@pytest.fixture
def no_felix_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of resolution and failures must not see a FELIX_EXECUTABLE of the user."""
    monkeypatch.delenv("FELIX_EXECUTABLE", raising=False)
    for var in ("FAKE_FELIX_MODE", "FAKE_FELIX_REFERENCE", "FAKE_FELIX_STATE", "FAKE_FELIX_FAILS", "FAKE_FELIX_PIDS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake_felix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_felix_env: None) -> Callable[..., Path]:
    """Install the stand-in Felix; returns ``make(mode, case)`` which sets its behaviour and
    the reference case it copies outputs from, and returns the executable's path."""
    executable = install_script(FAKES / "fake_felix.py", tmp_path / "bin" / "felix.fake")

    def make(mode: str = "ok", case: str = "GaAs_m110_930A_64px") -> Path:
        monkeypatch.setenv("FAKE_FELIX_MODE", mode)
        monkeypatch.setenv("FAKE_FELIX_REFERENCE", str(reference_case(case)))
        return executable

    return make
