"""What a finished cell hands to the metrics: plain arrays and records, no live models."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import Frames
from .interfaces import TaskPlan
from .md import ReplicaResult
from .stats import DatasetStats
from .train import TrainRecord


@dataclass
class SplitPrediction:
    split: str
    reference: Frames
    energy: np.ndarray  # [F] eV, the model's
    forces: np.ndarray  # [ΣN, 3] eV/Å, the model's


@dataclass
class CellOutputs:
    model: str
    preset: str
    dataset: Any  # DatasetSpec
    task: str
    plan: TaskPlan
    seed: int
    stats: DatasetStats | None = None
    train: TrainRecord | None = None
    predictions: dict[str, SplitPrediction] = field(default_factory=dict)
    md: list[ReplicaResult] = field(default_factory=list)
    md_reference: Frames | None = None
    md_total_time_fs: float = 0.0  # requested simulated time per replica
    hardware: dict[str, Any] = field(default_factory=dict)
    artifacts_dir: str = ""
    cache: dict[str, Any] = field(default_factory=dict)  # shared by metrics within one cell (e.g. g_ref)
