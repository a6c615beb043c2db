"""The shipped SLURM profile in a dry run: the job requests Snakemake hands to the SLURM plugin.

A GPU is asked (plugin resource ``gpu``, on ``cluster.gpu_partition``) by exactly the stages that
run on CUDA, and by none on a CPU config; CPUs, memory and run time follow the config's `cluster` section.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from support.workflow import REPO, snakemake, tiny_config

PROFILE = REPO / "workflow" / "profiles" / "slurm"


def _dry_run_resources(work: Path, config: dict) -> dict[str, list[dict[str, str]]]:
    """rule -> the resources line of each of its jobs in a dry run through the profile."""
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    done = snakemake(work, "--profile", str(PROFILE), "-n", config=path)
    text = done.stdout + done.stderr
    out: dict[str, list[dict[str, str]]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and res:
            items = dict(kv.split("=", 1) for kv in res.group(1).split(", ") if "=" in kv)
            out.setdefault(rule.group(1), []).append(items)
    return out


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
@pytest.mark.parametrize("cuda", [False, True], ids=["cpu", "cuda"])
def test_gpu_requested_only_by_stages_on_cuda(tmp_path: Path, cuda: bool) -> None:
    config = tiny_config()
    device = "cuda" if cuda else "cpu"
    config["simulation"]["device"] = device
    config["train"]["device"] = device
    config["evaluate"] = {"device": device}
    config["cluster"] = {"partition": "compute", "gpu_partition": "gpu", "simulate": {"cpus": 2, "mem_mb": 3000, "runtime": 90}}
    jobs = _dry_run_resources(tmp_path, config)
    gpu_rules = {"simulate", "train", "evaluate", "benchmark_surrogate"}
    assert gpu_rules | {"variants", "edd", "dataset", "figures"} <= set(jobs)
    for rule, requests in jobs.items():
        if rule == "all":
            continue
        for res in requests:
            on_gpu = cuda and rule in gpu_rules
            assert res.get("gpu") == ("1" if on_gpu else "0"), (rule, res)
            assert res.get("slurm_partition") == ("gpu" if on_gpu else "compute"), (rule, res)
            assert "slurm_extra" not in res, "GRES only through the plugin's gpu resource"
    simulate = jobs["simulate"][0]
    assert (simulate["cpus_per_task"], simulate["mem_mb"], simulate["runtime"]) == ("2", "3000", "90")
