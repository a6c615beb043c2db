"""Helpers of the workflow tests: run Snakemake, read the jobs of a (dry) run and Snakemake's
records, the tiny config."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def snakemake(workdir: Path, *args: str, config: Path | None = None, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run the repository's Snakefile in ``workdir`` with this interpreter's tools on PATH."""
    command = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if config is not None:
        command += ["--configfile", str(config)]
    command += list(args)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def job_counts(done: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The 'job  count' table of a dry run."""
    text = done.stdout + done.stderr
    if "Nothing to be done" in text:
        return {}
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", text, re.M)}


def planned_jobs(done: subprocess.CompletedProcess[str]) -> set[tuple[str, str]]:
    """The jobs a (dry) run lists: (rule, its wildcards as Snakemake prints them, "" for none)."""
    jobs: set[tuple[str, str]] = set()
    rule = None
    for line in (done.stdout + done.stderr).splitlines():
        if match := re.fullmatch(r"\s*(?:local)?rule (\w+):", line):
            if rule is not None:
                jobs.add((rule, ""))
            rule = match.group(1)
        elif rule is not None and (match := re.fullmatch(r"\s*wildcards: (.*)", line)):
            jobs.add((rule, match.group(1).strip()))
            rule = None
        elif rule is not None and not line.strip():
            jobs.add((rule, ""))
            rule = None
    if rule is not None:
        jobs.add((rule, ""))
    return jobs


def recorded(workdir: Path, output: str) -> dict:
    """Snakemake's record of how ``output`` (a path relative to ``workdir``) was made."""
    import base64
    import json

    return json.loads((workdir / ".snakemake" / "metadata" / base64.urlsafe_b64encode(output.encode()).decode()).read_text())


def tiny_config() -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["families"] = [
        {"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 6, "delta": [0.0, 1.0], "charge_states": 2},
        {"name": "Fm-3m_rocksalt", "prototype": "rocksalt", "n_variants": 4, "charge_states": 2},
    ]
    # the default beam choice (complete shells, symmetry, convergence control), with a loose target
    config["simulation"].update(pixel_count=16, min_reflection_pool=30, min_strong_beams=10, device="cpu",
                                convergence={"target_rms": 0.05})
    config["train"].update(epochs=1, ngf=8, ndf=8, batch_size=4, seeds=[0], device="cpu")
    config["workflow"] = {"batch_size": 2, "models": ["pix2pix", "unet"], "benchmark_quick": True, "n_figure_samples": 1}
    return config


BROKEN = "F-43m_zincblende_000003"


