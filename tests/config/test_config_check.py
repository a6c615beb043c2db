"""The whole config is checked before any job runs (issue: robustness, item 4): settings that only
failed inside the simulation jobs are refused up front, naming our config key."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lacbed_bridge.config import validate_config
from lacbed_bridge.errors import ConfigError
from lacbed_bridge.pipeline.config_check import check_workflow_config

REPO = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((REPO / "config.yaml").read_text())


def _check(simulation: dict | None = None, families: list | None = None) -> None:
    """The whole-config check the workflow and check-config run (family names included)."""
    config = copy.deepcopy(DEMO)
    config["simulation"].update(simulation or {})
    if families is not None:
        config["families"] = families
    check_workflow_config(validate_config(config))


@pytest.mark.parametrize("path", [REPO / "config.yaml", *sorted((REPO / "configs").glob("*.yaml"))], ids=lambda p: p.name)
def test_the_shipped_configs_pass(path: Path) -> None:
    check_workflow_config(validate_config(yaml.safe_load(path.read_text())))


@pytest.mark.parametrize(("change", "key"), [
    ({"incident_beam_direction": [0, 0, 0]}, "simulation.incident_beam_direction"),
    ({"x_direction": [0, 0, 1]}, "simulation.x_direction"),  # x parallel to the beam
    ({"normal_direction": [0, 0, 0]}, "simulation.normal_direction"),
    ({"normal_direction": [1, 0, 0]}, "simulation.normal_direction"),  # normal across the beam
    ({"initial_thickness": 600.0, "final_thickness": 500.0}, "simulation.final_thickness"),
    ({"thickness_index": 3}, "simulation.thickness_index"),
    ({"min_reflection_pool": 100, "min_strong_beams": 150}, "simulation.min_strong_beams"),
])
def test_bad_simulation_settings_name_the_config_key(change: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _check(change)


def test_duplicate_family_names() -> None:
    families = [{"name": "same", "prototype": "zincblende", "n_variants": 2}, {"name": "same", "prototype": "rocksalt", "n_variants": 2}]
    with pytest.raises(ConfigError, match=r"families\[1\]\.name"):
        _check(families=families)


def test_unknown_prototype() -> None:
    with pytest.raises(ConfigError, match=r"families\[0\]\.prototype"):
        _check(families=[{"name": "x", "prototype": "nonesuch", "n_variants": 2}])


@pytest.mark.slow
def test_snakemake_dry_run_stops_before_any_job(tmp_path: Path) -> None:
    config = copy.deepcopy(DEMO)
    config["simulation"]["x_direction"] = [0, 0, 1]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    bin_dir = Path(sys.executable).parent
    done = subprocess.run([str(bin_dir / "snakemake"), "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                           "--configfile", str(tmp_path / "bad.yaml")], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "simulation.x_direction" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


def test_the_config_check_does_not_import_the_solver() -> None:
    """check_config runs in every snakemake call: it must not pull in torch."""
    code = "import sys; from lacbed_bridge.simulate.run import check_config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
