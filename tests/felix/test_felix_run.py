"""Running Felix: command resolution, success, retries, log, MPI warning and every failure path,
driven by stand-in executables (tests/felix/fakes/) that behave like a working or failing Felix."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.felix_refdata import FAKES, copy_inputs, install_script, reference_case

from lacbed_bridge.errors import ConfigError, InputError, SimulationError
from lacbed_bridge.simulate.felix.backend import run_felix_dir, simulate_felix
from lacbed_bridge.simulate.felix.files import disc_file_name, output_folder_name
from lacbed_bridge.simulate.felix.runner import (
    FelixMPIWarning,
    felix_command,
    mpi_ranks,
    parse_felix_ranks,
    parse_felix_times,
    parse_felix_version,
    resolve_felix_executable,
)
from lacbed_bridge.simulate.felix.inp import parse_felix_inp

FakeFactory = Callable[..., Path]


def _outputs(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.is_dir())


def _running(pid: int, wait_s: float = 5.0) -> bool:
    """Whether ``pid`` still runs after ``wait_s`` (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state in ("Z", "X"):
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


# ----- command resolution --------------------------------------------------------------------
def test_executable_precedence_env_over_config_over_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_felix_env: None) -> None:
    on_path = install_script(FAKES / "fake_felix.py", tmp_path / "path" / "felix")
    configured = install_script(FAKES / "fake_felix.py", tmp_path / "cfg" / "felix.OPT64NGNU.d")
    from_env = install_script(FAKES / "fake_felix.py", tmp_path / "env" / "felix-env")
    monkeypatch.setenv("PATH", f"{on_path.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert resolve_felix_executable({}) == str(on_path)
    assert resolve_felix_executable({"executable": str(configured)}) == str(configured)
    monkeypatch.setenv("FELIX_EXECUTABLE", str(from_env))
    assert resolve_felix_executable({"executable": str(configured)}) == str(from_env)
    # the command's word 'felix' becomes the executable; other words stay
    assert felix_command({"command": "mpirun -n 1 felix"}) == ["mpirun", "-n", "1", str(from_env)]


def test_executable_not_found_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_felix_env: None) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SimulationError, match=r"FELIX_EXECUTABLE is unset.*no 'felix' on PATH"):
        resolve_felix_executable({})
    with pytest.raises(SimulationError, match=r"executable='/nowhere/felix' is not an executable file"):
        resolve_felix_executable({"executable": "/nowhere/felix"})
    not_executable = tmp_path / "felix"
    not_executable.write_text("data")
    monkeypatch.setenv("FELIX_EXECUTABLE", str(not_executable))
    with pytest.raises(SimulationError, match=r"\$FELIX_EXECUTABLE=.* is not an executable file"):
        resolve_felix_executable({})
    with pytest.raises(ConfigError, match="must contain the word 'felix'"):
        felix_command({"command": "mpirun -n 2 /opt/felix.d"})
    with pytest.raises(ConfigError, match="unknown key"):
        felix_command({"comand": "felix"})


def test_simulate_names_the_sample_when_felix_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_felix_env: None) -> None:
    run = copy_inputs("GaAs_m110_930A_64px_noabs", tmp_path / "GaAs_sample_000001")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SimulationError, match=r"GaAs_sample_000001: Felix executable not found"):
        run_felix_dir(run, {})
    assert _outputs(run) == []


@pytest.mark.parametrize(
    ("argv", "ranks"),
    [(["felix"], 1), (["mpirun", "-n", "4", "felix"], 4), (["mpirun", "-np", "2", "felix"], 2),
     (["mpiexec", "--np=3", "felix"], 3), (["srun", "felix"], 1)],
)
def test_mpi_ranks(argv: list[str], ranks: int) -> None:
    assert mpi_ranks(argv) == ranks


@pytest.mark.parametrize(
    ("case", "times"),
    [("GaAs_m110_930A_64px", {"Absorption": 6.0, "Simulation": 17.0, "Calculation": 24.0}),
     ("GaAs_m110_3t_128px", {"Absorption": 4.0, "Simulation": 63.0, "Calculation": 68.0})],
)
def test_parse_real_felix_console_output(case: str, times: dict[str, float]) -> None:
    text = (reference_case(case) / "stdout.txt").read_text()
    assert parse_felix_times(text) == times
    assert parse_felix_version(text) == "2.2.0-157-g9034b2a9 master " + text.splitlines()[3].strip().strip("'")
    assert parse_felix_ranks(text) == 1


# ----- success -------------------------------------------------------------------------------
def test_run_felix_dir_leaves_what_felix_leaves_and_reads_every_disc(tmp_path: Path, fake_felix: FakeFactory) -> None:
    executable = fake_felix("ok", "GaAs_m110_3t_128px")
    run = copy_inputs("GaAs_m110_3t_128px", tmp_path / "by_hand")
    result = run_felix_dir(run, {"executable": str(executable)})
    reference = reference_case("GaAs_m110_3t_128px")
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["felix.inp", "felix.cif", "felix.hkl", "felix.log",
         "GaAs_Sim_0800A_128x128", "GaAs_Sim_0900A_128x128", "GaAs_Sim_1000A_128x128"]
    )
    assert result.backend == "felix" and result.thicknesses == [800.0, 900.0, 1000.0]
    assert sorted(result.discs) == [(0, 0, 0), (2, 2, 0)]
    for hkl, stack in result.discs.items():
        assert stack.shape == (3, 128, 128)
        for i, t in enumerate(result.thicknesses):
            path = reference / output_folder_name("GaAs", t, 128) / disc_file_name("GaAs", hkl)
            assert np.array_equal(stack[i], np.fromfile(path, "<f8").reshape(128, 128))
    assert result.info["felix_times"] == {"Absorption": 6.0, "Simulation": 63.0, "Calculation": 3729.0}
    assert result.info["felix_version"].startswith("fake-0.0-test master")
    assert result.info["felix_attempts"] == 1 and result.seconds > 0
    log = (run / "felix.log").read_text()
    assert "felixrefine: 'fake-0.0-test'" in log and "attempt 1: exit status 0" in log


def test_simulate_felix_from_a_crystal(tmp_path: Path, fake_felix: FakeFactory) -> None:
    from lacbed_bridge.crystal.cif import read_cif
    reference = reference_case("GaAs_m110_930A_64px")
    crystal = read_cif(reference / "felix.cif")
    settings = parse_felix_inp(reference / "felix.inp")
    executable = fake_felix("ok", "GaAs_m110_930A_64px")
    with pytest.warns(UserWarning, match=r"no disc for \[\[1, 3, 7\]\] \(not in its beam pool\)"):
        result = simulate_felix(crystal, settings, {"executable": str(executable)}, work_dir=tmp_path / "work",
                                hkl=[(2, 2, 0), (1, 3, 7)], name="F-43m_zincblende_000003")
    expected = np.fromfile(reference / "GaAs_Sim_0930A_064x064" / "GaAs_+0+0+0.bin", "<f8").reshape(64, 64)
    assert np.array_equal(result.disc((0, 0, 0)), expected)
    assert result.discs[(0, 0, 0)].shape == (1, 64, 64)
    assert (2, 2, 0) in result.discs and (1, 3, 7) not in result.discs  # not in Felix's pool: no file
    assert result.info["felix_missing_hkl"] == [[1, 3, 7]]
    # keep_run_dir false: the run folder is gone, its log kept beside it
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["F-43m_zincblende_000003.felix.log"]
    kept = simulate_felix(crystal, settings, {"executable": str(executable), "keep_run_dir": True},
                          work_dir=tmp_path / "work", name="kept")
    assert (tmp_path / "work" / "kept" / "GaAs_Sim_0930A_064x064" / "GaAs_+0+0+0.bin").is_file()
    assert np.array_equal(kept.disc(), expected)


def test_retries_until_success_and_log_every_attempt(tmp_path: Path, fake_felix: FakeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = fake_felix("flaky", "GaAs_m110_930A_64px_noabs")
    monkeypatch.setenv("FAKE_FELIX_STATE", str(tmp_path / "count"))
    monkeypatch.setenv("FAKE_FELIX_FAILS", "2")
    run = copy_inputs("GaAs_m110_930A_64px_noabs", tmp_path / "GaAs_flaky")
    with pytest.raises(SimulationError, match=r"GaAs_flaky: Felix failed after 2 attempt\(s\).*exit status -9.*killed"):
        run_felix_dir(run, {"executable": str(executable), "retries": 1})
    assert _outputs(run) == []
    log = (run / "felix.log").read_text()
    assert "attempt 1/2" in log and "attempt 2: exit status -9" in log
    (tmp_path / "count").unlink()
    result = run_felix_dir(run, {"executable": str(executable), "retries": 2})
    assert result.info["felix_attempts"] == 3
    assert "attempt 3: exit status 0" in (run / "felix.log").read_text()


def test_input_errors_are_not_retried_and_felix_says_why(tmp_path: Path, fake_felix: FakeFactory,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """issue #11 item 8: a plain non-zero exit (Felix refusing its input) fails at once, and Felix's
    own message comes through (GFORTRAN_UNBUFFERED_PRECONNECTED=y, else MPI_Abort loses it)."""
    monkeypatch.delenv("GFORTRAN_UNBUFFERED_PRECONNECTED", raising=False)
    executable = fake_felix("crash", "GaAs_m110_930A_64px")
    run = copy_inputs("GaAs_m110_930A_64px", tmp_path / "GaAs_input")
    with pytest.raises(SimulationError, match=r"failed after 1 attempt\(s\).*error in ReadCif\(Cannot find .cif\)"):
        run_felix_dir(run, {"executable": str(executable), "retries": 3})
    log = (run / "felix.log").read_text()
    assert "attempt 1/4" in log and "attempt 2" not in log


def test_mpi_ranks_warn_unless_patched(tmp_path: Path, fake_felix: FakeFactory, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    executable = fake_felix("ok", "GaAs_m110_930A_64px_noabs")
    mpirun = install_script(FAKES / "fake_mpirun.py", tmp_path / "mpibin" / "mpirun")
    monkeypatch.setenv("PATH", f"{mpirun.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FELIX_EXECUTABLE", str(executable))
    run = copy_inputs("GaAs_m110_930A_64px_noabs", tmp_path / "mpi")
    with pytest.warns(FelixMPIWarning, match="4 MPI ranks.*wrong pixels"):
        result = run_felix_dir(run, {"command": "mpirun -n 4 felix"})
    assert result.info["felix_mpi_ranks"] == 4
    assert "WARNING" in (run / "felix.log").read_text()
    assert any("MPI ranks" in r.message for r in caplog.records)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FelixMPIWarning)
        run_felix_dir(run, {"command": "mpirun -n 4 felix", "patched_mpi": True})
        run_felix_dir(run, {"command": "mpirun -np 1 felix"})


def test_ranks_reported_by_felix_also_warn(tmp_path: Path, fake_felix: FakeFactory) -> None:
    """A launcher we do not parse (srun, a wrapper script): Felix's own rank count still warns."""
    executable = fake_felix("ok", "GaAs_m110_930A_64px_noabs")
    run = copy_inputs("GaAs_m110_930A_64px_noabs", tmp_path / "wrapped")
    with pytest.warns(FelixMPIWarning, match="Felix reports 2 MPI ranks"):
        result = run_felix_dir(run, {"executable": str(executable), "env": {"OMPI_COMM_WORLD_SIZE": 2}})
    assert result.info["felix_mpi_ranks"] == 2
    assert "# Felix version: fake-0.0-test master" in (run / "felix.log").read_text()


# ----- failures ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("crash", r"exit status 1.*error in ReadCif\(Cannot find .cif\)"),
        ("nofolder", r"Felix output folder missing for thickness 930 Å"),
        ("truncate", r"Felix output of the wrong size"),
        ("nan", r"1 NaN/inf pixel"),
        ("negative", r"1 negative pixel"),
    ],
)
def test_failing_felix_is_a_clear_error_and_leaves_no_output(tmp_path: Path, fake_felix: FakeFactory, mode: str, message: str) -> None:
    executable = fake_felix(mode, "GaAs_m110_930A_64px")
    run = copy_inputs("GaAs_m110_930A_64px", tmp_path / "GaAs_bad_000042")
    with pytest.raises(SimulationError, match=f"GaAs_bad_000042: .*{message}"):
        run_felix_dir(run, {"executable": str(executable), "retries": 0})
    assert _outputs(run) == []  # nothing a workflow could take as a result
    assert (run / "felix.log").is_file()


def test_simulate_felix_failure_keeps_inputs_and_log_only(tmp_path: Path, fake_felix: FakeFactory) -> None:
    from lacbed_bridge.crystal.cif import read_cif
    reference = reference_case("GaAs_m110_930A_64px")
    executable = fake_felix("nan", "GaAs_m110_930A_64px")
    with pytest.raises(SimulationError, match="zb_000001: Felix output has 1 NaN"):
        simulate_felix(read_cif(reference / "felix.cif"), parse_felix_inp(reference / "felix.inp"),
                       {"executable": str(executable)}, work_dir=tmp_path, name="zb_000001")
    assert sorted(p.name for p in (tmp_path / "zb_000001").iterdir()) == ["felix.cif", "felix.hkl", "felix.inp", "felix.log"]


@pytest.mark.slow
def test_hang_times_out_and_kills_the_process_group(tmp_path: Path, fake_felix: FakeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = fake_felix("hang", "GaAs_m110_930A_64px_noabs")
    pids_file = tmp_path / "pids"
    monkeypatch.setenv("FAKE_FELIX_PIDS", str(pids_file))
    run = copy_inputs("GaAs_m110_930A_64px_noabs", tmp_path / "GaAs_slow")
    start = time.perf_counter()
    with pytest.raises(SimulationError, match=r"GaAs_slow: .*timed out after 1.5 s \(process group killed\)"):
        run_felix_dir(run, {"executable": str(executable), "timeout_s": 1.5, "retries": 0})
    assert time.perf_counter() - start < 30
    for pid in (int(p) for p in pids_file.read_text().split()):
        assert not _running(pid)  # both the stand-in and its "rank" are gone
    assert not list(run.glob(".felix.out.*"))


def test_run_folder_inputs_are_checked(tmp_path: Path, fake_felix: FakeFactory) -> None:
    executable = fake_felix("ok")
    run = copy_inputs("GaAs_m110_930A_64px", tmp_path / "r")
    (run / "felix.hkl").unlink()
    with pytest.raises(InputError, match="missing felix.hkl"):
        run_felix_dir(run, {"executable": str(executable)})

