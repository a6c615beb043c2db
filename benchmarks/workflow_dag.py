"""Benchmark: time to build the workflow DAG (a dry run) of a 10 000-crystal configuration.

Takes configs/paper.yaml, scales its families to 10 000 crystals in total, and times
``snakemake -n`` with the SLURM profile in a temporary working directory (target ≤ 60 s).
Also reports the number of simulate jobs (target ≤ 200 for 10 000 crystals). The LAST line is one
JSON object. Usage: python benchmarks/workflow_dag.py [--quick] [--crystals N] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def scaled_config(total: int) -> dict:
    config = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    families = config["families"]
    weights = [f["n_variants"] for f in families]
    scale = total / sum(weights)
    counts = [max(1, int(round(w * scale))) for w in weights]
    counts[0] += total - sum(counts)
    for family, n in zip(families, counts):
        family["n_variants"] = n
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="same run (it is already under 60 s)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="unused: the DAG is built on the CPU")
    parser.add_argument("--crystals", type=int, default=10_000)
    args = parser.parse_args()
    snakemake = Path(sys.executable).with_name("snakemake")
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text(yaml.safe_dump(scaled_config(args.crystals)))
        command = [
            str(snakemake), "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", tmp,
            "--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--configfile", str(config_path), "--quiet", "rules",
        ]
        env = {**os.environ, "PATH": f"{snakemake.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit(f"dry run failed with exit code {done.returncode}")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", done.stdout + done.stderr, re.M))
    simulate_jobs = int(counts.get("simulate", 0))
    total = int(counts.get("total", 0))
    print(f"{args.crystals} crystals: DAG of {total} jobs ({simulate_jobs} simulate jobs) built in {seconds:.1f} s "
          f"(target ≤ 60 s, ratio {seconds / 60:.3f}); simulate jobs / 200 = {simulate_jobs / 200:.2f}")
    print(json.dumps({"crystals": args.crystals, "dag_seconds": seconds, "dag_ratio_to_60s": seconds / 60, "jobs": total,
                      "simulate_jobs": simulate_jobs, "simulate_jobs_ratio_to_200": simulate_jobs / 200}))


if __name__ == "__main__":
    main()
