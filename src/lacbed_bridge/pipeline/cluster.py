"""What each workflow job asks of a cluster scheduler, and a check that the cluster can give it.

The requests come from the config's ``cluster`` section (one source: the schema documents the
knobs and their defaults): CPUs, memory [MB] and run time [min] per stage, the partition, and a
GPU only for the stages that run on CUDA (``simulation.device``, ``train.device``,
``evaluate.device`` set to ``cuda``; ``auto`` asks for none). The Snakemake rules turn them into
the SLURM executor plugin's own resources (``cpus_per_task``, ``mem_mb``, ``runtime``,
``slurm_partition``, ``gpu``) and their ``threads``.

A request that no node of its partition can satisfy would pend forever in SLURM
(``PartitionConfig``/``Resources``) without a word from the workflow: :func:`check_fits` compares
every request with the nodes ``sinfo`` lists before anything is submitted and names the rule, the
resource and the config key.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

#: The ``cluster`` keys with their own requests; every other rule uses ``cluster.default``.
STAGES = ("simulate", "edd", "dataset", "train", "evaluate", "benchmark_surrogate")


def stage_of(rule: str) -> str:
    """The ``cluster`` entry that holds a rule's requests."""
    return rule if rule in STAGES else "default"


def uses_cuda(config: Mapping[str, Any], rule: str) -> bool:
    """Whether the rule's job computes on a CUDA GPU (explicit ``device: cuda`` only)."""
    if rule == "simulate":
        return (config.get("simulation") or {}).get("device") == "cuda"
    if rule in ("train", "benchmark_surrogate"):
        return (config.get("train") or {}).get("device") == "cuda"
    if rule == "evaluate":
        return (config.get("evaluate") or {}).get("device") == "cuda"
    return False


@dataclass(frozen=True)
class Request:
    """One rule's job request: CPUs, memory [MB], run time [min], GPUs and partition (None: default)."""

    rule: str
    cpus: int
    mem_mb: int
    runtime: int
    gpus: int
    partition: str | None
    account: str | None = None

    @classmethod
    def of_job(cls, rule: str, resources: Mapping[str, Any], threads: int) -> "Request":
        """The request of a scheduled Snakemake job (its resources after profile overrides)."""
        return cls(rule, int(resources.get("cpus_per_task") or threads), int(resources.get("mem_mb") or 0),
                   int(resources.get("runtime") or 0), int(resources.get("gpu") or 0), resources.get("slurm_partition") or None)

    def resources(self) -> dict[str, Any]:
        """The Snakemake resources of the rule (names of the SLURM executor plugin)."""
        out: dict[str, Any] = {"cpus_per_task": self.cpus, "mem_mb": self.mem_mb, "runtime": self.runtime, "gpu": self.gpus}
        if self.partition:
            out["slurm_partition"] = self.partition
        if self.account:
            out["slurm_account"] = self.account
        return out


def request(config: Mapping[str, Any], rule: str) -> Request:
    """The request of ``rule`` from the validated config's ``cluster`` section (the schema fills its defaults)."""
    cluster = config["cluster"]
    job = cluster[stage_of(rule)]
    gpus = 1 if uses_cuda(config, rule) else 0
    partition = cluster["gpu_partition"] if gpus and cluster["gpu_partition"] else cluster["partition"]
    return Request(rule, job["cpus"], job["mem_mb"], job["runtime"], gpus, partition, cluster["account"])


@dataclass(frozen=True)
class Node:
    """One node of one partition as ``sinfo`` reports it: CPUs, memory [MB], GPUs (GRES)."""

    partition: str
    name: str
    cpus: int
    mem_mb: int
    gpus: int


#: ``sinfo`` format of :func:`parse_sinfo`: partition (``*`` marks the default), node, CPUs, memory, GRES
SINFO_FORMAT = "%P|%N|%c|%m|%G"


def _gpu_count(gres: str) -> int:
    """GPUs in a GRES string such as ``gpu:a100:4(S:0-1),shard:8`` or ``(null)``."""
    total = 0
    for part in gres.split(","):
        fields = re.sub(r"\(.*?\)", "", part).strip().split(":")
        if fields and fields[0] == "gpu":
            total += int(fields[-1]) if len(fields) > 1 and fields[-1].isdigit() else 1
    return total


def parse_sinfo(text: str) -> tuple[list[Node], str | None]:
    """Nodes and the default partition from ``sinfo --noheader --Node --format=SINFO_FORMAT``."""
    nodes: list[Node] = []
    default = None
    for line in text.splitlines():
        if not line.strip():
            continue
        partition, name, cpus, mem, gres = (f.strip() for f in line.split("|"))
        if partition.endswith("*"):
            partition = partition[:-1]
            default = partition
        nodes.append(Node(partition, name, int(cpus), int(re.sub(r"\D.*", "", mem) or 0), _gpu_count(gres)))
    return nodes, default


def query_sinfo() -> str:
    """Run ``sinfo`` (the cluster's node list); a clear error when it cannot."""
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        raise RuntimeError("SLURM executor chosen, but `sinfo` is not on PATH: run the workflow on a machine of the cluster")
    done = subprocess.run([sinfo, "--noheader", "--Node", f"--format={SINFO_FORMAT}"], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`sinfo` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def parse_scontrol_config(text: str) -> dict[str, str]:
    """``scontrol show config`` as a mapping (``MinJobAge`` → ``300 sec``)."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            values[key.strip()] = value.strip()
    return values


def _seconds(value: str) -> int | None:
    match = re.match(r"^(\d+)\s*([a-zA-Z]*)", value or "")
    if not match:
        return None
    return int(match.group(1)) * (3600 if match.group(2).lower() in ("h", "hour", "hours") else 1)


def status_problems(config: Mapping[str, str], threshold_s: int, status_command: str = "squeue") -> list[str]:
    """Why the SLURM plugin could never learn that a job finished, one line each (empty: it can).

    The plugin reads job states from ``squeue``, which shows a finished job for ``MinJobAge``
    seconds; when that is shorter than ``threshold_s`` (three times the first status-check delay) it
    asks ``sacct`` instead, and a cluster without accounting answers "accounting storage is
    disabled" to every query: the run waits forever."""
    if not config:  # scontrol not available: nothing to go on
        return []
    accounting = config.get("AccountingStorageType", "")
    if "none" not in accounting.lower():
        return []
    if status_command == "sacct":
        return [f"slurm-status-command: sacct, but the cluster has no accounting (AccountingStorageType = {accounting}): "
                "sacct cannot answer and the run would wait forever. Use slurm-status-command: squeue (the profile's)"]
    age = _seconds(config.get("MinJobAge", ""))
    if age is None or age < threshold_s:  # the plugin also falls back to sacct when it cannot read MinJobAge
        age_text = f"{age} s" if age is not None else "unreadable"
        return [f"MinJobAge = {age_text} and no accounting (AccountingStorageType = {accounting}): a finished job leaves squeue "
                f"before the SLURM plugin looks ({threshold_s} s), and sacct cannot answer without accounting, so the run would "
                "wait forever. Set MinJobAge = 300 (SLURM's default) in slurm.conf, or enable accounting (slurmdbd)"]
    return []


def query_scontrol_config() -> str:
    """Run ``scontrol show config``; empty when it cannot (then nothing is checked)."""
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return ""
    done = subprocess.run([scontrol, "show", "config"], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout if done.returncode == 0 else ""


def check_fits(requests: Iterable[Request], nodes: list[Node], default_partition: str | None) -> list[str]:
    """Problems of the requests no node can satisfy, one line each (empty: every request fits).

    A request fits when one node of its partition has at least its CPUs, memory and GPUs.
    """
    problems = []
    partitions = sorted({n.partition for n in nodes})
    for req in requests:
        part = req.partition or default_partition
        if part is None:
            problems.append(f"rule {req.rule}: no partition given (cluster.partition) and the cluster has no default partition "
                            f"(sinfo lists: {', '.join(partitions) or 'none'})")
            continue
        members = [n for n in nodes if n.partition == part]
        if not members:
            problems.append(f"rule {req.rule}: partition {part!r} does not exist (cluster.{'gpu_' if req.gpus and req.partition else ''}partition; "
                            f"sinfo lists: {', '.join(partitions) or 'none'})")
            continue
        key = f"cluster.{stage_of(req.rule)}"
        wants = [("cpus", req.cpus, "cpus_per_task", "CPUs", lambda n: n.cpus),
                 ("mem_mb", req.mem_mb, "mem_mb", "MB of memory", lambda n: n.mem_mb),
                 ("gpus", req.gpus, "gpu", "GPUs", lambda n: n.gpus)]
        reported = len(problems)
        for name, value, resource, unit, have in wants:
            most = max(have(n) for n in members)
            if value > most:
                where = f"{key}.{name}" if name != "gpus" else "a stage with device: cuda"
                problems.append(f"rule {req.rule}: asks {resource}={value} ({where}), but the largest node of partition "
                                f"{part!r} has {most} {unit}")
        # each resource alone fits some node: say so when no one node holds all of them
        if len(problems) == reported and not any(n.cpus >= req.cpus and n.mem_mb >= req.mem_mb and n.gpus >= req.gpus for n in members):
            problems.append(f"rule {req.rule}: no single node of partition {part!r} has {req.cpus} CPUs, {req.mem_mb} MB and "
                            f"{req.gpus} GPUs together")
    return problems
