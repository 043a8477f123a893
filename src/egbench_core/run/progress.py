"""Progress reporting: the one interface a running cell reports through, and the run's listener.

* :class:`Progress` — a cell's own events: ``stage(name)``, ``train_epoch(epoch, total, row)``,
  ``md_step(replica, step, total)``. ``execute_cell``/``run_model`` report through it. Its
  implementations: :class:`NullProgress` (nobody listens), ``runner.CellProgress`` (addresses the
  events to the run's listener), and the two :class:`EventForwarder` subclasses that carry them
  across a process boundary as ``(event, args)`` (``executors._WorkerProgress`` from a Dask worker,
  ``worker._StdoutProgress`` from an environment worker); :func:`relay` delivers such a
  serialised event to a :class:`Progress` on the other side.
* :class:`RunListener` — a different interface, one level up: the run's events about every cell
  (started, skipped, cached, finished, ...) plus a cell's progress events with the cell attached
  (``cell_stage(cell, name)``, ...). ``console.RunProgress`` implements it (the bars of
  ``egbench run``); the runner calls only the methods a listener has, so a listener may implement
  a subset.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from egbench_core.cell import Cell

log = logging.getLogger(__name__)

EVENTS = ("stage", "train_epoch", "md_step")  # the methods of Progress, by name (what crosses a process)
MD_EVERY = 10  # a forwarder sends every 10th MD step (and the last): enough for a bar, cheap to send


@runtime_checkable
class Progress(Protocol):
    """A cell's progress: which stage it is in, each training epoch, each MD step."""

    def stage(self, name: str) -> None:
        """A new stage: ``data``, ``build``, ``fit offsets``, ``train``, ``evaluate``, ``md``, ``oracle``,
        ``metrics``."""

    def train_epoch(self, epoch: int, total: int, row: dict[str, float]) -> None:
        """Epoch ``epoch`` of at most ``total`` done; ``row`` is its history row (``train_loss``, ``val_loss``,
        ``lr``, ``time_s``...)."""

    def md_step(self, replica: int, step: int, total: int) -> None:
        """MD replica ``replica`` reached step ``step`` of ``total``."""


class NullProgress:
    """Progress nobody listens to."""

    def stage(self, name: str) -> None:
        pass

    def train_epoch(self, epoch: int, total: int, row: dict[str, float]) -> None:
        pass

    def md_step(self, replica: int, step: int, total: int) -> None:
        pass


class EventForwarder:
    """A :class:`Progress` that sends each event as ``(event, args)`` to another process
    (:meth:`emit`); MD steps are thinned to every ``MD_EVERY``-th and the last."""

    def emit(self, event: str, args: list[Any]) -> None:
        raise NotImplementedError

    def stage(self, name: str) -> None:
        self.emit("stage", [name])

    def train_epoch(self, epoch: int, total: int, row: dict[str, float]) -> None:
        self.emit("train_epoch", [epoch, total, {k: float(v) for k, v in row.items()}])

    def md_step(self, replica: int, step: int, total: int) -> None:
        if step % MD_EVERY == 0 or step == total:
            self.emit("md_step", [replica, step, total])


def relay(progress: Progress, event: str, args: Sequence[Any]) -> None:
    """Deliver a forwarded event to ``progress``; an unknown event is logged and dropped."""
    if event not in EVENTS:
        log.debug("unknown progress event %r dropped", event)
        return
    getattr(progress, event)(*args)


class RunListener(Protocol):
    """The run's events about its cells (``console.RunProgress``). Every method is optional for a
    listener: the runner calls those it has."""

    def cell_started(self, cell: Cell) -> None: ...

    def cell_skipped(self, cell: Cell) -> None: ...

    def cell_busy(self, cell: Cell, reason: str) -> None: ...

    def cell_cached(self, cell: Cell) -> None: ...

    def cell_finished(self, cell: Cell, status: str) -> None: ...

    def cell_stage(self, cell: Cell, name: str) -> None: ...

    def cell_epoch(self, cell: Cell, epoch: int, total: int, row: dict[str, float]) -> None: ...

    def cell_md_step(self, cell: Cell, replica: int, step: int, total: int) -> None: ...
