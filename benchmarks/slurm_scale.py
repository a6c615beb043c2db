"""DAG and submission time of the SLURM profile for many crystals, on a real (local) SLURM.

Starts the tests' one-node cluster (tests/support/local_cluster.py: needs Debian's slurmctld,
slurmd, slurm-client and munge, and root), writes the demo config scaled to N crystals (three
families, workflow.batch_size crystals per simulate/edd job), makes the variants locally, then:

1. times a dry run with the profile (Snakefile parse, config check, DAG of every job);
2. drains the node (jobs stay PENDING, nothing is computed), starts the workflow through the
   profile and times until every simulate and edd job sits in the queue, counting the sbatch
   submissions (array jobs) it took; then stops the workflow, cancels the jobs and the cluster.

    python benchmarks/slurm_scale.py [--crystals 10000] [--batch-size 50]

Prints the numbers and the ratios per job; docs/cluster.md quotes a run.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support import local_cluster  # noqa: E402

BIN = Path(sys.executable).parent
PROFILE = REPO / "workflow" / "profiles" / "slurm"


def scaled_config(crystals: int, batch_size: int) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    families = config["families"]
    per = -(-crystals // len(families))
    per += (-per) % families[0].get("charge_states", 1)  # whole charge series
    for family in families:
        family["n_variants"] = per
    config["workflow"]["batch_size"] = batch_size
    config["cluster"] = {"partition": "debug"}
    return config


def smk(work: Path, *args: str) -> list[str]:
    return [str(BIN / "snakemake"), *args, "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
            "--configfile", str(work / "scaled.yaml")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crystals", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the queue to fill")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="slurm_scale_") as tmp:
        tmp_path = Path(tmp)
        work = tmp_path / "work"
        work.mkdir()
        config = scaled_config(args.crystals, args.batch_size)
        (work / "scaled.yaml").write_text(yaml.safe_dump(config))
        n = sum(f["n_variants"] for f in config["families"])
        cluster = local_cluster.start(tmp_path / "cluster")
        env = {**cluster.env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        try:
            t0 = time.perf_counter()
            targets = [f"results/variants/{f['name']}/variants.csv" for f in config["families"]]
            subprocess.run(smk(work, *targets, "--cores", "2"), env=env, check=True, capture_output=True)
            t_variants = time.perf_counter() - t0

            profile = ["--profile", str(PROFILE)]
            t0 = time.perf_counter()
            dry = subprocess.run(smk(work, "-n", "--quiet", "rules", *profile), env=env, check=True, capture_output=True, text=True)
            t_dag = time.perf_counter() - t0
            counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", dry.stdout + dry.stderr, re.M)}
            # the profile's `jobs` caps how many jobs sit in the queue at once ("unlimited" with arrays)
            cap = yaml.safe_load((PROFILE / "config.yaml").read_text())["jobs"]
            cap = 10**9 if cap == "unlimited" else int(cap)
            expected = min(cap, counts.get("simulate", 0) + counts.get("edd", 0))

            host = cluster.run("sinfo", "--noheader", "-o", "%n").stdout.split()[0]
            cluster.run("scontrol", "update", f"nodename={host}", "state=drain", "reason=benchmark")
            log = tmp_path / "run.log"
            t0 = time.perf_counter()
            with open(log, "w") as handle:
                proc = subprocess.Popen(smk(work, *profile), env=env, stdout=handle, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            queued = 0
            while time.perf_counter() - t0 < args.timeout and proc.poll() is None:
                out = cluster.run("squeue", "--noheader", "--array", "-o", "%i", check=False).stdout.split()
                queued = len(out)
                if queued >= expected:
                    break
                time.sleep(1.0)
            t_submit = time.perf_counter() - t0
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            text = log.read_text()
            arrays = len(re.findall(r"Submitted array job", text))
            singles = len(re.findall(r"has been submitted with SLURM jobid", text))
        finally:
            local_cluster.stop(tmp_path / "cluster")

    print(f"crystals                     {n}")
    print(f"jobs in the DAG              {sum(v for k, v in counts.items() if k != 'total')} ({counts})")
    print(f"variants (local, 2 cores)    {t_variants:.1f} s")
    print(f"dry run (parse + DAG)        {t_dag:.1f} s   = {1e3 * t_dag / max(1, n):.2f} ms per crystal")
    print(f"simulate + edd jobs queued   {queued} of {expected} (profile jobs cap) in {t_submit:.1f} s"
          f"   = {1e3 * t_submit / max(1, queued):.1f} ms per job")
    print(f"sbatch calls                 {arrays} array jobs + {singles} single jobs"
          f"   = {queued / max(1, arrays + singles):.0f} jobs per submission")
    return 0 if queued >= expected else 1


if __name__ == "__main__":
    sys.exit(main())
