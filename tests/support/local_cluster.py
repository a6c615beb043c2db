"""A one-node SLURM cluster on localhost for tests and benchmarks (munged + slurmctld + slurmd).

Everything lives in one folder: the munge key and socket, ``slurm.conf``, the state and spool
folders and the daemons' logs; the daemons run as the current user (root in CI, where
``.ci/run`` installs Debian's ``slurmctld``, ``slurmd``, ``slurm-client`` and ``munge``).
Accounting is off (no slurmdbd), as on many small clusters: ``sacct`` then only answers "Slurm
accounting storage is disabled", which is the case the shipped profile has to cope with.

The config is also installed at SLURM's default path ``/etc/slurm/slurm.conf`` (and removed
again by :func:`stop`): the executor plugin's job step drops every ``SLURM_*`` variable, the
``SLURM_CONF`` pointer included, before it calls ``srun`` inside the job. A machine that already
has a SLURM config there is left alone: no private cluster starts on it.

Command line (for benchmarks and by hand)::

    python tests/support/local_cluster.py start DIR [--partition debug]   # prints the SLURM_CONF line
    python tests/support/local_cluster.py stop DIR
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
MARK = "# lacbed-bridge test cluster"
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel")


def missing_tools() -> list[str]:
    """The SLURM and munge programs this machine lacks (empty when a cluster can start)."""
    return [name for name in (*DAEMONS, *CLIENTS) if _which(name) is None]


def _which(name: str) -> str | None:
    # the daemons live in /usr/sbin, which a non-login PATH may leave out
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("cannot read MemTotal from /proc/meminfo")


@dataclass(frozen=True)
class LocalCluster:
    """A running one-node cluster; ``env`` is what a client (sbatch, snakemake) needs."""

    root: Path
    partition: str
    cpus: int
    memory_mb: int

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(command), env=self.env, capture_output=True, text=True, check=check, timeout=60)


def write_conf(root: Path, partition: str, cpus: int, memory_mb: int) -> Path:
    """slurm.conf for one node named after this host, all paths inside ``root``."""
    host = socket.gethostname().split(".")[0]
    user = getpass.getuser()
    lines = [
        "ClusterName=lacbedtest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        f"SlurmUser={user}",
        f"SlurmdUser={user}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root / 'munge' / 'munge.sock'}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        # no cgroups in a container: track processes by /proc, no task binding
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "SchedulerType=sched/backfill",
        "MaxArraySize=10001",
        "MinJobAge=300",  # finished jobs stay visible to squeue for 5 minutes (the default)
        "SchedulerParameters=sched_interval=2",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]
    conf = root / "slurm.conf"
    conf.write_text(MARK + "\n" + "\n".join(lines) + "\n")
    return conf


def start(root: Path, partition: str = "debug", timeout: float = 60.0) -> LocalCluster:
    """Start munged, slurmctld and slurmd under ``root`` and wait until the node is idle."""
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"cannot start a local SLURM cluster: {', '.join(missing)} not installed "
                           "(Debian: apt-get install slurmctld slurmd slurm-client munge)")
    root = root.resolve()
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "munge", 0o700)
    key = root / "munge" / "munge.key"
    if not key.exists():
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
    cpus = os.cpu_count() or 1
    memory_mb = max(1000, _memory_mb() - 2000)
    if DEFAULT_CONF.exists() and not DEFAULT_CONF.read_text().startswith(MARK):
        raise RuntimeError(f"{DEFAULT_CONF} exists (a real SLURM installation): not starting a private test cluster beside it")
    conf = write_conf(root, partition, cpus, memory_mb)
    DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(conf, DEFAULT_CONF)
    cluster = LocalCluster(root, partition, cpus, memory_mb)
    munge = root / "munge"
    subprocess.run([_which("munged"), f"--socket={munge / 'munge.sock'}", f"--key-file={key}",
                    f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                    f"--seed-file={munge / 'seed'}", "--force"], check=True, capture_output=True, text=True)
    for daemon in ("slurmctld", "slurmd"):
        subprocess.run([_which(daemon), "-f", str(conf)], check=True, capture_output=True, text=True, env=cluster.env)
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        done = cluster.run("sinfo", "--noheader", "-o", "%t", check=False)
        state = done.stdout.strip()
        if done.returncode == 0 and state.startswith("idle"):
            return cluster
        time.sleep(0.5)
    logs = "".join(p.read_text()[-2000:] for p in sorted((root / "log").glob("*.log")))
    stop(root)
    raise RuntimeError(f"local SLURM node not idle after {timeout:.0f} s (state {state!r}):\n{logs}")


def stop(root: Path) -> None:
    """Cancel every job, then stop slurmd, slurmctld and munged (by their pid files)."""
    root = root.resolve()
    env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    if (root / "slurm.conf").exists() and _which("scancel"):
        subprocess.run([_which("scancel"), "--user", getpass.getuser()], env=env, capture_output=True, check=False, timeout=30)
    for pid_file in (root / "slurmd.pid", root / "slurmctld.pid", root / "munge" / "munged.pid"):
        _terminate(pid_file)
    if DEFAULT_CONF.exists() and DEFAULT_CONF.read_text().startswith(MARK):
        DEFAULT_CONF.unlink()


def _terminate(pid_file: Path, timeout: float = 15.0) -> None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("root", type=Path)
    parser.add_argument("--partition", default="debug")
    args = parser.parse_args(argv)
    if args.action == "start":
        cluster = start(args.root, args.partition)
        print(f"export SLURM_CONF={cluster.conf}   # partition {cluster.partition}, {cluster.cpus} CPUs, {cluster.memory_mb} MB")
    else:
        stop(args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
