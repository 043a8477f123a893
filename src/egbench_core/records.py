"""Plain records of what training and MD did (no torch, no live objects): stored with every cell
and sent back by Dask and environment workers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainRecord:
    epochs_run: int = 0
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    time_per_epoch_s: float = 0.0
    total_time_s: float = 0.0
    stop_reason: str = ""
    truncated: bool = False  # the wall-clock guard ended training before its epochs
    n_parameters: int = 0
    frames_per_batch: int = 0  # after max_batch_atoms
    seed: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReplicaResult:
    index: int
    seed: int
    start_frame: int
    n_atoms: int
    steps_requested: int
    steps_done: int = 0
    time_per_step_ms: float = float("nan")
    failed_step: int | None = None
    failure: str = ""
    trajectory: str = ""
    times_fs: list[float] = field(default_factory=list)  # of the saved frames
    potential_energy: list[float] = field(default_factory=list)  # eV, saved frames
    temperature_K: list[float] = field(default_factory=list)  # kinetic temperature, saved frames
    observed: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
