"""The ``simulate`` stage, where the model's packages live: the MD of a trained model's replicas,
with the observers of the installed metrics watching, after the predictions of the evaluation
splits the job asks for (:mod:`egbench_core.stages.evaluate`), which it never imports: editing how
predictions are made does not re-simulate.

Writes ``md/`` (trajectories, their full-precision frames, ``replicas.json``) and returns the
:class:`~egbench_core.cell.CellOutputs` of what it computed; the caller records each stage
(``stage_records.write_records``) and reads every stage back the same way, computed here or
reused (``stage_records.assemble_outputs``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from egbench_core.cell import CellOutputs
from egbench_core.interfaces import order_observers
from egbench_core.md.ase_engine import MDSettings, run_md
from egbench_core.modes import mode_of
from egbench_core.run.progress import NullProgress, Progress

if TYPE_CHECKING:
    from egbench_core.interfaces import MetricSpec, ModelSpec
    from egbench_core.run.model_job import ModelJob
    from egbench_core.stages.train import Trained


def simulate(
    job: ModelJob,
    spec: ModelSpec,
    trained: Trained,
    outputs: CellOutputs,
    *,
    observer_metrics: Iterable[MetricSpec] = (),
    progress: Progress | None = None,
) -> CellOutputs:
    """Run the MD of the job's plan with ``trained`` into ``outputs`` (those of
    :func:`egbench_core.stages.evaluate.evaluate`, which the observers may read)."""
    cell, inputs, proto, art_dir = job.cell, job.inputs, job.proto, job.art_dir
    assert cell.plan is not None  # a cell that runs was planned by its task
    progress = progress or NullProgress()
    pot = trained.pot
    # as planning decided (the mode's engine where it has one: a calculator-backed model has no
    # batched path); cells planned before this was recorded fall back to the same rule
    md_engine = cell.provenance.get("md_engine") or mode_of(spec).md_engine or job.execution.md_engine
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
