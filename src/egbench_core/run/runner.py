"""Run planned cells through an executor into the store.

For each runnable cell the client (this process) claims it in the store (a live claim of another
process is skipped: "running in another process"), renews the claims of every cell in flight
with one heartbeat thread, hands the cell to the executor (in-process, or a Dask worker), and
records the result: ``done`` only after the attempt folder has moved into place. A failing cell
is recorded with its traceback and the run goes on; a lost worker is an *infrastructure* failure,
counted apart; SIGINT/SIGTERM record every cell in flight as *interrupted* (recomputed next time)
and stop. Only this process writes the store.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import sys
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egbench_core.cell import Cell, Execution
from egbench_core.run.executors import InfrastructureError, Job, LocalExecutor
from egbench_core.run.planning import parse_seeds, plan_cells, select  # noqa: F401 - re-exported: the runner's public API
from egbench_core.run.progress import RunListener
from egbench_core.run.protocol import protocol
from egbench_core.run.provenance import run_provenance
from egbench_core.stages.keys import LAYOUT
from egbench_core.stages.runner import RunStages
from egbench_core.store import (
    HEARTBEAT_S,
    Store,
    StoreError,
    StoreFull,
    is_disk_full,
    little_space_left,
    new_owner,
    renew_claim,
)

if TYPE_CHECKING:
    from egbench_core.plugins import Catalog

log = logging.getLogger(__name__)

STAGE_POLL_S = 2.0  # how often a run whose cells all wait for another process's stage looks again
TRAINED_POLL_S = 2.0  # how often a run with cells waiting for a training in flight looks for it
_InFlight = tuple[Cell, Any, float]  # a cell handed to the executor, its attempt folder, when it started


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a run (``signal`` names which)."""

    def __init__(self, signal: str = "SIGINT"):
        super().__init__(signal)
        self.signal = signal


@dataclass
class RunSummary:
    run_id: int
    done: int = 0
    cached: int = 0
    failed: int = 0  # the model or the data failed (traceback stored)
    infra_failed: int = 0  # the machine failed (a Dask worker lost twice)
    failed_kept: int = 0  # failed in an earlier run, kept by --no-retry-failed
    skipped: int = 0
    busy: int = 0  # running in another process
    recomputed: list[str] = field(default_factory=list)  # done cells whose artifacts were missing/altered
    skip_reasons: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # reason -> cell labels
    stages: RunStages | None = None  # stages computed and reused, by kind (stage_runner.summary_line)


class _Claims:
    """Renews the claims of every cell in flight every HEARTBEAT_S seconds (one thread, its own
    SQLite connection)."""

    def __init__(self, store: Store, owner: str):
        self.path, self.owner = store.path, owner
        self.keys: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="egbench-heartbeat", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)

    def add(self, key: str) -> None:
        with self.lock:
            self.keys.add(key)

    def remove(self, key: str) -> None:
        with self.lock:
            self.keys.discard(key)

    def _beat(self) -> None:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            while not self.stop.wait(HEARTBEAT_S):
                with self.lock:
                    keys = list(self.keys)
                for key in keys:
                    try:
                        renew_claim(db, key, self.owner)
                    except sqlite3.Error as exc:  # a busy database: try again next beat
                        log.debug("heartbeat of %s failed: %s", key[:8], exc)
        finally:
            db.close()


class CellProgress:
    """A cell's :class:`~egbench_core.run.progress.Progress`, addressed to the run's listener with the
    cell attached (``stage`` -> ``cell_stage(cell, ...)``, ...)."""

    def __init__(self, progress: RunListener | None, cell: Cell, stages: RunStages | None = None):
        self.progress, self.cell, self.stages = progress, cell, stages

    def stage(self, name: str) -> None:
        if name == "evaluate" and self.stages is not None:  # its training is done and written
            self.stages.trained(self.cell)
        _notify(self.progress, "cell_stage", self.cell, name)

    def train_epoch(self, epoch: int, total: int, row: dict[str, float]) -> None:
        _notify(self.progress, "cell_epoch", self.cell, epoch, total, row)

    def md_step(self, replica: int, step: int, total: int) -> None:
        _notify(self.progress, "cell_md_step", self.cell, replica, step, total)


def run_cells(
    cells: Sequence[Cell],
    catalog: Catalog,
    store: Store,
    argv: list[str] | None = None,
    progress: RunListener | None = None,
    retry_failed: bool = True,
    executor=None,
    execution: Execution | None = None,
) -> RunSummary:
    import torch

    executor = executor or LocalExecutor(catalog)
    execution = execution or Execution(threads=torch.get_num_threads())
    owner = new_owner()
    prov = run_provenance(catalog)
    prov["execution"] = {"executor": executor.name, **execution.to_dict()}
    run_id = store.start_run(argv or sys.argv, prov["machine"], prov)
    summary = RunSummary(run_id)
    _say_old_layout(store, cells)
    _warn_walltime(cells, store, executor)
    queue = list(cells) if executor.name == "local" else sorted(cells, key=lambda c: -_cost(c, catalog))
    inflight: dict[Any, _InFlight] = {}
    submitting: _InFlight | None = None
    status = "interrupted"
    with _Claims(store, owner) as claims:
        stages = summary.stages = RunStages(store, run_id, owner, claims)
        try:
            while queue or inflight:
                waiting: list[Cell] = []  # their training is being computed (here or by another process)
                while queue and len(inflight) < executor.slots:
                    cell = queue.pop(0)
                    if stages.wait_reason(cell) or not stages.take(cell):
                        waiting.append(cell)
                        continue
                    cached_before = summary.cached
                    scratch = _claim(cell, store, run_id, owner, summary, progress, retry_failed)
                    if scratch is None:
                        stages.cached(cell) if summary.cached > cached_before else stages.release(cell)
                        continue
                    reuse = stages.plan(cell)
                    claims.add(cell.key)
                    _notify(progress, "cell_started", cell)
                    submitting = (cell, scratch, time.perf_counter())
                    job = Job.of(cell, scratch, protocol(cell.preset), execution, _cost(cell, catalog), reuse)
                    stages.scratch[cell.key] = scratch
                    handle = executor.submit(job, CellProgress(progress, cell, stages))
                    inflight[handle] = submitting
                    submitting = None
                queue[:0] = waiting
                if not inflight:
                    if queue:  # every cell left waits for a training another process computes
                        log.info("%d cell(s) wait for a stage another process computes", len(queue))
                        time.sleep(STAGE_POLL_S)
                    continue
                # while cells wait for a training, look every few seconds whether it is written
                handle = executor.wait_one(inflight, timeout=TRAINED_POLL_S if waiting else None)
                if handle is None:
                    stages.register_trained()
                    continue
                cell, scratch, t0 = inflight.pop(handle)
                claims.remove(cell.key)
                _record(executor, handle, cell, scratch, t0, store, run_id, owner, summary, progress, stages)
            status = "finished"
        except StoreFull:  # the cell that met the full disk is released; so is every other in flight
            full = "stopped: the disk is full; recomputed next run"
            running = (executor, inflight, submitting, stages, progress)
            _stop_cells(*running, lambda c, t0: _release(store, c, run_id, owner, t0, full))
            raise
        except KeyboardInterrupt as exc:
            sig = exc.signal if isinstance(exc, Interrupted) else "SIGINT"
            running = (executor, inflight, submitting, stages, progress)
            _stop_cells(*running, lambda c, t0: _mark_interrupted(store, c, run_id, owner, t0, sig))
            raise
        finally:
            try:
                store.finish_run(run_id, status)
            except StoreError as exc:  # a full disk: the error being raised (if any) says more
                log.warning("run %d not marked %s: %s", run_id, status, exc)
    return summary


def _stop_cells(
    executor,
    inflight: dict[Any, _InFlight],
    submitting: _InFlight | None,
    stages: RunStages,
    progress: RunListener | None,
    record: Callable[[Cell, float], object],
) -> None:
    """Cancel the cells in flight (where the executor can) and stop each, the one being submitted
    included: its stages released, ``record(cell, started)`` stores why (recomputed next run)."""
    stopped = list(inflight.values()) + ([submitting] if submitting else [])
    if inflight and hasattr(executor, "cancel"):
        executor.cancel(inflight)
    for cell, _, t0 in stopped:
        stages.release(cell)
        record(cell, t0)
        _notify(progress, "cell_finished", cell, "interrupted")


def _mark_interrupted(store: Store, cell: Cell, run_id: int, owner: str, t0: float, sig: str) -> None:
    reason = f"interrupted by {sig}; recomputed next run"
    store.mark(
        cell.key, run_id, cell.ident, "interrupted", reason=reason, duration_s=time.perf_counter() - t0, owner=owner
    )
    store.discard_scratch(cell.key)


def _say_old_layout(store: Store, cells: Sequence[Cell]) -> None:
    """One line when cells of this run were stored by the layout before stages (keys over the whole
    of core): they are never read as cached, and are recomputed under stage keys."""
    old = {
        (c.model, c.preset, c.dataset, c.task, c.seed)
        for c in store.cells("done")
        if (c.provenance or {}).get("layout") != LAYOUT
    }
    again = sum((c.model, c.preset, c.dataset, c.task, c.seed) in old for c in cells if not c.skip_reason)
    if again:
        log.warning(
            "%d cell(s) of this run were stored in %s by egbench's layout before stages: they are recomputed "
            "under stage keys (training shared across tasks); `egbench report` shows the new results",
            again,
            store.root,
        )


def _cost(cell: Cell, catalog: Catalog) -> float:
    """A rough cost, to start the longest cells first on a cluster: epochs × training frames."""
    spec = catalog.models.get(cell.model)
    ds = catalog.datasets.get((cell.plan.train_dataset if cell.plan else None) or cell.dataset)
    if spec is None or ds is None or cell.plan is None or cell.preset not in spec.presets:
        return 0.0
    epochs = float((spec.presets[cell.preset].get("train") or {}).get("epochs", 1))
    info = ds.splits.get(cell.plan.train_split)
    frames = float(info.frames) if info is not None and info.frames else 1000.0
    cap = protocol(cell.preset).max_train_frames
    return epochs * (min(frames, cap) if cap else frames)


def _claim(
    cell: Cell,
    store: Store,
    run_id: int,
    owner: str,
    summary: RunSummary,
    progress: RunListener | None,
    retry_failed: bool,
) -> Path | None:
    """Skip, reuse or claim ``cell``; the attempt folder when this process is to compute it."""
    if cell.skip_reason:
        store.mark(cell.key, run_id, cell.ident, "skipped", reason=cell.skip_reason, provenance=cell.provenance)
        summary.skipped += 1
        summary.skip_reasons[cell.skip_reason].append(cell.label)
        _notify(progress, "cell_skipped", cell)
        return None
    prev = store.cell(cell.key)
    replace_done = False
    if prev is not None and prev.status == "done":
        problems = store.verify(cell.key)
        if not problems:
            summary.cached += 1
            _notify(progress, "cell_cached", cell)
            return None
        log.warning("cell %s was done but %s: recomputing it", cell.label, "; ".join(problems))
        summary.recomputed.append(f"{cell.label}: {'; '.join(problems)}")
        replace_done = True
    if prev is not None and prev.status == "failed" and not retry_failed:
        summary.failed_kept += 1
        _notify(progress, "cell_cached", cell)
        return None
    claim = store.claim(cell.key, run_id, cell.ident, owner, cell.provenance, replace_done=replace_done)
    if claim.state == "done":
        summary.cached += 1
        _notify(progress, "cell_cached", cell)
        return None
    if claim.state == "busy":
        summary.busy += 1
        log.info("cell %s: %s", cell.label, claim.reason)
        _notify(progress, "cell_busy", cell, claim.reason)
        return None
    try:
        store.discard_scratch(cell.key)  # leftovers of a killed attempt
        return store.scratch_dir(cell.key, owner)
    except StoreFull as exc:
        raise _full(store, cell, run_id, owner, time.perf_counter(), exc) from exc


def _release(store: Store, cell: Cell, run_id: int, owner: str, t0: float, reason: str) -> bool:
    """Give up this process's claim of ``cell`` after a full disk: its attempt folder is removed
    first (that frees space), then the cell is recorded ``interrupted``. False if even that could
    not be written (the claim then dies with this process and the next run takes it over)."""
    store.discard_scratch(cell.key)
    try:
        row = store.cell(cell.key)
        if row is not None and row.status == "running" and row.owner == owner:
            # a finish that could not commit has moved the attempt into place: not done, so not kept
            shutil.rmtree(store.final_dir(cell.key), ignore_errors=True)
        return store.mark(
            cell.key,
            run_id,
            cell.ident,
            "interrupted",
            reason=reason,
            duration_s=time.perf_counter() - t0,
            owner=owner,
        )
    except StoreError as exc:
        log.warning("cell %s stays claimed until this process ends: %s", cell.label, exc)
        return False


def _disk_full(exc: BaseException, store: Store) -> bool:
    """Whether a cell failed because the results folder's disk is full: an ENOSPC (or SQLite's
    "disk is full") in the exception's chain, or any error while the disk has (almost) no space
    left (torch.save says only "file write failed" or "basic_ios::clear: iostream error")."""
    return is_disk_full(exc) or "No space left on device" in str(exc) or little_space_left(store.root)


def _full(store: Store, cell: Cell, run_id: int, owner: str, t0: float, exc: BaseException) -> StoreFull:
    """Release ``cell`` (:func:`_release`) and say so in the error that stops the run."""
    released = _release(store, cell, run_id, owner, t0, "disk full; recomputed next run")
    then = (
        f"cell {cell.label} released ({'interrupted' if released else 'its claim ends with this process'}), "
        "its attempt folder removed; finished cells are kept: free some space and run again"
    )
    return store.disk_full(exc.detail if isinstance(exc, StoreFull) else str(exc), then)


def _record(
    executor,
    handle,
    cell: Cell,
    scratch: Path,
    t0: float,
    store: Store,
    run_id: int,
    owner: str,
    summary: RunSummary,
    progress: RunListener | None,
    stages: RunStages,
) -> None:

    def failed(reason: str, error: str) -> None:
        stages.release(cell)
        try:
            store.mark(
                cell.key,
                run_id,
                cell.ident,
                "failed",
                reason=reason,
                error=error,
                duration_s=time.perf_counter() - t0,
                owner=owner,
            )
        except StoreFull as exc:
            raise _full(store, cell, run_id, owner, t0, exc) from exc
        store.discard_scratch(cell.key)
        _notify(progress, "cell_finished", cell, "failed")

    try:
        res = executor.result(handle)
    except Exception as exc:  # noqa: BLE001 - one failing cell never kills the run
        if _disk_full(exc, store):  # not the cell's fault, and the next cells would meet it too: stop
            _notify(progress, "cell_finished", cell, "interrupted")
            raise _full(store, cell, run_id, owner, t0, exc) from exc
        if isinstance(exc, InfrastructureError):
            log.error("cell %s: %s", cell.label, exc)
            failed(f"infrastructure: worker lost ({exc})", str(exc))
            summary.infra_failed += 1
            return
        log.error("cell %s failed: %s", cell.label, exc)
        failed(f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc)))
        summary.failed += 1
        return
    duration = _compute_time(res.info, time.perf_counter() - t0)
    try:
        ok = store.finish_cell(
            cell.key,
            run_id,
            owner,
            scratch,
            res.metrics,
            res.artifacts,
            res.info,
            duration,
            truncated=bool(res.info.get("truncated")),
        )
    except StoreFull as exc:  # rolled back: the cell is not done
        _notify(progress, "cell_finished", cell, "interrupted")
        raise _full(store, cell, run_id, owner, t0, exc) from exc
    if not ok:  # the claim was taken over (this process stalled past the lease): the other attempt counts
        stages.release(cell)
        summary.busy += 1
        _notify(progress, "cell_busy", cell, "its claim was taken over by another process")
        return
    stages.finished(cell, store.final_dir(cell.key), res.info)
    summary.done += 1
    _notify(progress, "cell_finished", cell, "done")


def _compute_time(info: dict[str, Any], elapsed: float) -> float:
    """A cell's duration: the time its worker process held it (``info["worker"]``, a Dask or SLURM
    worker), the wait before that (queue, job start, a worker busy with another cell) recorded
    apart as ``info["queue_wait_s"]``; in this process, the time since it was submitted."""
    worker = info.get("worker")
    if not worker:
        return elapsed
    submitted = time.time() - elapsed
    info["queue_wait_s"] = max(0.0, float(worker["started"]) - submitted)
    return max(0.0, float(worker["finished"]) - float(worker["started"]))


def _warn_walltime(cells: Sequence[Cell], store: Store, executor) -> None:
    """Name, before submission, each cell that took longer than the SLURM jobs' walltime when it
    (its model, preset and dataset) was last computed in this store: its job would end first."""
    limit = getattr(executor, "walltime_s", None)
    if not limit:
        return
    took: dict[tuple[str, str, str], float] = {}
    for c in store.cells("done"):
        k = (c.model, c.preset, c.dataset)
        took[k] = max(took.get(k, 0.0), float(c.duration_s or 0.0))
    for cell in cells:
        seconds = took.get((cell.model, cell.preset, cell.dataset), 0.0)
        if not cell.skip_reason and seconds > limit:
            log.warning(
                "cell %s took %.0f s when last computed here, more than the SLURM jobs' walltime (%.0f s): "
                "its job would end first; raise walltime in [executor.slurm]",
                cell.label,
                seconds,
                limit,
            )


def _notify(progress: RunListener | None, event: str, *args: Any) -> None:
    """Call the listener's method ``event`` if it has one (a listener may implement a subset)."""
    fn = getattr(progress, event, None)
    if fn is not None:
        fn(*args)
