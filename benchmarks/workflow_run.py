"""Run the repository's Snakemake workflow up to one target, as the accuracy and paper-protocol
benchmarks do (benchmarks/accuracy.py, benchmarks/paper_protocol.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tool_env() -> dict[str, str]:
    """The environment with this interpreter's bin folder first on PATH (lacbed-bridge, snakemake)."""
    bin_dir = Path(sys.executable).parent
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_workflow(workdir: Path, config_path: Path, target: str, cores: int) -> float:
    """``snakemake --keep-going TARGET`` in ``workdir`` with ``config_path``; the wall time [s].
    A failed workflow prints the tail of its output and exits."""
    command = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(config_path), "--cores", str(cores), "--keep-going", target]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=tool_env(), check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit(f"workflow failed ({done.returncode})")
    return seconds
