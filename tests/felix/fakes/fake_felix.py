#!/usr/bin/env python3
"""Stand-in for the Felix executable (tests only; the real program is Fortran + MPI).

It reads felix.inp / felix.cif / felix.hkl from the working directory as Felix does (value from
column 28, formula from _chemical_formula_structural with [A-Za-z0-9] kept, [h,k,l] lines),
prints a console log in Felix's format, and writes the discs by copying real Felix outputs from
the reference case in $FAKE_FELIX_REFERENCE (a folder with <formula>_Sim_<tttt>A_<n>x<n>/ folders).

$FAKE_FELIX_MODE chooses the behaviour:
  ok         behave like a working Felix
  crash      print Felix's error lines and exit 1 (as MPI_Abort does)
  hang       start a child process (like an MPI rank), write both pids to $FAKE_FELIX_PIDS, sleep
  truncate   write the (000) disc of the first thickness cut in half
  nofolder   exit 0 without writing any output folder
  nan        put a NaN into the (000) disc of the first thickness
  negative   put a negative value into the (000) disc of the first thickness
  flaky      killed by SIGKILL (as by a node's OOM killer) until $FAKE_FELIX_STATE counts
             $FAKE_FELIX_FAILS failures, then behave as ok
With $FAKE_FELIX_ENV_OUT set, it first writes the thread variables it was started with there.
Standard library only.
"""

import array
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def inp_values() -> dict[str, str]:
    values = {}
    for line in Path("felix.inp").read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            values[line.split("=", 1)[0].split()[0]] = line[27:].strip()
    return values


def formula() -> str:
    text = Path("felix.cif").read_text()
    match = re.search(r"^_chemical_formula_structural\s+'([^']*)'", text, re.M)
    return re.sub(r"[^A-Za-z0-9]", "", match.group(1))


def thicknesses(v: dict[str, str]) -> list[float]:
    t0, t1, dt = float(v["RInitialThickness"]), float(v["RFinalThickness"]), float(v["RDeltaThickness"])
    if t1 <= t0 or dt <= 0:
        return [t0]
    n = int((t1 - t0) / dt + 0.5) + 1
    return [t0 + i * dt for i in range(n)]


def hkls() -> list[tuple[int, int, int]]:
    out = []
    for line in Path("felix.hkl").read_text().splitlines():
        if line.strip():
            h, k, l = (int(x) for x in line.strip().strip("[]").split(","))
            out.append((h, k, l))
    return out


def banner() -> None:
    print("     -----------------------------------------------------------------")
    print("     felixrefine: 'fake-0.0-test'")
    print("                  'master'")
    print("                  'Thu Jan  1 00:00:00 UTC 2026'")
    print("     -----------------------------------------------------------------")
    ranks = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    print(f"     total number of MPI ranks  {ranks:03d}, screen messages via rank 000")
    print("     Simulation only", flush=True)


def edit_first(path: Path, how: str) -> None:
    data = array.array("d")
    data.frombytes(path.read_bytes())
    if how == "truncate":
        path.write_bytes(data.tobytes()[: len(data) * 4])
        return
    data[len(data) // 2] = float("nan") if how == "nan" else -0.25
    path.write_bytes(data.tobytes())


def main() -> int:
    mode = os.environ.get("FAKE_FELIX_MODE", "ok")
    if os.environ.get("FAKE_FELIX_ENV_OUT"):
        Path(os.environ["FAKE_FELIX_ENV_OUT"]).write_text(
            " ".join(f"{k}={os.environ.get(k)}" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")))
    banner()
    if mode == "crash":
        # real Felix (gfortran) buffers its output into a pipe and MPI_Abort loses the buffer,
        # unless GFORTRAN_UNBUFFERED_PRECONNECTED=y: mimic that
        if os.environ.get("GFORTRAN_UNBUFFERED_PRECONNECTED") == "y":
            print("  0 = rank, error in ReadCif(Cannot find .cif)")
            print("  0 = rank, error in felixrefine(ABORTING)", flush=True)
        return 1
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(os.environ["FAKE_FELIX_PIDS"]).write_text(f"{os.getpid()} {child.pid}\n")
        time.sleep(600)
        return 0
    if mode == "flaky":
        state = Path(os.environ["FAKE_FELIX_STATE"])
        count = int(state.read_text()) if state.exists() else 0
        if count < int(os.environ.get("FAKE_FELIX_FAILS", "1")):
            state.write_text(str(count + 1))
            print("  0 = rank, killed", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    v = inp_values()
    name, side = formula(), 2 * int(v["IPixelCount"])
    if mode == "nofolder":
        return 0
    reference = Path(os.environ["FAKE_FELIX_REFERENCE"])
    print("     Absorption    0 hrs   0 mins   6 sec")
    print("     Simulation    0 hrs   1 mins   3 sec")
    series = thicknesses(v)
    print(f"     Writing simulations for {len(series):3d} thicknesses")
    for index, t in enumerate(series):
        folder = f"{name}_Sim_{int(t + 0.5):04d}A_{side:03d}x{side:03d}"
        Path(folder).mkdir(exist_ok=True)
        for h, k, l in hkls():
            file_name = f"{name}_{h:+d}{k:+d}{l:+d}.bin"
            source = reference / folder / file_name
            if source.is_file():
                shutil.copyfile(source, Path(folder) / file_name)
        if index == 0 and mode in ("truncate", "nan", "negative"):
            edit_first(Path(folder) / f"{name}_+0+0+0.bin", mode)
    print("     Calculation    1 hrs   2 mins   9 sec")
    print("     ||||||||||||||||||||||||||||||||", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
