"""What the workflow's jobs ask of a cluster (config `cluster`), and the check against `sinfo`."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from lacbed_bridge.pipeline.cluster import Request, check_fits, parse_sinfo, request
from lacbed_bridge.config import load_config, validate_config
from lacbed_bridge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

# `sinfo --noheader --Node --format='%P|%N|%c|%m|%G'` of the tests' one-node cluster, then of a
# cluster with a GPU partition (two nodes, one with four A100s in GRES notation).
SINFO_LOCAL = "debug*|vm|2|22105|(null)\n"
SINFO_GPU = "cpu*|c01|64|256000|(null)\ncpu*|c02|32|128000|(null)\ngpu|g01|32|512000|gpu:a100:4(S:0-1)\ngpu|g02|48|64000|gpu:2,shard:8\n"


@pytest.fixture(scope="module")
def demo() -> dict:
    return load_config(REPO / "config.yaml")


def _with(config: dict, **sections: dict) -> dict:
    out = copy.deepcopy(config)
    for name, values in sections.items():
        out.setdefault(name, {}).update(values)
    return validate_config(out)


def test_cpu_config_asks_no_gpu_and_no_partition(demo: dict) -> None:
    for rule in ("variants", "simulate", "edd", "dataset", "train", "evaluate", "benchmark_surrogate", "figures"):
        res = request(demo, rule).resources()
        assert res["gpu"] == 0, rule
        assert "slurm_partition" not in res and "slurm_account" not in res
        assert res["cpus_per_task"] >= 1 and res["mem_mb"] >= 100 and res["runtime"] >= 1
    # the stages' own entries, and the default for the rest
    assert request(demo, "simulate").runtime == demo["cluster"]["simulate"]["runtime"]
    assert request(demo, "figures").mem_mb == demo["cluster"]["default"]["mem_mb"]


def test_cuda_stages_ask_one_gpu_on_the_gpu_partition(demo: dict) -> None:
    config = _with(demo, train={"device": "cuda"}, cluster={"partition": "cpu", "gpu_partition": "gpu", "account": "lab"})
    for rule in ("train", "benchmark_surrogate"):
        res = request(config, rule).resources()
        assert res["gpu"] == 1 and res["slurm_partition"] == "gpu" and res["slurm_account"] == "lab"
    for rule in ("simulate", "edd", "dataset", "evaluate", "figures"):
        res = request(config, rule).resources()
        assert res["gpu"] == 0 and res["slurm_partition"] == "cpu", rule
    config = _with(demo, simulation={"device": "cuda"}, evaluate={"device": "cuda"})
    assert request(config, "simulate").gpus == 1 and request(config, "evaluate").gpus == 1
    assert request(config, "train").gpus == 0  # train.device auto asks for none


def test_cluster_knobs_are_validated(demo: dict) -> None:
    for bad, key in (({"simulate": {"cpus": 2.0, "mem_mb": 4000, "runtime": 60}}, "cluster.simulate.cpus"),
                     ({"train": {"cpus": 0, "mem_mb": 4000, "runtime": 60}}, "cluster.train.cpus"),
                     ({"edd": {"cpus": 1, "mem_mb": 4000}}, "cluster.edd"),
                     ({"gpus": 1}, "cluster")):
        config = copy.deepcopy(demo)
        config["cluster"].update(bad)
        with pytest.raises(ConfigError) as err:
            validate_config(config)
        assert key in str(err.value)


def test_parse_sinfo_reads_partitions_cpus_memory_and_gpus() -> None:
    nodes, default = parse_sinfo(SINFO_GPU)
    assert default == "cpu"
    assert [(n.partition, n.cpus, n.mem_mb, n.gpus) for n in nodes] == [
        ("cpu", 64, 256000, 0), ("cpu", 32, 128000, 0), ("gpu", 32, 512000, 4), ("gpu", 48, 64000, 2)]
    nodes, default = parse_sinfo(SINFO_LOCAL)
    assert default == "debug" and nodes[0].cpus == 2 and nodes[0].gpus == 0


def test_requests_that_fit_raise_nothing() -> None:
    nodes, default = parse_sinfo(SINFO_GPU)
    reqs = [Request("simulate", 64, 200000, 240, 0, None), Request("train", 16, 64000, 720, 2, "gpu")]
    assert check_fits(reqs, nodes, default) == []


def test_impossible_requests_name_rule_resource_and_key() -> None:
    nodes, default = parse_sinfo(SINFO_GPU)
    problems = check_fits([Request("simulate", 128, 4000, 60, 0, None)], nodes, default)
    assert problems == ["rule simulate: asks cpus_per_task=128 (cluster.simulate.cpus), but the largest node of partition 'cpu' has 64 CPUs"]
    problems = check_fits([Request("dataset", 1, 10**6, 60, 0, None)], nodes, default)
    assert "rule dataset: asks mem_mb=1000000 (cluster.dataset.mem_mb)" in problems[0] and "256000 MB" in problems[0]
    problems = check_fits([Request("train", 1, 1000, 60, 1, "cpu")], nodes, default)
    assert "rule train: asks gpu=1" in problems[0] and "partition 'cpu' has 0 GPUs" in problems[0]
    problems = check_fits([Request("evaluate", 1, 1000, 60, 0, "gpus")], nodes, default)
    assert "partition 'gpus' does not exist" in problems[0] and "cpu, gpu" in problems[0]
    # each resource fits some node, but no node holds all three
    problems = check_fits([Request("train", 32, 500000, 60, 4, "gpu"), Request("train", 48, 100000, 60, 1, "gpu")], nodes, default)
    assert problems == ["rule train: no single node of partition 'gpu' has 48 CPUs, 100000 MB and 1 GPUs together"]
    problems = check_fits([Request("variants", 1, 100, 60, 0, None)], nodes, None)
    assert "no partition given (cluster.partition)" in problems[0]


def test_shipped_configs_fit_a_modest_node() -> None:
    """The demo asks at most what a 16 GB, 1-CPU node gives; the paper config states its own."""
    demo = load_config(REPO / "config.yaml")
    node = parse_sinfo("batch*|n01|1|16000|(null)\n")
    rules = ("variants", "simulate", "edd", "dataset", "train", "evaluate", "benchmark_surrogate", "figures")
    assert check_fits([request(demo, r) for r in rules], *node) == []
    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    assert "cluster" in paper, "configs/paper.yaml states its cluster requests"


SCONTROL = """Configuration data as of 2026-12-06T19:00:00
AccountingStorageType   = {accounting}
AuthType                = auth/munge
MinJobAge               = {age}
SlurmctldPort           = 6817
"""


def test_a_cluster_that_would_leave_the_run_waiting_forever_is_named() -> None:
    """issue #25 item 12: no accounting and MinJobAge below the plugin's threshold: sacct fallback, hang."""
    from lacbed_bridge.pipeline.cluster import parse_scontrol_config, status_problems

    bad = parse_scontrol_config(SCONTROL.format(accounting="accounting_storage/none", age="5 sec"))
    assert bad["MinJobAge"] == "5 sec"
    problems = status_problems(bad, 30)
    assert len(problems) == 1 and "MinJobAge = 5 s" in problems[0] and "MinJobAge = 300" in problems[0]
    assert status_problems(parse_scontrol_config(SCONTROL.format(accounting="accounting_storage/none", age="300 sec")), 30) == []
    assert status_problems(parse_scontrol_config(SCONTROL.format(accounting="accounting_storage/slurmdbd", age="5 sec")), 30) == []
    assert status_problems(parse_scontrol_config(SCONTROL.format(accounting="accounting_storage/none", age="1h")), 30) == []
    assert status_problems({}, 30) == []  # scontrol unavailable: nothing to say
    no_age = parse_scontrol_config("AccountingStorageType = accounting_storage/none\n")
    assert "unreadable" in status_problems(no_age, 30)[0]
    fine = parse_scontrol_config(SCONTROL.format(accounting="accounting_storage/none", age="300 sec"))
    assert "slurm-status-command: sacct" in status_problems(fine, 30, "sacct")[0]
