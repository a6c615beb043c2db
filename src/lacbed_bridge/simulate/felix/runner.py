"""Running the Felix program in a prepared folder: command resolution, timeout, retries, log.

Felix (WarwickMicroscopy/Felix, Fortran + MPI) reads ``felix.inp``, ``felix.cif`` and
``felix.hkl`` from its working directory and writes its discs there. This module only runs it:

- the executable: ``$FELIX_EXECUTABLE``, else config ``simulation.felix.executable``, else ``felix``
  on ``PATH``; the configured command line (``felix`` or ``mpirun -n 4 felix``) has its word
  ``felix`` replaced by that executable;
- one attempt = one subprocess in its own process group, stdout and stderr into one stream, a
  wall-clock timeout that kills the whole group (mpirun and its ranks); only attempts that a
  retry can cure — a timeout, or death by a signal (negative status, or 128 + n from a launcher:
  a node's OOM killer, a pre-emption) — are retried, up to ``retries`` times; a plain non-zero
  exit is Felix refusing its input and fails at once;
- the environment: ``GFORTRAN_UNBUFFERED_PRECONNECTED=y`` (gfortran buffers Felix's output into a
  pipe and MPI_Abort then loses it: with it Felix's own error message reaches the log and the
  error) and ``OPENBLAS_NUM_THREADS=1`` (one BLAS thread per MPI rank), unless already set;
- ``felix.log`` in the run folder gets every attempt's command, output and outcome, written
  atomically when the run ends (success or not);
- Felix's version line and its own reported times (``Absorption    0 hrs   0 mins   6 sec``, printed
  by message_mod.f90 PrintEndTime) are parsed from its output.

Unpatched Felix gives wrong pixels with more than one MPI rank (ug_matrix_mod.f90 broadcasts the
complex Ug matrix as MPI_DOUBLE_PRECISION, i.e. half of it; docs/architecture.md §4, docs/felix_physics.md §9.1): such a
command warns unless ``patched_mpi: true``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import schema_defaults
from ...errors import ConfigError, SimulationError
from ...io import write_text_atomic

log = logging.getLogger(__name__)

ENV_VAR = "FELIX_EXECUTABLE"
LOG_NAME = "felix.log"
#: the defaults of config ``simulation.felix``, read from the schema (the one place they are written)
FELIX_DEFAULTS: dict[str, Any] = schema_defaults("simulation.felix")
#: seconds between SIGTERM and SIGKILL when a timed-out process group is stopped
KILL_GRACE_S = 5.0
_CFG_FIELD = "simulation.felix"


class FelixMPIWarning(UserWarning):
    """More than one MPI rank with a Felix build that has the Ug broadcast bug."""


@dataclass
class FelixRun:
    """What one successful Felix run did.

    Attributes
    ----------
    run_dir: the folder Felix ran in.
    command: the argument list that ran (executable resolved).
    wall_seconds: wall time of the successful attempt [s].
    total_seconds: wall time of all attempts together [s].
    attempts: how many attempts were made (1 = first try succeeded).
    mpi_ranks: MPI ranks of the command (1 without mpirun).
    felix_times: Felix's own reported times [s] by task (``Absorption``, ``Simulation``,
        ``Calculation``; whole seconds as Felix prints them).
    version: Felix's version text (``2.2.0-157-g9034b2a9 master ...``), or None if not printed.
    log_path: the ``felix.log`` written in ``run_dir``.
    """

    run_dir: Path
    command: list[str]
    wall_seconds: float
    total_seconds: float
    attempts: int
    mpi_ranks: int
    felix_times: dict[str, float] = field(default_factory=dict)
    version: str | None = None
    log_path: Path | None = None

    def info(self) -> dict[str, Any]:
        """JSON-ready summary for a result's metadata."""
        return {
            "felix_command": list(self.command),
            "felix_wall_seconds": self.wall_seconds,
            "felix_attempts": self.attempts,
            "felix_mpi_ranks": self.mpi_ranks,
            "felix_times": dict(self.felix_times),
            "felix_version": self.version,
        }


# ----- configuration -----------------------------------------------------------------------
def felix_config(felix_cfg: dict[str, Any] | None) -> dict[str, Any]:
    """``simulation.felix`` with defaults filled in; an unknown key or a bad value is a ConfigError."""
    cfg = dict(FELIX_DEFAULTS)
    for key, value in (felix_cfg or {}).items():
        if key not in FELIX_DEFAULTS:
            raise ConfigError(f"unknown key (expected one of {sorted(FELIX_DEFAULTS)})", field=f"{_CFG_FIELD}.{key}")
        cfg[key] = value
    if not isinstance(cfg["command"], str) or not cfg["command"].strip():
        raise ConfigError(f"expected a command line such as 'felix' or 'mpirun -n 1 felix', got {cfg['command']!r}", field=f"{_CFG_FIELD}.command")
    try:
        cfg["timeout_s"] = float(cfg["timeout_s"])
        cfg["retries"] = int(cfg["retries"])
    except (TypeError, ValueError):
        raise ConfigError("timeout_s must be a number of seconds and retries an integer", field=_CFG_FIELD) from None
    if not cfg["timeout_s"] > 0:
        raise ConfigError(f"expected a positive number of seconds, got {cfg['timeout_s']}", field=f"{_CFG_FIELD}.timeout_s")
    if cfg["retries"] < 0:
        raise ConfigError(f"expected an integer ≥ 0, got {cfg['retries']}", field=f"{_CFG_FIELD}.retries")
    if not isinstance(cfg["env"], dict):
        raise ConfigError("expected a mapping of environment variables", field=f"{_CFG_FIELD}.env")
    return cfg


def _usable_executable(candidate: str) -> str | None:
    """An absolute path for ``candidate`` (a path or a name on PATH) if it is an executable file."""
    if os.sep in candidate or (os.altsep and os.altsep in candidate):
        path = Path(candidate).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
        return None
    found = shutil.which(candidate)
    return str(Path(found).resolve()) if found else None


def resolve_felix_executable(felix_cfg: dict[str, Any] | None = None) -> str:
    """The Felix executable: ``$FELIX_EXECUTABLE``, else config ``executable``, else ``felix`` on PATH.

    A source that is set but unusable is an error (it is not silently skipped for the next one).
    Raises :class:`SimulationError` saying where it looked.
    """
    cfg = felix_config(felix_cfg)
    env_value = os.environ.get(ENV_VAR, "").strip()
    if env_value:
        path = _usable_executable(env_value)
        if path is None:
            raise SimulationError(f"Felix executable not found: ${ENV_VAR}={env_value!r} is not an executable file")
        return path
    if cfg["executable"]:
        path = _usable_executable(str(cfg["executable"]))
        if path is None:
            raise SimulationError(
                f"Felix executable not found: config {_CFG_FIELD}.executable={cfg['executable']!r} is not an executable file"
            )
        return path
    path = _usable_executable("felix")
    if path is None:
        raise SimulationError(
            f"Felix executable not found: ${ENV_VAR} is unset, config {_CFG_FIELD}.executable is unset and there is "
            "no 'felix' on PATH (install Felix, or point FELIX_EXECUTABLE at the binary, e.g. felix.OPT64NGNU.d)"
        )
    return path


def felix_command(felix_cfg: dict[str, Any] | None = None) -> list[str]:
    """The argument list to run: the configured command with its word ``felix`` replaced by the
    resolved executable (``mpirun -n 4 felix`` → ``['mpirun', '-n', '4', '/opt/felix/felix']``)."""
    cfg = felix_config(felix_cfg)
    try:
        words = shlex.split(cfg["command"])
    except ValueError as exc:
        raise ConfigError(f"cannot split the command line {cfg['command']!r}: {exc}", field=f"{_CFG_FIELD}.command") from None
    if "felix" not in words:
        raise ConfigError(
            f"the command {cfg['command']!r} must contain the word 'felix' where the executable goes "
            f"(set the path with {_CFG_FIELD}.executable or ${ENV_VAR})",
            field=f"{_CFG_FIELD}.command",
        )
    executable = resolve_felix_executable(cfg)
    return [executable if w == "felix" else w for w in words]


_RANK_FLAGS = ("-n", "-np", "--np", "--n", "-c")


def mpi_ranks(argv: list[str]) -> int:
    """Number of MPI ranks an argument list asks for (``-n N``, ``-np N``, ``--np=N``…; 1 if none)."""
    for i, word in enumerate(argv):
        for flag in _RANK_FLAGS:
            value = None
            if word == flag and i + 1 < len(argv):
                value = argv[i + 1]
            elif word.startswith(flag + "="):
                value = word[len(flag) + 1 :]
            if value is not None and value.isdigit():
                return int(value)
    return 1


# ----- Felix's console output ------------------------------------------------------------
# "Absorption    0 hrs   0 mins   6 sec" (message_mod.f90 PrintEndTime: I4 hours, I3 min, I3 s)
_TIME_LINE = re.compile(r"^\s*(?P<task>[A-Za-z][A-Za-z ]*?)\s+(?P<h>\d+)\s+hrs\s+(?P<m>\d+)\s+mins\s+(?P<s>\d+)\s+sec\s*$")
_VERSION_LINE = re.compile(r"^\s*felixrefine:\s*(?P<version>.*?)\s*$")
_RANKS_LINE = re.compile(r"total number of MPI ranks\s+(?P<n>\d+)")
_ERROR_LINE = re.compile(r"error in", re.IGNORECASE)


def parse_felix_times(text: str) -> dict[str, float]:
    """Felix's reported times [s] by task from its console output (last report of each task)."""
    times: dict[str, float] = {}
    for line in text.splitlines():
        match = _TIME_LINE.match(line)
        if match:
            seconds = 3600 * int(match["h"]) + 60 * int(match["m"]) + int(match["s"])
            times[match["task"].strip()] = float(seconds)
    return times


def parse_felix_version(text: str) -> str | None:
    """Felix's version: the ``felixrefine:`` line and the two lines under it (branch, build date)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _VERSION_LINE.match(line)
        if match:
            parts = [match["version"]]
            for extra in lines[i + 1 : i + 3]:
                stripped = extra.strip()
                if stripped.startswith("'") and stripped.endswith("'"):
                    parts.append(stripped)
            return " ".join(p.strip("'") for p in parts if p)
    return None


def parse_felix_ranks(text: str) -> int | None:
    """The MPI rank count Felix reports (``total number of MPI ranks  001``), if printed."""
    match = _RANKS_LINE.search(text)
    return int(match["n"]) if match else None


def _tail(text: str, n: int = 8) -> str:
    """Felix's own error lines if any, else the last ``n`` non-empty lines of the output."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if _ERROR_LINE.search(ln)]
    chosen = errors[-n:] if errors else lines[-n:]
    return " | ".join(chosen) if chosen else "(no output)"


# ----- running --------------------------------------------------------------------------
@dataclass
class _Attempt:
    returncode: int | None
    timed_out: bool
    seconds: float
    output: str


#: environment Felix runs with unless the user's environment or ``simulation.felix.env`` sets it
FELIX_ENV_DEFAULTS = {"GFORTRAN_UNBUFFERED_PRECONNECTED": "y", "OPENBLAS_NUM_THREADS": "1"}


def _killed_by_signal(returncode: int | None) -> bool:
    """A status a retry may cure: killed by signal n (−n from Python, 128 + n from a launcher)."""
    return returncode is not None and (returncode < 0 or returncode > 128)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process group of ``proc`` (mpirun and its ranks): SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM:
                # the leader is gone; make sure no rank of the group survives it
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_once(argv: list[str], run_dir: Path, timeout_s: float, env: dict[str, str]) -> _Attempt:
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".felix.out.", suffix=".tmp")
    start = time.perf_counter()
    timed_out = False
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                proc = subprocess.Popen(
                    argv, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            except OSError as exc:
                return _Attempt(None, False, time.perf_counter() - start, f"cannot start {argv[0]!r}: {exc}\n")
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
            except BaseException:
                _kill_group(proc)
                raise
        seconds = time.perf_counter() - start
        output = Path(tmp).read_text(errors="replace")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _Attempt(None if timed_out else proc.returncode, timed_out, seconds, output)


def run_felix(run_dir: str | os.PathLike[str], felix_cfg: dict[str, Any] | None, *, name: str) -> FelixRun:
    """Run Felix in ``run_dir`` (which holds felix.inp, felix.cif, felix.hkl).

    Parameters
    ----------
    run_dir: the run folder; Felix writes its output folders here.
    felix_cfg: config ``simulation.felix`` (command, executable, timeout_s [s], retries,
        patched_mpi, env).
    name: the sample name, used in messages.

    Returns a :class:`FelixRun`. Raises :class:`SimulationError` naming the sample when the
    executable is missing, or when every attempt exits non-zero or runs past ``timeout_s`` (the
    process group is killed). ``felix.log`` in ``run_dir`` records every attempt in all cases.
    """
    run_dir = Path(run_dir)
    cfg = felix_config(felix_cfg)
    if not run_dir.is_dir():
        raise SimulationError(f"{name}: run folder {run_dir} does not exist (expected felix.inp, felix.cif, felix.hkl there)")
    try:
        argv = felix_command(cfg)
    except SimulationError as exc:
        raise SimulationError(f"{name}: {exc}") from None
    ranks = mpi_ranks(argv)
    header: list[str] = [f"# lacbed-bridge: Felix run for {name} in {run_dir}", f"# command: {shlex.join(argv)}"]
    if ranks > 1 and not cfg["patched_mpi"]:
        message = (
            f"{name}: Felix runs with {ranks} MPI ranks; unpatched Felix broadcasts the complex Ug matrix as "
            "real numbers and gives wrong pixels with more than one rank (docs/felix_physics.md §9.1). Use one rank, or set "
            "simulation.felix.patched_mpi: true for a build that broadcasts MPI_DOUBLE_COMPLEX."
        )
        warnings.warn(message, FelixMPIWarning, stacklevel=2)
        log.warning(message)
        header.append(f"# WARNING: {message}")
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in cfg["env"].items()})
    for key, value in FELIX_ENV_DEFAULTS.items():
        env.setdefault(key, value)

    sections: list[str] = ["\n".join(header)]
    total = 0.0
    n_attempts = cfg["retries"] + 1
    failure = ""
    attempt = 0
    try:
        for attempt in range(1, n_attempts + 1):
            result = _run_once(argv, run_dir, cfg["timeout_s"], env)
            total += result.seconds
            if result.timed_out:
                outcome = f"timed out after {cfg['timeout_s']:g} s (process group killed)"
            elif result.returncode is None:
                outcome = "could not be started"
            else:
                outcome = f"exit status {result.returncode} after {result.seconds:.2f} s"
            sections.append(f"# attempt {attempt}/{n_attempts}\n{result.output.rstrip()}\n# attempt {attempt}: {outcome}")
            if result.returncode == 0 and not result.timed_out:
                version = parse_felix_version(result.output)
                log.info("%s: Felix %s ran in %.2f s (attempt %d)", name, version or "(version not printed)", result.seconds, attempt)
                sections.append(f"# Felix version: {version or '(not printed)'}; Felix's own times [s]: {parse_felix_times(result.output)}")
                reported = parse_felix_ranks(result.output)
                if reported is not None and reported > 1 and not cfg["patched_mpi"] and ranks <= 1:
                    message = f"{name}: Felix reports {reported} MPI ranks; unpatched Felix is wrong with more than one rank"
                    warnings.warn(message, FelixMPIWarning, stacklevel=2)
                    log.warning(message)
                return FelixRun(
                    run_dir=run_dir,
                    command=argv,
                    wall_seconds=result.seconds,
                    total_seconds=total,
                    attempts=attempt,
                    mpi_ranks=reported or ranks,
                    felix_times=parse_felix_times(result.output),
                    version=version,
                    log_path=run_dir / LOG_NAME,
                )
            failure = f"{outcome}; Felix said: {_tail(result.output)}"
            log.warning("%s: Felix attempt %d/%d %s", name, attempt, n_attempts, outcome)
            if not (result.timed_out or _killed_by_signal(result.returncode)):
                break  # not startable, or Felix refused its input: a retry would fail the same way
    finally:
        write_text_atomic(run_dir / LOG_NAME, "\n".join(sections) + "\n")
    raise SimulationError(
        f"{name}: Felix failed after {attempt} attempt(s) in {run_dir}: {failure} (full output in {run_dir / LOG_NAME})"
    )
