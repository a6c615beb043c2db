"""Felix timed live, beside our drop-in, on the same run folder (used by benchmarks/simulator.py).

Both programs run as whole processes on one thread (OPENBLAS/OMP/MKL threads = 1; Felix with one
MPI rank, the only count that gives right pixels, tests/data/felix_reference/BUILD notes), in
alternation (Felix, drop-in, Felix, drop-in, …) so a noisy machine slows both alike, each in a
fresh copy of the case's felix.inp / felix.cif / felix.hkl. The drop-in is
``python -m lacbed_bridge simulate --felix-dir DIR`` (Felix's own pool and constants, Felix's
output layout), so the two write the same files and their (000) discs are compared too.

Without a Felix binary, the times recorded by such a run are read from
``tests/data/felix_reference/timings.json`` (``--record`` writes it) and printed with the date and
machine they were measured on; nothing is estimated.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from lacbed_bridge.io import write_text_atomic
from lacbed_bridge.simulate.felix.inp import format_felix_inp, parse_felix_inp

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "data" / "felix_reference" / "timings.json"
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "GFORTRAN_UNBUFFERED_PRECONNECTED": "y"}


def felix_executable(given: str | None) -> Path | None:
    """The Felix binary: ``given``, else ``$FELIX_EXECUTABLE``; None when neither is set."""
    text = given or os.environ.get("FELIX_EXECUTABLE")
    if not text:
        return None
    path = Path(text)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise SystemExit(f"Felix executable not found or not executable: {path}")
    return path


def machine() -> str:
    """CPU model and core count of this machine (what a recorded time was measured on)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def prepare(case: Path, folder: Path, pixel_count: int | None = None, **changes: Any) -> Path:
    """A fresh run folder with the case's inputs (felix.inp rewritten with ``pixel_count`` and
    ``changes`` when given)."""
    folder.mkdir(parents=True)
    for name in ("felix.cif", "felix.hkl"):
        shutil.copy2(case / name, folder / name)
    settings = parse_felix_inp(case / "felix.inp")
    if pixel_count is not None:
        changes["pixel_count"] = pixel_count
    (folder / "felix.inp").write_text(format_felix_inp(replace(settings, **changes)) if changes
                                      else (case / "felix.inp").read_text())
    return folder


def _run(command: list[str], folder: Path) -> float:
    env = {**os.environ, **ONE_THREAD}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed in {folder} (rc {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def zero_disc(folder: Path) -> np.ndarray:
    """The (000) disc of the first thickness a run wrote in Felix's layout (.bin, float64)."""
    found = sorted(folder.glob("*_Sim_*/*_+0+0+0.bin"))
    if not found:
        raise SystemExit(f"no (000) disc written in {folder}")
    data = np.fromfile(found[0], dtype="<f8")
    side = int(round(len(data) ** 0.5))
    return data.reshape(side, side)


def alternate(felix: Path, case: Path, repeats: int, pixel_count: int | None = None, **changes: Any) -> dict[str, Any]:
    """Felix and the drop-in on the same inputs, alternating ``repeats`` times: wall times (whole
    process) of each run, their medians, the ratio drop-in / Felix, seconds per pixel, and the
    largest |ΔI| between their (000) discs."""
    felix_runs, dropin_runs = [], []
    with tempfile.TemporaryDirectory(prefix="felix-timing-") as tmp:
        for r in range(repeats):
            a = prepare(case, Path(tmp) / f"felix{r}", pixel_count, **changes)
            felix_runs.append(_run([str(felix)], a))
            b = prepare(case, Path(tmp) / f"dropin{r}", pixel_count, **changes)
            dropin_runs.append(_run([sys.executable, "-m", "lacbed_bridge", "simulate", "--felix-dir", str(b)], b))
        ours, theirs = zero_disc(b), zero_disc(a)
    side = ours.shape[0]
    felix_s, dropin_s = statistics.median(felix_runs), statistics.median(dropin_runs)
    return {"side": side, "felix_s": felix_s, "dropin_s": dropin_s, "ratio": dropin_s / felix_s,
            "felix_ms_per_pixel": 1e3 * felix_s / side**2, "dropin_ms_per_pixel": 1e3 * dropin_s / side**2,
            "felix_runs": felix_runs, "dropin_runs": dropin_runs, "max_dI": float(np.abs(ours - theirs).max()),
            "changes": {**({"pixel_count": pixel_count} if pixel_count else {}), **changes}}


@cache
def recorded() -> dict[str, Any]:
    """The times recorded by the last ``--record`` run (empty when none is in the repository); read once."""
    if not RECORDED.is_file():
        return {}
    return json.loads(RECORDED.read_text())


def record(rows: dict[str, dict[str, Any]], felix: Path, repeats: int) -> Path:
    """Write the live rows, with date, machine, Felix build and command, to :data:`RECORDED`."""
    data = {
        "recorded": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "felix": {"source": "WarwickMicroscopy/Felix master 9034b2a, unmodified",
                  "build": "gfortran 12, PLATFORM=OPT64NGNU, -fdec-format-defaults added to F90FLAGS (as each case README's Build line)",
                  "command": f"{' '.join(f'{k}={v}' for k, v in ONE_THREAD.items())} {felix.name}  (one MPI rank, in the run folder)"},
        "dropin": {"command": "python -m lacbed_bridge simulate --felix-dir DIR  (same environment, same folder contents)"},
        "repeats": repeats,
        "how": "whole processes, alternating Felix and the drop-in, median of the repeats; benchmarks/simulator.py --record",
        "cases": rows,
    }
    write_text_atomic(RECORDED, json.dumps(data, indent=1) + "\n")
    recorded.cache_clear()
    return RECORDED
