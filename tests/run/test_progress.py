"""One Progress protocol: every implementation satisfies it, and events forwarded across a process
boundary (a Dask worker, an environment's worker) arrive at the run's listener unchanged."""

from __future__ import annotations

import io

from egbench_core.cell import Cell
from egbench_core.envs.client import _relay
from egbench_core.envs.worker import _StdoutProgress
from egbench_core.run.executors import _WorkerProgress
from egbench_core.run.progress import NullProgress, Progress, relay
from egbench_core.run.runner import CellProgress


class Listener:
    def __init__(self):
        self.events: list[tuple] = []

    def cell_stage(self, cell, name):
        self.events.append(("stage", cell.key, name))

    def cell_epoch(self, cell, epoch, total, row):
        self.events.append(("epoch", cell.key, epoch, total, row))

    def cell_md_step(self, cell, replica, step, total):
        self.events.append(("md", cell.key, replica, step, total))


def _cell() -> Cell:
    cell = Cell("toy-pair", "smoke", "acac", "standard", 0)
    cell.key = "k" * 64
    return cell


def test_every_cell_progress_is_a_progress():
    listener = Listener()
    for p in (NullProgress(), CellProgress(listener, _cell()), _WorkerProgress("key"), _StdoutProgress(io.StringIO())):
        assert isinstance(p, Progress), type(p).__name__


def test_events_through_the_environment_worker_stream_reach_the_listener():
    out = io.StringIO()
    worker_side = _StdoutProgress(out)
    worker_side.stage("train")
    worker_side.train_epoch(1, 3, {"epoch": 1, "train_loss": 0.5, "val_loss": 0.25})
    for step in range(1, 13):
        worker_side.md_step(0, step, 12)
    listener = Listener()
    client_side = CellProgress(listener, _cell())
    for line in out.getvalue().splitlines() + ["not json: a library printed this"]:
        _relay(line, client_side)
    key = "k" * 64
    assert listener.events == [
        ("stage", key, "train"),
        ("epoch", key, 1, 3, {"epoch": 1.0, "train_loss": 0.5, "val_loss": 0.25}),
        ("md", key, 0, 10, 12),
        ("md", key, 0, 12, 12),
    ]  # every 10th step and the last


def test_relay_drops_unknown_events():
    listener = Listener()
    relay(CellProgress(listener, _cell()), "cell_finished", [_cell(), "done"])  # not a Progress event
    relay(CellProgress(listener, _cell()), "stage", ["md"])
    assert listener.events == [("stage", "k" * 64, "md")]
