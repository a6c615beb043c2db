"""Convergence control: the beams grow until the disc's measured change is below the target, and the
measured error, the beams used and the verdict reach the TIFF metadata."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from lacbed_bridge.config import load_config
from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.errors import ConfigError
from lacbed_bridge.io import read_tiff
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.convergence import Convergence, simulate_converged
from lacbed_bridge.simulate.run import run_simulation, simulation_settings
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _case() -> tuple:
    proto = load_prototypes()["rocksalt"]
    crystal = proto.crystal(u_iso={"A": 0.006, "B": 0.008})
    settings = replace(LacbedSettings(), incident_beam_direction=(0, 0, 1), x_direction=(1, 0, 0), normal_direction=(0, 0, 1),
                       pixel_count=4, outer_convergence_angle=1.0, initial_thickness=500.0, final_thickness=500.0,
                       min_reflection_pool=20, min_strong_beams=8, absorb_flag=1, debye_waller_constant=0.5)
    return crystal, settings


def test_beams_grow_until_the_measured_change_is_below_the_target() -> None:
    crystal, settings = _case()
    target = 0.01
    result = simulate_converged(crystal, settings, Convergence(target_rms=target, check_fraction=1.0), device="cpu")
    info = result.info
    steps = info["convergence_steps"]
    assert info["converged"] is True and info["convergence_rms"] <= target
    assert len(steps) >= 2  # the starting beams are not enough here: they were raised
    assert steps[0][2] > target and steps[-1][2] == info["convergence_rms"]
    assert [s[1] for s in steps] == sorted(s[1] for s in steps)
    assert info["min_strong_beams_used"] == steps[-1][1] > settings.min_strong_beams

    # the estimate is honest: a much larger beam set is within a few targets of the returned disc,
    # and the returned disc is much closer to it than the starting one
    big = replace(settings, min_reflection_pool=400, min_strong_beams=160)
    reference = simulate_builtin(crystal, big, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc()
    start = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc()
    error = float(np.sqrt(np.mean((result.disc() - reference) ** 2)))
    assert error < 3 * target
    assert error < 0.5 * float(np.sqrt(np.mean((start - reference) ** 2)))


def test_the_beam_limit_stops_growth_and_says_not_converged() -> None:
    crystal, settings = _case()
    result = simulate_converged(crystal, settings, Convergence(target_rms=1e-9, max_strong_beams=15), device="cpu")
    assert result.info["converged"] is False
    assert result.info["convergence_rms"] > 1e-9
    assert result.info["min_strong_beams_used"] <= 15


def test_convergence_needs_the_shell_pool() -> None:
    crystal, settings = _case()
    with pytest.raises(ConfigError, match="simulation.pool"):
        simulate_converged(crystal, settings, Convergence(), BuiltinOptions.as_felix(), device="cpu")
    with pytest.raises(ConfigError, match="growth"):
        Convergence.from_config({"growth": 1.0})


def test_options_from_the_config_and_the_tiff_metadata(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())
    config["simulation"].update(pixel_count=4, min_reflection_pool=20, min_strong_beams=8, device="cpu",
                                convergence={"target_rms": 0.02})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    cfg = load_config(path)
    sim = simulation_settings(cfg)
    assert sim.builtin.pool_mode == "shells" and sim.builtin.use_symmetry
    assert sim.convergence == Convergence(target_rms=0.02)  # schema defaults for the rest
    cif = REPO_ROOT / "tests" / "data" / "felix_reference" / "GaAs_m110_930A_64px" / "felix.cif"
    cfg["simulation"].update(incident_beam_direction=[0, 0, 1], x_direction=[1, 0, 0], normal_direction=[0, 0, 1])
    _, meta = read_tiff(run_simulation(cif, simulation_settings(cfg), tmp_path / "a.tif"))
    assert meta["info_pool_mode"] == "shells" and meta["info_converged"] is True
    assert meta["info_convergence_rms"] <= 0.02 and meta["info_symmetry"] == "2mm"
    assert meta["info_min_strong_beams_used"] >= 8 and meta["info_pool_size"] >= meta["info_min_reflection_pool_used"]

    cfg["simulation"]["convergence"] = None
    _, plain = read_tiff(run_simulation(cif, simulation_settings(cfg), tmp_path / "b.tif"))
    assert "info_convergence_rms" not in plain and plain["info_pool_mode"] == "shells"
