"""The ``evaluate`` stage, where the model's packages live: a trained model's energies and forces
on an evaluation split (``predictions-<split>.npz``: the model's and the reference's, and a
pretrained or calculator-backed model's raw energies without its refitted offsets)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .calculator_model import CalculatorPotential
from .cell import CellOutputs, SplitPrediction
from .environment import hardware
from .modes import mode_of
from .predict import predict
from .provenance import libraries, requirement_names
from .stats import composition_matrix

if TYPE_CHECKING:
    from .datasets import DatasetSpec
    from .interfaces import ModelSpec
    from .model_job import ModelJob
    from .stage_train import Trained


def evaluate(job: ModelJob, spec: ModelSpec, trained: Trained, dataset: DatasetSpec | None) -> CellOutputs:
    """The outputs of ``trained`` with its predictions on the job's evaluation splits
    (``job.eval_splits``; None: all of the plan's), each written to ``predictions-<split>.npz``."""
    cell, inputs, art_dir = job.cell, job.inputs, job.art_dir
    pot = trained.pot
    device = torch.device(job.execution.device)
    mode = mode_of(spec)
    where = dict(hardware(trained.precision, device), libraries=libraries(requirement_names(spec.requires)))
    outputs = CellOutputs.of_cell(
        cell, dataset, art_dir, stats=trained.stats, train=trained.rec, hardware=where, model_info=trained.model_info
    )
    splits = inputs.evals if job.eval_splits is None else {s: inputs.evals[s] for s in job.eval_splits}
    for split, ref in splits.items():
        extra: dict[str, Any] = {}
        if isinstance(pot, CalculatorPotential):
            e, f, extra["raw_energy"] = pot.predict(ref)
        else:
            e, f = predict(pot, ref)
            if mode.pretrained:  # the network's own energies, without the refitted offsets
                extra["raw_energy"] = e - composition_matrix(ref, pot.species) @ pot.e0.numpy()
        outputs.predictions[split] = SplitPrediction(split, ref, e, f)
        np.savez_compressed(
            art_dir / f"predictions-{split}.npz",
            energy=e,
            forces=f,
            ref_energy=ref.energy,
            ref_forces=ref.forces,
            n_atoms=ref.n_atoms,
            **extra,
        )
    return outputs
