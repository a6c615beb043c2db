"""The Felix backend through the command line and the workflow's simulation entry point, driven
by the stand-in Felix (tests/felix/fakes/fake_felix.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.felix_refdata import REFERENCE, reference_case

from lacbed_bridge.cli import main
from lacbed_bridge.io import read_tiff

REPO = Path(__file__).resolve().parents[2]


def test_dropin_with_the_felix_backend_leaves_what_felix_leaves(tmp_path: Path, fake_felix, monkeypatch: pytest.MonkeyPatch) -> None:
    case = "GaAs_m110_930A_64px_noabs"
    monkeypatch.setenv("FELIX_EXECUTABLE", str(fake_felix("ok", case)))
    run = tmp_path / "run"
    run.mkdir()
    for name in ("felix.inp", "felix.cif", "felix.hkl"):
        shutil.copy(reference_case(case) / name, run / name)
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix"]) == 0
    assert sorted(p.name for p in run.iterdir()) == ["GaAs_Sim_0930A_064x064", "felix.cif", "felix.hkl", "felix.inp", "felix.log"]
    # on request, our TIFF too
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix", "--out", str(tmp_path / "disc.tif")]) == 0
    image, meta = read_tiff(tmp_path / "disc.tif")
    expected = np.fromfile(REFERENCE / case / "GaAs_Sim_0930A_064x064" / "GaAs_+0+0+0.bin", "<f8").reshape(64, 64)
    assert np.allclose(image, expected, atol=1e-7) and meta["backend"] == "felix"


@pytest.mark.slow
def test_dropin_takes_felix_run_options(tmp_path: Path, fake_felix, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """--timeout, --retries, --threads and --config's simulation.felix reach the Felix run (issue #11 item 8)."""
    import time

    case = "GaAs_m110_930A_64px_noabs"
    run = tmp_path / "run"
    run.mkdir()
    for name in ("felix.inp", "felix.cif", "felix.hkl"):
        shutil.copy(reference_case(case) / name, run / name)
    env_out = tmp_path / "env.txt"
    monkeypatch.setenv("FAKE_FELIX_ENV_OUT", str(env_out))
    monkeypatch.setenv("FELIX_EXECUTABLE", str(fake_felix("ok", case)))
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix"]) == 0
    assert env_out.read_text() == "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=None"  # one BLAS thread per rank by default
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix", "--threads", "3"]) == 0
    assert env_out.read_text() == "OPENBLAS_NUM_THREADS=3 OMP_NUM_THREADS=3"
    # a config supplies its simulation.felix section (here: the thread setting through env)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"]["felix"] = {"env": {"OPENBLAS_NUM_THREADS": "2"}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix", "--config", str(tmp_path / "c.yaml")]) == 0
    assert env_out.read_text().startswith("OPENBLAS_NUM_THREADS=2 ")
    # a hanging Felix is stopped at --timeout, with no retry asked: one line, exit 2
    monkeypatch.setenv("FAKE_FELIX_PIDS", str(tmp_path / "pids"))
    fake_felix("hang", case)
    capsys.readouterr()
    start = time.perf_counter()
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix", "--timeout", "1.5", "--retries", "0"]) == 2
    assert time.perf_counter() - start < 30
    assert "timed out after 1.5 s" in capsys.readouterr().err
    # bad values and options that do not apply name the option
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
    assert main(["simulate", "--felix-dir", str(run), "--timeout", "5"]) == 2  # the builtin drop-in runs no Felix
    assert "--backend" in capsys.readouterr().err
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix", "--timeout", "-1"]) == 2
    assert "--timeout" in capsys.readouterr().err
    assert main(["simulate", "--felix-dir", str(run), "--backend", "felix", "--retries", "-1"]) == 2
    assert "--retries" in capsys.readouterr().err
    # with a CIF and a builtin-backend config the Felix options are refused, nothing written
    out = tmp_path / "disc.tif"
    assert main(["simulate", str(run / "felix.cif"), "--config", str(REPO / "config.yaml"), "--out", str(out), "--retries", "2"]) == 2
    assert "felix backend" in capsys.readouterr().err and not out.exists()


def test_workflow_entry_point_with_the_felix_backend(tmp_path: Path, fake_felix, monkeypatch: pytest.MonkeyPatch) -> None:
    from lacbed_bridge.config import validate_config
    from lacbed_bridge.simulate.run import run_simulation, simulation_settings
    from lacbed_bridge.simulate.felix.inp import parse_felix_inp

    case = "GaAs_m110_930A_64px"
    monkeypatch.setenv("FELIX_EXECUTABLE", str(fake_felix("ok", case)))
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"] = {"backend": "felix", **parse_felix_inp(reference_case(case) / "felix.inp").to_config()}
    config = validate_config(config)
    config["output"] = {"results": str(tmp_path / "results"), "logs": str(tmp_path / "my logs")}
    out = run_simulation(reference_case(case) / "felix.cif", simulation_settings(config), tmp_path / "sample.tif")
    image, meta = read_tiff(out)
    assert image.shape == (64, 64) and meta["backend"] == "felix" and meta["thickness_A"] == 930.0
    # the log the metadata names is kept under the config's logs folder (issue #11 item 8)
    assert Path(meta["info_felix_log"]).is_file() and Path(meta["info_felix_log"]).parent == tmp_path / "my logs" / "felix"
    # a failed run keeps its folder (inputs + felix.log) there too, and the error names it
    monkeypatch.setenv("FELIX_EXECUTABLE", str(fake_felix("crash", case)))
    from lacbed_bridge.errors import SimulationError

    with pytest.raises(SimulationError, match="error in ReadCif") as err:
        run_simulation(reference_case(case) / "felix.cif", simulation_settings(config), tmp_path / "sample2.tif")
    logs = list((tmp_path / "my logs" / "felix").glob("*/felix.log"))
    assert len(logs) == 1 and str(logs[0]) in str(err.value) and not (tmp_path / "sample2.tif").exists()
