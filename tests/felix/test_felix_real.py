"""The real Felix program, when $FELIX_EXECUTABLE points at a Felix binary (skipped otherwise).

Optional $FELIX_TEST_COMMAND sets the command line (default ``felix``; e.g.
``mpirun --allow-run-as-root -np 1 felix``). One MPI rank: unpatched Felix is wrong with more.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.felix_refdata import copy_inputs, reference_case

from lacbed_bridge.simulate.felix.backend import run_felix_dir, simulate_felix
from lacbed_bridge.simulate.felix.inp import parse_felix_inp
from lacbed_bridge.simulate.settings import BuiltinOptions

pytestmark = pytest.mark.slow


def _real_felix_cfg() -> dict:
    value = os.environ.get("FELIX_EXECUTABLE", "").strip()
    if not value:
        pytest.skip("FELIX_EXECUTABLE is not set (point it at a Felix binary to run these tests)")
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"FELIX_EXECUTABLE={value!r} is not an executable file")
    if path.read_bytes()[:2] == b"#!" and b"Stand-in for the Felix executable" in path.read_bytes():
        pytest.skip("FELIX_EXECUTABLE points at the test stand-in, not Felix")
    return {"command": os.environ.get("FELIX_TEST_COMMAND", "felix"), "timeout_s": 600, "retries": 0,
            "env": {"OPENBLAS_NUM_THREADS": "1"}}


def test_real_felix_reproduces_the_reference_run(tmp_path: Path) -> None:
    """The no-absorption reference case (≈ 15 s on 2 cores) run again in a copy of its inputs."""
    cfg = _real_felix_cfg()
    reference = reference_case("GaAs_m110_930A_64px_noabs")
    run = copy_inputs("GaAs_m110_930A_64px_noabs", tmp_path / "GaAs_noabs")
    result = run_felix_dir(run, cfg)
    expected = np.fromfile(reference / "GaAs_Sim_0930A_064x064" / "GaAs_+0+0+0.bin", "<f8").reshape(64, 64)
    ours = result.disc()
    # same program and inputs; only BLAS/compiler rounding may differ between builds
    assert np.abs(ours - expected).max() < 1e-4
    assert result.info["felix_version"] and "Calculation" in result.info["felix_times"]


def test_real_felix_agrees_with_the_builtin_backend(tmp_path: Path) -> None:
    cfg = _real_felix_cfg()
    from lacbed_bridge.simulate import bloch
    from lacbed_bridge.crystal.cif import read_cif
    reference = reference_case("GaAs_m110_930A_64px_noabs")
    crystal = read_cif(reference / "felix.cif")
    settings = replace(parse_felix_inp(reference / "felix.inp"), pixel_count=16)  # 32 × 32 px
    felix = simulate_felix(crystal, settings, cfg, work_dir=tmp_path, name="GaAs_small")
    builtin = bloch.simulate_builtin(crystal, settings, BuiltinOptions.as_felix())
    a, b = felix.disc(), builtin.disc()
    assert a.shape == b.shape == (32, 32)
    # measured on the 64 px case: max |ΔI| 0.03, r = 0.999994 (a rebuilt beam pool may differ
    # from Felix's by a shell-boundary reflection, docs/felix_physics.md §5)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9999
    assert np.abs(a - b).max() < 0.05
