"""The SLURM jobs of a run, kept alive while cells remain.

dask-jobqueue submits a job per ``scale`` and never replaces one that ends early: a job cancelled
(``scancel``), out of walltime (``TIMEOUT``) or on a failed node leaves its cells re-queued on the
scheduler with no worker to run them, and the run waits for ever. :class:`SlurmJobs` asks SLURM
(``scontrol show job``) for the state of every job of the cluster each time the run's wait wakes
up, forgets the jobs that ended, and submits replacements up to the number asked for. The reasons
(``slurm job 7 TIMEOUT``) name a cell's failure when its worker is lost twice; a cluster that can
run nothing any more (no job pending or running, and replacements refused) is *stranded*, which
ends the run's wait (:class:`~egbench_core.run.executors.DaskExecutor`).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from typing import Any

log = logging.getLogger(__name__)

# Job states after which the job's workers are gone (squeue(1), "JOB STATE CODES").
ENDED = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)
STRANDED_S = 120.0  # no job pending or running for this long, with cells in flight: the run ends them


def job_state(job_id: str) -> str:
    """SLURM's state of job ``job_id`` (``RUNNING``, ``TIMEOUT``, ...); ``ENDED`` once SLURM has
    forgotten it, ``UNKNOWN`` when SLURM cannot be asked."""
    if shutil.which("scontrol") is None:
        return "UNKNOWN"
    try:
        res = subprocess.run(["scontrol", "show", "job", "-o", str(job_id)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "UNKNOWN"
    if res.returncode != 0:
        return "ENDED" if "Invalid job id" in res.stderr else "UNKNOWN"
    for field in res.stdout.split():
        if field.startswith("JobState="):
            return field.partition("=")[2]
    return "UNKNOWN"


class SlurmJobs:
    """Keeps ``target`` jobs of a dask-jobqueue ``cluster`` submitted while the run needs them."""

    def __init__(self, cluster: Any, target: int):
        self.cluster, self.target = cluster, target
        self.losses: list[str] = []  # "slurm job 7 TIMEOUT", in the order they were seen
        self._nothing_since: float | None = None

    def check(self) -> list[str]:
        """Forget the jobs that ended, submit replacements, and return the new losses."""
        new: list[str] = []
        live = 0
        for name, job in list(self.cluster.workers.items()):
            job_id = getattr(job, "job_id", None)
            if not job_id:
                live += 1  # being submitted
                continue
            state = job_state(job_id)
            if state.split()[0] in ENDED or state == "ENDED":
                self.cluster.workers.pop(name, None)
                self.cluster.worker_spec.pop(name, None)
                new.append(f"slurm job {job_id} {state}")
            elif state != "UNKNOWN":
                live += 1
        if new:
            self.losses.extend(new)
            # a replacement takes a new name: SpecCluster removes a lost worker's name some seconds
            # after the loss, which would close a replacement that reused it
            self.cluster._i = getattr(self.cluster, "_i", 0) + len(new)
            log.warning("%s with cells to run: submitting %d replacement job(s)", "; ".join(new), len(new))
            try:
                self.cluster.scale(jobs=self.target)
            except Exception as exc:  # noqa: BLE001 - sbatch refused: the run is told by stranded()
                log.error("replacement SLURM job refused: %s", exc)
            live += len(new)
        self._nothing_since = None if live else (self._nothing_since or time.monotonic())
        return new

    def settle(self, timeout: float = 30.0) -> None:
        """Look at the jobs until the one whose worker was just lost has ended (SLURM marks a job
        ``TIMEOUT`` or ``CANCELLED`` before its processes are gone), for at most ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while not self.check() and time.monotonic() < end:
            time.sleep(1.0)

    def stranded(self) -> str | None:
        """Why nothing can run any more (no job pending or running for :data:`STRANDED_S`), or None."""
        if self._nothing_since is None or time.monotonic() - self._nothing_since < STRANDED_S:
            return None
        last = f" (last: {self.losses[-1]})" if self.losses else ""
        return f"no SLURM job pending or running for {STRANDED_S:.0f} s{last}"
