"""The ``simulate`` stage: a trained model's static predictions on the evaluation splits and the
MD of its replicas, with the observers of the installed metrics watching.

Writes ``predictions-<split>.npz``, ``md/`` (trajectories, ``replicas.json``) and returns the
:class:`~egbench_core.cell.CellOutputs` the metrics read; ``outputs.json`` (written by the caller)
is what a later cell that shares this stage reads back instead of simulating again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .calculator_model import CalculatorPotential
from .cell import CellOutputs, SplitPrediction
from .environment import hardware
from .interfaces import order_observers
from .md import MDSettings, run_md
from .predict import predict
from .progress import NullProgress, Progress
from .provenance import libraries, requirement_names
from .stats import composition_matrix

if TYPE_CHECKING:
    from .datasets import DatasetSpec
    from .interfaces import MetricSpec, ModelSpec
    from .model_job import ModelJob
    from .stage_train import Trained


def simulate(
    job: ModelJob,
    spec: ModelSpec,
    trained: Trained,
    *,
    dataset: DatasetSpec | None,
    observer_metrics: Iterable[MetricSpec] = (),
    progress: Progress | None = None,
) -> CellOutputs:
    """Predict on every evaluation split and run the MD of the job's plan with ``trained``."""
    cell, inputs, proto, art_dir = job.cell, job.inputs, job.proto, job.art_dir
    assert cell.plan is not None  # a cell that runs was planned by its task
    progress = progress or NullProgress()
    pot = trained.pot
    device = torch.device(job.execution.device)
    # as planning decided (a calculator-backed model: "ase", it has no batched path); cells planned
    # before this was recorded fall back to the same rule
    md_engine = cell.provenance.get("md_engine") or ("ase" if spec.calculator_backed else job.execution.md_engine)
    pretrained = spec.mode != "from-scratch" and not spec.calculator_backed
    progress.stage("evaluate")
    where = dict(hardware(trained.precision, device), libraries=libraries(requirement_names(spec.requires)))
    outputs = CellOutputs.of_cell(
        cell, dataset, art_dir, stats=trained.stats, train=trained.rec, hardware=where, model_info=trained.model_info
    )
    for split, ref in inputs.evals.items():
        extra: dict[str, Any] = {}
        if isinstance(pot, CalculatorPotential):
            e, f, extra["raw_energy"] = pot.predict(ref)
        else:
            e, f = predict(pot, ref)
            if pretrained:  # the network's own energies, without the refitted offsets
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

    md_plan = cell.plan.md
    if inputs.md_start is not None:
        assert md_plan is not None  # load_inputs sets md_start only for a plan with MD
        progress.stage("md")
        outputs.md_reference = inputs.md_reference
        outputs.md_total_time_fs = proto.md_steps * md_plan.timestep_fs
        settings = MDSettings(proto.md_replicas, proto.md_steps, proto.md_save_every, cell.seed)
        # declared order: an observer comes after those it names in ``after`` (stability's verdict first)
        observing = order_observers([m.observer for m in observer_metrics if m.observer is not None])

        def make_observers(replica: int) -> dict[str, Any]:
            made = {o.name: o.make(outputs) for o in observing}
            return {k: v for k, v in made.items() if v is not None}

        outputs.md = run_md(
            pot,
            inputs.md_start,
            md_plan,
            settings,
            art_dir / "md",
            make_observers,
            on_step=progress.md_step,
            engine=md_engine,
        )
        outputs.hardware["md_engine"] = md_engine
        replicas = [dict(r.to_dict(), trajectory=relative(r.trajectory, art_dir)) for r in outputs.md]
        (art_dir / "md" / "replicas.json").write_text(json.dumps(replicas, default=jsonable))
    return outputs


def relative(path: str, art_dir: Path) -> str:
    return str(Path(path).relative_to(art_dir)) if path else ""


def jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)
