"""Where cells run — one small seam (ARCHITECTURE.md, "Execution"):

* ``local`` (default): in this process, one cell at a time;
* ``dask``: a ``dask.distributed`` cluster — a ``LocalCluster`` of worker processes on this
  machine (``--workers N``) or an existing scheduler (``--scheduler ADDRESS``);
* ``slurm``: dask-jobqueue's ``SLURMCluster``, its resources from the ``[executor.slurm]`` table of
  a config file (``egbench.toml`` or ``--config``).

Workers compute; the client (the ``egbench run`` process) claims cells and writes the store. A
worker writes a cell's artifacts into the cell's attempt folder under the results folder, so on a
cluster the results folder must be on a file system shared by the client and the workers. Models
living in another environment run through that environment's worker on whichever machine
executes the cell. A worker that dies while running a cell is retried once on another worker
(``distributed.scheduler.allowed-failures = 1``); a second loss is an *infrastructure* failure
(:class:`InfrastructureError`), never confused with a model failure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cell import Cell, CellResult, Execution
from .progress import EventForwarder, Progress, relay

log = logging.getLogger(__name__)

PROGRESS_TOPIC = "egbench-progress"
EXECUTORS = ("local", "dask", "slurm")


class InfrastructureError(RuntimeError):
    """The machine, not the model, failed (a worker process died twice)."""


class ExecutorConfigError(ValueError):
    """A bad executor option or config file (one line for the user)."""


@dataclass
class Job:
    """What travels to a worker: plain data only."""

    cell: dict[str, Any]
    scratch: str
    proto: dict[str, Any]
    execution: dict[str, Any]
    priority: float = 0.0


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
        from .execute import execute_cell
        from .protocol import ProtocolPreset

        try:
            result = execute_cell(
                Cell.from_dict(job.cell),
                self.catalog,
                Path(job.scratch),
                ProtocolPreset(**job.proto),
                progress,
                Execution(**job.execution),
            )
        except Exception as exc:  # noqa: BLE001 - the runner records it; KeyboardInterrupt propagates
            return Done(error=exc)
        return Done(result)

    def wait_one(self, handles: Iterable[Done]) -> Done:
        return next(iter(handles))

    def result(self, handle: Done) -> CellResult:
        return handle.result()

    def close(self) -> None:
        pass


def run_job(job: Job) -> CellResult:
    """A cell on a Dask worker: the worker's own catalog (installed plugins), progress as events."""
    import torch

    from .execute import execute_cell
    from .plugins import catalog
    from .protocol import ProtocolPreset

    execution = Execution(**job.execution)
    torch.set_num_threads(execution.threads)
    cell = Cell.from_dict(job.cell)
    return execute_cell(
        cell, catalog(), Path(job.scratch), ProtocolPreset(**job.proto), _WorkerProgress(cell.key), execution
    )


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

    def __init__(self, client, cluster=None, uses_gpu_resources: bool = False):
        self.client, self.cluster = client, cluster
        self.uses_gpu_resources = uses_gpu_resources
        self._progress: dict[str, Progress] = {}
        client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)

    @classmethod
    def local(cls, workers: int, threads: int, warm_models: str = "") -> DaskExecutor:
        """A LocalCluster of ``workers`` processes; each imports the frameworks of ``warm_models``
        (comma-separated ids, or ``all``) as it starts (:mod:`egbench_core.dask_preload`)."""
        import dask
        from distributed import Client, LocalCluster

        from .dask_preload import WARM_MODELS_ENV

        dask.config.set({"distributed.scheduler.allowed-failures": 1})
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), WARM_MODELS_ENV: warm_models},
            preload=["egbench_core.dask_preload"],
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
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, job: Job, progress: Progress):
        self._progress[job.cell["key"]] = progress
        resources = {"GPU": 1} if self.uses_gpu_resources and job.execution["device"].startswith("cuda") else None
        return self.client.submit(
            run_job,
            job,
            key=f"egbench-cell-{job.cell['key'][:16]}-{id(job):x}",
            pure=False,
            priority=job.priority,
            resources=resources,
        )

    def _on_progress(self, event) -> None:
        _, msg = event
        progress = self._progress.get(msg.get("key"))
        if progress is not None:
            relay(progress, msg.get("event", ""), msg.get("args", []))

    def wait_one(self, handles):
        from distributed import wait

        done, _ = wait(list(handles), return_when="FIRST_COMPLETED")
        return next(iter(done))

    def result(self, handle) -> CellResult:
        from distributed import KilledWorker

        try:
            return handle.result()
        except KilledWorker as exc:
            raise InfrastructureError(f"worker lost twice while running the cell ({exc})") from None

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
    prologue = ([table["env"]] if table.get("env") else []) + [f"export EGBENCH_THREADS={threads}"]
    cluster = SLURMCluster(
        queue=table.get("queue"),
        account=table.get("account"),
        walltime=table["walltime"],
        cores=int(table["cores"]),
        memory=str(table["memory"]),
        processes=int(table.get("processes", 1)),
        job_name="egbench",
        job_extra_directives=([f"--gres=gpu:{gpus}"] if gpus else []) + list(table.get("job_extra", [])),
        job_script_prologue=prologue,
        worker_extra_args=[f"--resources GPU={gpus}"] if gpus else [],
        local_directory=table.get("local_directory"),
        interface=table.get("interface"),
        **({"python": table["python"]} if table.get("python") else {}),
    )
    return cluster, int(table.get("jobs", 1)), bool(gpus)


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
        cluster, jobs, gpus = slurm_cluster(config, threads)
        cluster.scale(jobs=jobs)
        return DaskExecutor(Client(cluster), cluster, uses_gpu_resources=gpus)
    raise ExecutorConfigError(f"--executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
