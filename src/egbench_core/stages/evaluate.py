"""The ``evaluate`` stage, where the model's packages live: a trained model's energies and forces
on an evaluation split (``predictions-<split>.npz``: the model's and the reference's, and a
pretrained or calculator-backed model's raw energies without its refitted offsets)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from egbench_core.cell import CellOutputs, SplitPrediction
from egbench_core.model.calculator_model import CalculatorPotential
from egbench_core.model.predict import predict
from egbench_core.model.stats import composition_matrix
from egbench_core.modes import mode_of
from egbench_core.run.hardware import hardware
from egbench_core.run.provenance import libraries, requirement_names

if TYPE_CHECKING:
    from egbench_core.data.datasets import DatasetSpec
    from egbench_core.interfaces import ModelSpec
    from egbench_core.run.model_job import ModelJob
    from egbench_core.stages.train import Trained


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
