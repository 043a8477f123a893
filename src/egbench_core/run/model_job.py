"""The model part of one cell, as ``execute.run_model`` takes it (and ``env_client`` sends it to
an environment worker): a leaf module, so both sides of that boundary can name the type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from egbench_core.cell import Cell, CellInputs, Execution
from egbench_core.run.protocol import ProtocolPreset


@dataclass(frozen=True)
class ModelJob:
    """What the model part of a cell needs besides the model's spec. Across the environment-worker
    boundary ``cell``, ``proto`` and ``execution`` travel as ``request.json`` and ``inputs`` as files
    in ``art_dir`` (``envs/client.py``)."""

    cell: Cell
    inputs: CellInputs
    proto: ProtocolPreset
    art_dir: Path  # the cell's attempt folder: checkpoint, predictions and trajectories go there
    execution: Execution
    train_from: Path | None = None  # a done ``train`` stage's folder: its model is loaded, not trained
    eval_splits: tuple[str, ...] | None = None  # the splits to predict on (None: all of the plan's)
    run_md: bool = True  # False: the simulate stage is reused, no MD here
