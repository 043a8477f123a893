"""A real single-node SLURM for the executor tests: Debian's ``slurm-wlm`` and ``munge``, the
daemons started directly (no systemd), a generated ``slurm.conf`` in a private folder, stopped
afterwards. Jobs are recorded by SLURM's job-completion log (``jobcomp/filetxt``), which names each
job's final state (COMPLETED, CANCELLED, TIMEOUT, ...) without a database.

Facts behind the settings: ``../shared/design/SLURM.md``. ``.ci/run`` installs the packages; where
they are missing, :func:`start` raises :class:`SlurmUnavailable` with the reason (the tests fail
in CI, and say why elsewhere).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be started here (the message says why)."""


@dataclass
class SlurmNode:
    root: Path
    conf: Path
    host: str

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to talk to this SLURM (``SLURM_CONF``)."""
        return {"SLURM_CONF": str(self.conf)}

    def jobs(self) -> dict[int, dict[str, str]]:
        """Every job that ended, from the job-completion log: id -> its fields (JobState, ...)."""
        log = self.root / "jobcomp.log"
        out: dict[int, dict[str, str]] = {}
        if not log.exists():
            return out
        for line in log.read_text().splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            if "JobId" in fields:
                out[int(fields["JobId"])] = fields
        return out

    def queue(self) -> list[tuple[int, str]]:
        """(job id, state) of the jobs pending or running now (``squeue``)."""
        res = subprocess.run(
            ["squeue", "-h", "-o", "%i %T"], env={**os.environ, **self.env}, capture_output=True, text=True
        )
        return [(int(i), s) for i, s in (line.split() for line in res.stdout.splitlines() if line.strip())]

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until no job is pending or running (a finished run's jobs are cancelled by dask-jobqueue)."""
        end = time.time() + timeout
        while self.queue() and time.time() < end:
            time.sleep(1)


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    res = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if res.returncode != 0:
        raise SlurmUnavailable(f"{' '.join(cmd)} failed ({res.returncode}): {(res.stderr or res.stdout).strip()}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise SlurmUnavailable("cannot read MemTotal from /proc/meminfo")


def _munge_up() -> None:
    """munged as the munge user, with a key (made if missing) and its run folder."""
    probe = subprocess.run(["munge", "-n"], capture_output=True)
    if probe.returncode == 0:
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(os.urandom(1024))
    for path in (key.parent, Path("/run/munge"), Path("/var/log/munge"), Path("/var/lib/munge")):
        path.mkdir(parents=True, exist_ok=True)
        shutil.chown(path, "munge", "munge")
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    _run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"])
    for _ in range(50):
        if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise SlurmUnavailable("munged started but `munge -n` keeps failing")


def start(root: Path) -> SlurmNode:
    """Start munged, slurmctld and slurmd with a ``slurm.conf`` under ``root``; wait for the node."""
    missing = [c for c in (*DAEMONS, *COMMANDS, "munge") if shutil.which(c) is None]
    if missing:
        raise SlurmUnavailable(f"not installed: {', '.join(missing)} (apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        raise SlurmUnavailable("the SLURM daemons are started as root, and this process is not root")
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (root / sub).mkdir(exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=egbench-test",
                f"SlurmctldHost={host}",
                f"SlurmctldPort={_free_port()}",  # its own ports: never another SLURM's daemons
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "MpiDefault=none",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "ReturnToService=2",
                "DefMemPerCPU=1000",
                "SchedulerType=sched/backfill",
                "JobCompType=jobcomp/filetxt",
                f"JobCompLoc={root / 'jobcomp.log'}",
                "JobAcctGatherType=jobacct_gather/none",
                "MinJobAge=600",  # scontrol still shows an ended job's state for 10 minutes
                "KillWait=5",
                "OverTimeLimit=0",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'slurmd.log'}",
                f"NodeName={host} CPUs={cpus} Sockets=1 CoresPerSocket={cpus} ThreadsPerCore=1 "
                f"RealMemory={_memory_mb() - 1024} State=UNKNOWN",
                "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    env = {"SLURM_CONF": str(conf)}
    _munge_up()
    _run(["slurmctld", "-f", str(conf)], env)
    _run(["slurmd", "-f", str(conf)], env)
    node = SlurmNode(root, conf, host)
    deadline = time.time() + 60
    while time.time() < deadline:
        dead = [d for d in ("slurmctld", "slurmd") if not _alive(root / f"{d}.pid")]
        if dead and time.time() > deadline - 55:
            stop(node)
            raise SlurmUnavailable(f"{' and '.join(dead)} exited at start; see {root / (dead[0] + '.log')}")
        res = subprocess.run(["sinfo", "-h", "-o", "%T"], env={**os.environ, **env}, capture_output=True, text=True)
        if res.returncode == 0 and res.stdout.strip() in ("idle", "mixed", "allocated"):
            return node
        time.sleep(0.5)
    stop(node)
    raise SlurmUnavailable(f"the node never became idle; see {root / 'slurmctld.log'} and {root / 'slurmd.log'}")


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def stop(node: SlurmNode) -> None:
    """Cancel every job, then stop slurmd and slurmctld (munged stays: other tests may share it)."""
    env = {**os.environ, **node.env}
    subprocess.run(["scancel", "--full", "-u", "root"], env=env, capture_output=True)
    for pid_file in ("slurmd.pid", "slurmctld.pid"):
        path = node.root / pid_file
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            continue
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
