"""The shipped SLURM profile against a real SLURM: a one-node cluster on localhost (local_cluster.py).

`.ci/run` installs Debian's slurmctld, slurmd, slurm-client and munge and sets
LACBED_REQUIRE_SLURM=1, so in CI a missing SLURM is a failure; elsewhere these tests skip when the
programs are absent (or a real SLURM config owns /etc/slurm/slurm.conf).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml


from support import local_cluster
from support.workflow import REPO, snakemake, tiny_config

PROFILE = REPO / "workflow" / "profiles" / "slurm"
PARTITION = "debug"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A running one-node cluster (partition 'debug'); every daemon stops after the module."""
    reason = None
    if local_cluster.missing_tools():
        reason = f"SLURM not installed: {', '.join(local_cluster.missing_tools())}"
    elif local_cluster.DEFAULT_CONF.exists() and not local_cluster.DEFAULT_CONF.read_text().startswith(local_cluster.MARK):
        reason = f"{local_cluster.DEFAULT_CONF} belongs to a real SLURM installation"
    if reason:
        if os.environ.get("LACBED_REQUIRE_SLURM") == "1":
            pytest.fail(f"LACBED_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    root = Path(tmp_path_factory.mktemp("slurm"))
    running = local_cluster.start(root, PARTITION)
    try:
        yield running
    finally:
        local_cluster.stop(root)


def _config(work: Path, **cluster: object) -> Path:
    config = tiny_config()
    # what the README tells users: the partition goes into the config's `cluster` section
    config["cluster"] = {"partition": PARTITION, **cluster}
    path = work / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _slurm(work: Path, cluster: local_cluster.LocalCluster, config: Path, check: bool = True):
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        # --profile after --configfile, which would take any further word for a second config file
        return snakemake(work, "--profile", str(PROFILE), config=config, check=check, timeout=600)
    finally:
        os.environ.pop("SLURM_CONF", None)


@pytest.mark.slow
def test_workflow_runs_through_slurm_to_the_end_and_matches_a_local_run(cluster, tmp_path: Path) -> None:
    slurm_work, local_work = tmp_path / "slurm", tmp_path / "local"
    configs = []
    for work in (slurm_work, local_work):
        work.mkdir()
        configs.append(_config(work))
    done = _slurm(slurm_work, cluster, configs[0])
    text = done.stdout + done.stderr
    # every job went through sbatch, simulate and edd as job arrays (one sbatch per rule and ready
    # set); the status poll by squeue worked without accounting
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", text, re.M)}
    arrays = [ids.split(",") for ids in re.findall(r"Submitted array job with Snakemake IDs ([\d,]+) ", text)]
    singles = text.count("has been submitted with SLURM jobid")
    assert len(arrays) >= 2 and all(len(ids) >= 2 for ids in arrays), "simulate and edd go out as arrays"
    assert sum(map(len, arrays)) == counts["simulate"] + counts["edd"]
    assert singles == counts["total"] - counts["simulate"] - counts["edd"] - counts["all"]
    assert (slurm_work / "results" / "metrics" / "summary.csv").is_file()
    assert any((slurm_work / "results" / "figures").glob("*.png"))
    assert not cluster.run("squeue", "--noheader").stdout.strip(), "no job left in the queue"

    snakemake(local_work, "--cores", "2", "results/dataset/dataset.json", config=configs[1])
    ours, theirs = slurm_work / "results" / "dataset", local_work / "results" / "dataset"
    # the stacks and the split files (splits/<name>.csv) byte for byte
    names = sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file() and (p.suffix == ".tif" or "splits" in p.parts))
    assert {"edd.tif", "lacbed.tif", "deformation.tif"} <= {str(n) for n in names}
    assert any("splits" in n.parts for n in names)
    for name in names:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), f"{name} differs between SLURM and local runs"
    # the manifest too, except the measured wall times of each sample
    manifests = [pd.read_csv(d / "manifest.csv") for d in (ours, theirs)]
    timing = [c for c in manifests[0].columns if c.endswith("_seconds")]
    assert timing, "the manifest records wall times"
    pd.testing.assert_frame_equal(*(m.drop(columns=timing) for m in manifests))
    splits = [json.loads((d / "dataset.json").read_text()).get("splits") for d in (ours, theirs)]
    assert splits[0] and splits[0] == splits[1]


@pytest.mark.slow
def test_a_request_no_node_can_satisfy_stops_before_submitting(cluster, tmp_path: Path) -> None:
    work = tmp_path / "big"
    work.mkdir()
    config = _config(work, simulate={"cpus": cluster.cpus + 62, "mem_mb": 4000, "runtime": 60})
    done = _slurm(work, cluster, config, check=False)
    text = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"rule simulate: asks cpus_per_task={cluster.cpus + 62} (cluster.simulate.cpus)" in text
    assert f"partition '{PARTITION}' has {cluster.cpus} CPUs" in text
    assert "has been submitted" not in text, "nothing is submitted"
    assert not (work / "results").exists()
