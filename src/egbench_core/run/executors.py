"""Where cells run — one small seam (docs/scale.md, "Executors"):

* ``local`` (default): in this process, one cell at a time;
* ``dask``: a ``dask.distributed`` cluster — a ``LocalCluster`` of worker processes on this
  machine (``--workers N``) or an existing scheduler (``--scheduler ADDRESS``);
* ``slurm``: dask-jobqueue's ``SLURMCluster``, its resources from the ``[executor.slurm]`` table of
  a config file (``egbench.toml`` or ``--config``).

Dask workers compute; the client (the ``egbench run`` process) claims cells and writes the store.
A Dask worker writes a cell's artifacts into the cell's attempt folder under the results folder, so on a
cluster the results folder must be on a file system shared by the client and the Dask workers.
Models living in another environment run through an environment worker (``worker.py``, a
subprocess in that environment) on whichever Dask worker executes the cell. A Dask worker that
dies while running a cell is retried once on another one
(``distributed.scheduler.allowed-failures = 1``); a second loss is an *infrastructure* failure
(:class:`InfrastructureError`), never confused with a model failure.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egbench_core.cell import Cell, CellResult, Execution
from egbench_core.run.progress import EventForwarder, Progress, relay
from egbench_core.run.slurm_jobs import STRANDED_S, SlurmJobs

if TYPE_CHECKING:
    from egbench_core.plugins import Catalog
    from egbench_core.run.protocol import ProtocolPreset

log = logging.getLogger(__name__)

PROGRESS_TOPIC = "egbench-progress"
# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536 (distributed.nanny.pre-spawn-environ):
# glibc then hands freed memory back at once, and torch's training loop spends its time in the
# kernel (PaiNN at quick on acac: 126 s of training instead of 49, 72 s of it system time). egbench's
# workers keep glibc's default (a None in that config unsets the variable).
NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
NO_MALLOC_TRIM_ENV = "export DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None"
WATCH_S = 5.0  # how often a waiting run looks at its SLURM jobs
EXECUTORS = ("local", "dask", "slurm")


class InfrastructureError(RuntimeError):
    """The machine, not the model, failed (a Dask worker process died twice)."""


class ExecutorConfigError(ValueError):
    """A bad executor option or config file (one line for the user)."""


@dataclass
class Job:
    """A cell as it travels to whatever executes it, a Dask worker included (Dask pickles it):
    plain data only, made by :meth:`of` and run by :meth:`run`, the one place each side converts."""

    cell: dict[str, Any]
    scratch: str
    proto: dict[str, Any]
    execution: dict[str, Any]
    priority: float = 0.0
    reuse: dict[str, str] = field(default_factory=dict)  # stage kind -> folder of its done stage

    @classmethod
    def of(
        cls,
        cell: Cell,
        scratch: Path,
        proto: ProtocolPreset,
        execution: Execution,
        priority: float = 0.0,
        reuse: dict[str, str] | None = None,
    ) -> Job:
        return cls(cell.to_dict(), str(scratch), proto.to_dict(), execution.to_dict(), priority, dict(reuse or {}))

    @property
    def threads(self) -> int:
        """The torch threads the cell runs with."""
        return int(self.execution["threads"])

    @property
    def key(self) -> str:
        return self.cell["key"]

    def run(self, catalog: Catalog, progress: Progress) -> CellResult:
        """:func:`~egbench_core.run.execute.execute_cell` of this job, with ``catalog``."""
        from egbench_core.run.execute import execute_cell
        from egbench_core.run.protocol import ProtocolPreset

        return execute_cell(
            Cell.from_dict(self.cell),
            catalog,
            Path(self.scratch),
            ProtocolPreset(**self.proto),
            progress,
            Execution(**self.execution),
            self.reuse,
        )


class Done:
    """A finished job of the local executor (the shape of a future)."""

    def __init__(self, result: CellResult | None = None, error: BaseException | None = None):
        self._result, self._error = result, error

    def result(self) -> CellResult:
        if self._error is not None:
            raise self._error
        assert self._result is not None  # a Done holds its result or its error
        return self._result


class LocalExecutor:
    """In this process, with the run's own catalog (so in-process plugins work)."""

    name = "local"

    def __init__(self, catalog):
        self.catalog = catalog

    @property
    def slots(self) -> int:
        return 1

    def submit(self, job: Job, progress: Progress) -> Done:
        try:
            result = job.run(self.catalog, progress)
        except Exception as exc:  # noqa: BLE001 - the runner records it; KeyboardInterrupt propagates
            return Done(error=exc)
        return Done(result)

    def wait_one(self, handles: Iterable[Done], timeout: float | None = None) -> Done:
        return next(iter(handles))

    def result(self, handle: Done) -> CellResult:
        return handle.result()

    def close(self) -> None:
        pass


# One cell at a time in a process. A cell sets process-wide state (torch's RNG and thread count,
# TorchScript's compilation caches, which are not thread-safe): two cells in threads of one
# worker process give other numbers than the same cells run alone, or fail inside torch.jit.
# Whatever the cluster's threads per worker, a second cell in the same process waits here.
_ONE_CELL_PER_PROCESS = threading.Lock()


def run_job(job: Job) -> CellResult:
    """A cell on a Dask worker: the worker's own catalog (installed plugins), progress as events.
    Cells never run side by side in one process (:data:`_ONE_CELL_PER_PROCESS`); ``info["worker"]``
    records the process and when the cell held it."""
    import torch

    from egbench_core.plugins import catalog

    if not _ONE_CELL_PER_PROCESS.acquire(blocking=False):
        label = Cell.from_dict(job.cell).label
        log.warning("cell %s waits: another cell runs in this Dask worker process (cells never share one)", label)
        _ONE_CELL_PER_PROCESS.acquire()
    try:
        started = time.time()
        torch.set_num_threads(job.threads)
        result = job.run(catalog(), _WorkerProgress(job.key))
        result.info["worker"] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": started,
            "finished": time.time(),
        }
        return result
    finally:
        _ONE_CELL_PER_PROCESS.release()


class _WorkerProgress(EventForwarder):
    """Forwards a cell's progress from a Dask worker to the client (scheduler events)."""

    def __init__(self, key: str):
        self.key = key

    def emit(self, event: str, args: list[Any]) -> None:
        from distributed import get_worker

        try:
            get_worker().log_event(PROGRESS_TOPIC, {"key": self.key, "event": event, "args": args})
        except Exception as exc:  # noqa: BLE001 - progress must never fail a cell
            log.debug("progress event lost: %s", exc)


class DaskExecutor:
    """Cells as tasks of a ``dask.distributed`` cluster."""

    name = "dask"

    def __init__(self, client, cluster=None, uses_gpu_resources: bool = False, expected_workers: int = 0):
        self.client, self.cluster = client, cluster
        self.uses_gpu_resources = uses_gpu_resources
        self.expected_workers = expected_workers  # worker processes asked for (a SLURM cluster: jobs × processes)
        self.jobs: SlurmJobs | None = None  # a SLURM cluster's jobs, replaced when they end early
        self.walltime_s: float | None = None  # a SLURM job's walltime (cells longer are named before)
        self._warned: set[str] = set()
        self._lost_at: dict[Any, int] = {}  # handle -> SLURM losses seen before it was submitted
        self._stranded: dict[Any, str] = {}  # handle -> why no worker can run it any more
        self._no_workers_since: float | None = None
        self._progress: dict[str, Progress] = {}
        client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)

    @classmethod
    def local(cls, workers: int, threads: int, warm_models: str = "") -> DaskExecutor:
        """A LocalCluster of ``workers`` processes; each imports the frameworks of ``warm_models``
        (comma-separated ids, or ``all``) as it starts (:mod:`egbench_core.run.dask_preload`)."""
        import dask
        from distributed import Client, LocalCluster

        from egbench_core.run.dask_preload import WARM_MODELS_ENV

        dask.config.set({"distributed.scheduler.allowed-failures": 1, **NO_MALLOC_TRIM})
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), WARM_MODELS_ENV: warm_models},
            preload=["egbench_core.run.dask_preload"],
        )
        return cls(Client(cluster), cluster)

    @classmethod
    def connect(cls, address: str) -> DaskExecutor:
        from distributed import Client

        try:
            client = Client(address, timeout=30)
        except OSError as exc:
            raise ExecutorConfigError(f"--scheduler {address!r}: cannot connect ({exc})") from None
        return cls(client)

    @property
    def slots(self) -> int:
        """Cells in flight at once: one per worker process (never one per thread: cells do not
        share a process, see :func:`run_job`), or the capacity asked of a cluster whose workers
        have not all connected yet (SLURM jobs × processes)."""
        nthreads = self.client.nthreads()
        shared = sorted(w for w, n in nthreads.items() if n > 1 and w not in self._warned)
        for w in shared:
            log.warning(
                "worker %s has %d threads: egbench runs one cell at a time in it (cells never share a process)",
                w,
                nthreads[w],
            )
            self._warned.add(w)
        return max(1, len(nthreads), self.expected_workers)

    def submit(self, job: Job, progress: Progress):
        self._progress[job.key] = progress
        resources = {"GPU": 1} if self.uses_gpu_resources and job.execution["device"].startswith("cuda") else None
        handle = self.client.submit(
            run_job,
            job,
            key=f"egbench-cell-{job.key[:16]}-{id(job):x}",
            pure=False,
            priority=job.priority,
            resources=resources,
        )
        self._lost_at[handle] = len(self.jobs.losses) if self.jobs is not None else 0
        return handle

    def _on_progress(self, event) -> None:
        _, msg = event
        progress = self._progress.get(msg.get("key"))
        if progress is not None:
            relay(progress, msg.get("event", ""), msg.get("args", []))

    def wait_one(self, handles, timeout: float | None = None):
        """The first of ``handles`` to finish, or None after ``timeout`` seconds (None: no limit).
        The wait wakes every :data:`WATCH_S` seconds to keep a SLURM cluster's jobs alive
        (:class:`~egbench_core.run.slurm_jobs.SlurmJobs`); on a cluster that can run nothing any more,
        every handle ends as an infrastructure failure."""
        from distributed import wait

        end = None if timeout is None else time.monotonic() + timeout
        while end is None or time.monotonic() < end:
            step = WATCH_S if end is None else max(0.1, min(WATCH_S, end - time.monotonic()))
            try:
                done, _ = wait(list(handles), timeout=step, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            if done:
                return next(iter(done))
            if self.jobs is not None:
                self.jobs.check()
                why = self.jobs.stranded()
            else:
                why = self._no_workers()
            if why is not None:
                handle = next(iter(handles))
                self._stranded[handle] = why
                return handle
        return None

    def _no_workers(self) -> str | None:
        """Why cells in flight can never run (no worker connected for :data:`STRANDED_S`), or None.
        A worker lost while running a cell is retried elsewhere; with none left, the run ends."""
        if self.client.nthreads():
            self._no_workers_since = None
            return None
        if self._no_workers_since is None:
            self._no_workers_since = time.monotonic()
        waited = time.monotonic() - self._no_workers_since
        return f"no Dask worker connected for {waited:.0f} s" if waited >= STRANDED_S else None

    def result(self, handle) -> CellResult:
        from distributed import KilledWorker

        lost_before = self._lost_at.pop(handle, 0)
        if handle in self._stranded:
            why = self._stranded.pop(handle)
            handle.cancel()
            raise InfrastructureError(why)
        try:
            return handle.result()
        except KilledWorker as exc:
            if self.jobs is not None:  # the second loss may be newer than the last look at the jobs
                self.jobs.settle()
            jobs = self.jobs.losses[lost_before:] if self.jobs is not None else []
            why = "; ".join(jobs) if jobs else str(exc)
            raise InfrastructureError(f"worker lost twice while running the cell ({why})") from None

    def cancel(self, handles) -> None:
        self.client.cancel(list(handles), force=True)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# -- SLURM ---------------------------------------------------------------------------------------
SLURM_KEYS = {
    "queue",
    "account",
    "walltime",
    "cores",
    "memory",
    "gpus",
    "processes",
    "env",
    "python",
    "job_extra",
    "jobs",
    "local_directory",
    "interface",
}


def load_config(path: Path | None) -> dict[str, Any]:
    """The ``[executor.*]`` tables of ``path`` (or ``./egbench.toml`` when it exists)."""
    import tomllib

    if path is None:
        path = Path("egbench.toml")
        if not path.exists():
            return {}
    elif not path.exists():
        raise ExecutorConfigError(f"--config {path}: no such file")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh).get("executor", {})
    except tomllib.TOMLDecodeError as exc:
        raise ExecutorConfigError(f"{path} is not valid TOML: {exc}") from None


def slurm_cluster(config: dict[str, Any], threads: int):
    """dask-jobqueue's ``SLURMCluster`` from an ``[executor.slurm]`` table: ``queue``, ``account``,
    ``walltime``, ``cores``, ``memory``, ``gpus`` (per job), ``env`` (a command run first, e.g.
    ``source /path/.venv/bin/activate``), ``python`` (the workers' Python, default this one),
    ``job_extra`` (more ``#SBATCH`` lines), ``jobs`` (how many to submit)."""
    table = config.get("slurm")
    if not table:
        raise ExecutorConfigError(
            "--executor slurm needs an [executor.slurm] table in egbench.toml or --config "
            "(queue, account, walltime, cores, memory, gpus, env)"
        )
    unknown = sorted(set(table) - SLURM_KEYS)
    if unknown:
        raise ExecutorConfigError(f"[executor.slurm] has unknown keys {unknown}; expected some of {sorted(SLURM_KEYS)}")
    for key in ("cores", "memory", "walltime"):
        if key not in table:
            raise ExecutorConfigError(
                f'[executor.slurm] lacks {key!r} (e.g. cores = 8, memory = "32GB", walltime = "12:00:00")'
            )
    from dask_jobqueue import SLURMCluster

    quiet_dask()
    gpus = int(table.get("gpus", 0))
    cores = _positive_int(table, "cores")
    processes = worker_processes(table)
    prologue = ([table["env"]] if table.get("env") else []) + [f"export EGBENCH_THREADS={threads}", NO_MALLOC_TRIM_ENV]
    cluster = SLURMCluster(
        queue=table.get("queue"),
        account=table.get("account"),
        walltime=table["walltime"],
        cores=processes,  # one Dask thread per worker process: one cell per process (run_job)
        job_cpu=cores * max(1, threads),  # CPUs of the job: its processes × their torch threads
        memory=str(table["memory"]),
        processes=processes,
        job_name="egbench",
        job_extra_directives=([f"--gres=gpu:{gpus}"] if gpus else []) + list(table.get("job_extra", [])),
        job_script_prologue=prologue,
        worker_extra_args=[f"--resources GPU={gpus}"] if gpus else [],
        local_directory=table.get("local_directory"),
        interface=table.get("interface"),
        **({"python": table["python"]} if table.get("python") else {}),
    )
    return cluster, int(table.get("jobs", 1)), processes, bool(gpus)


def walltime_seconds(text: str) -> float | None:
    """SLURM's time formats (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``)
    in seconds; None for one it does not recognise."""
    days, _, rest = text.strip().rpartition("-") if "-" in text else ("0", "", text.strip())
    try:
        parts = [int(x) for x in rest.split(":")]
        d = int(days or 0)
    except ValueError:
        return None
    if "-" in text:  # D-HH[:MM[:SS]]
        parts += [0] * (3 - len(parts))
        h, m, s = parts[:3]
    else:
        h, m, s = {1: (0, parts[0], 0), 2: (0, *parts), 3: tuple(parts)}.get(len(parts), (0, 0, 0))
    return float(((d * 24 + h) * 60 + m) * 60 + s)


def _positive_int(table: dict[str, Any], key: str) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ExecutorConfigError(f"[executor.slurm] {key} = {value!r}: expected a positive integer")
    return value


def worker_processes(table: dict[str, Any]) -> int:
    """Worker processes per SLURM job: one per core (``cores = N`` runs N cells at a time, each in
    its own process with ``--threads`` torch threads). A ``processes`` that would put two cells in
    threads of one process (fewer processes than cores) is raised to ``cores``, with a log line."""
    cores = _positive_int(table, "cores")
    if "processes" not in table:
        return cores
    asked = _positive_int(table, "processes")
    if asked > cores:
        raise ExecutorConfigError(
            f"[executor.slurm] processes = {asked} exceeds cores = {cores}: expected at most one process per core"
        )
    if asked < cores:
        log.warning(
            "[executor.slurm] processes = %d with cores = %d would run %d cells in threads of one process "
            "(their numbers can change): using processes = %d, one cell per process",
            asked,
            cores,
            cores // asked,
            cores,
        )
    return cores


def quiet_dask() -> None:
    """Dask's own INFO lines (scheduler start/stop) stay out of egbench's output (shown with -vv).
    ``import distributed`` sets its loggers' levels from dask's config, so it is imported first."""
    import distributed  # noqa: F401 - configures its logging on import; the levels below override it

    if logging.getLogger().level > logging.DEBUG:
        for name in ("distributed", "dask_jobqueue"):
            logging.getLogger(name).setLevel(logging.WARNING)


def check_options(kind: str, workers: int | None, scheduler: str | None) -> None:
    """Refuse contradictory executor options before anything is created."""
    if kind not in EXECUTORS:
        raise ExecutorConfigError(f"--executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
    if kind != "dask" and (workers is not None or scheduler):
        raise ExecutorConfigError("--workers and --scheduler need --executor dask")
    if kind == "dask":
        if scheduler and workers is not None:
            raise ExecutorConfigError(
                "--executor dask: give --workers N (a cluster on this machine) or --scheduler "
                "ADDRESS (an existing one), not both"
            )
        if not scheduler and (workers is None or workers < 1):
            raise ExecutorConfigError("--executor dask needs --workers N (N >= 1) or --scheduler ADDRESS")


def make_executor(
    kind: str,
    catalog,
    workers: int | None,
    scheduler: str | None,
    config: dict[str, Any],
    threads: int,
    warm_models: str = "",
):
    check_options(kind, workers, scheduler)
    if kind == "local":
        return LocalExecutor(catalog)
    quiet_dask()
    if kind == "dask":
        if scheduler:
            return DaskExecutor.connect(scheduler)
        assert workers is not None  # check_options: --executor dask without --scheduler needs --workers N
        return DaskExecutor.local(workers, threads, warm_models)
    if kind == "slurm":
        import dask
        from distributed import Client

        dask.config.set({"distributed.scheduler.allowed-failures": 1})
        cluster, jobs, processes, gpus = slurm_cluster(config, threads)
        cluster.scale(jobs=jobs)
        slurm = DaskExecutor(Client(cluster), cluster, uses_gpu_resources=gpus, expected_workers=jobs * processes)
        slurm.name = "slurm"  # recorded with the run (a Dask cluster of SLURM jobs)
        slurm.walltime_s = walltime_seconds(str(config["slurm"]["walltime"]))
        slurm.jobs = SlurmJobs(cluster, jobs)
        return slurm
    raise ExecutorConfigError(f"--executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
