"""The model part of one cell, as ``execute.run_model`` takes it and as it crosses to an
environment worker (``envs/request.py``): a leaf module, so both sides of that boundary can name
the type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egbench_core.cell import Cell, CellInputs, Execution
from egbench_core.run.protocol import ProtocolPreset


@dataclass(frozen=True)
class ModelJob:
    """What the model part of a cell needs besides the model's spec. Across the environment-worker
    boundary it travels as :meth:`to_json` (in ``request.json``) and its ``inputs`` as files in
    ``art_dir`` (:meth:`~egbench_core.cell.CellInputs.save`); :meth:`from_json` reads both back."""

    cell: Cell
    inputs: CellInputs
    proto: ProtocolPreset
    art_dir: Path  # the cell's attempt folder: checkpoint, predictions and trajectories go there
    execution: Execution
    train_from: Path | None = None  # a done ``train`` stage's folder: its model is loaded, not trained
    eval_splits: tuple[str, ...] | None = None  # the splits to predict on (None: all of the plan's)
    run_md: bool = True  # False: the simulate stage is reused, no MD here

    def to_json(self) -> dict[str, Any]:
        """Everything but ``inputs`` (saved as files in ``art_dir``) and ``art_dir`` (the folder
        the request is read from), as plain JSON."""
        return {
            "cell": self.cell.to_dict(),
            "proto": self.proto.to_dict(),
            "execution": self.execution.to_dict(),
            "train_from": str(self.train_from) if self.train_from is not None else None,
            "eval_splits": list(self.eval_splits) if self.eval_splits is not None else None,
            "run_md": self.run_md,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], art_dir: Path) -> ModelJob:
        """The job :meth:`to_json` described, its inputs loaded from ``art_dir``."""
        return cls(
            cell=Cell.from_dict(d["cell"]),
            inputs=CellInputs.load(art_dir),
            proto=ProtocolPreset(**d["proto"]),
            art_dir=art_dir,
            execution=Execution(**d["execution"]),
            train_from=Path(d["train_from"]) if d["train_from"] else None,
            eval_splits=tuple(d["eval_splits"]) if d["eval_splits"] is not None else None,
            run_md=bool(d["run_md"]),
        )
