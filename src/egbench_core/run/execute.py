"""Execute one cell in three phases:

1. ``load_inputs`` (main process): the task's splits, verified, limited by the protocol preset;
2. ``run_model`` (where the model's packages live — this process, or a worker in the plugin's
   own environment, see ``envs/worker.py``): stats → build → train → static predictions → MD;
3. ``score`` (main process): every installed metric over the outputs.

``execute_cell`` chains them and returns everything the store keeps; it raises on failure (the
runner records the traceback).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from egbench_core.cell import Cell, CellOutputs, CellResult, Execution
from egbench_core.model.ase_models import model_for_cell
from egbench_core.run.inputs import load_inputs, subset_indices  # noqa: F401 - re-exported (tests, benchmarks)
from egbench_core.run.model_job import ModelJob
from egbench_core.run.progress import NullProgress, Progress
from egbench_core.run.protocol import ProtocolPreset
from egbench_core.run.scoring import CORE_FILES, collect, score, write_artifacts  # noqa: F401 - re-exported (tests)
from egbench_core.run.seeding import seed_everything  # noqa: F401 - re-exported (benchmarks seed as a cell does)
from egbench_core.stages import evaluate as stage_evaluate
from egbench_core.stages import simulate as stage_simulate
from egbench_core.stages import train as stage_train
from egbench_core.stages.records import assemble_outputs, link_tree, md_observers, unlink_tree, write_records
from egbench_core.stages.simulate import jsonable as _jsonable

if TYPE_CHECKING:
    from egbench_core.data.datasets import DatasetSpec
    from egbench_core.interfaces import MetricSpec, ModelSpec
    from egbench_core.plugins import Catalog

log = logging.getLogger(__name__)


def run_model(
    job: ModelJob,
    spec: ModelSpec,
    *,
    dataset: DatasetSpec | None,
    observer_metrics: Iterable[MetricSpec] = (),
    progress: Progress | None = None,
) -> CellOutputs:
    """The model part of a cell, where the model's packages live (this process, or an environment
    worker in the plugin's own environment): the ``train`` stage (:func:`stage_train.fit`, or the model of a
    done training loaded from ``job.train_from``), then the ``simulate`` stage
    (:func:`stage_simulate.simulate`). Writes the checkpoint, predictions and trajectories into
    ``job.art_dir`` and returns the outputs (metrics not yet computed). ``dataset`` is the
    evaluated dataset's spec (None where this environment lacks it: an environment worker); ``observer_metrics``
    are the metrics whose observers watch the MD."""
    progress = progress or NullProgress()
    if job.train_from is not None:
        progress.stage("load model")
        trained = stage_train.load(job.train_from, job, spec)
    else:
        trained = stage_train.fit(job, spec, progress)
    progress.stage("evaluate")
    outputs = stage_evaluate.evaluate(job, spec, trained, dataset)
    if not job.run_md:
        return outputs
    return stage_simulate.simulate(job, spec, trained, outputs, observer_metrics=observer_metrics, progress=progress)


def execute_cell(
    cell: Cell,
    catalog: Catalog,
    art_dir: Path,
    proto: ProtocolPreset,
    progress: Progress | None = None,
    execution: Execution | None = None,
    reuse: dict[str, str] | None = None,
) -> CellResult:
    """The cell's inputs; its ``train``, ``evaluate`` (one per split) and ``simulate`` stages, each
    computed here or, where ``reuse`` names the folder of a done one, its files linked into
    ``art_dir``; then the oracle and the metrics, over the outputs read back from the stages' files
    (:func:`~egbench_core.stages.records.assemble_outputs`) however they came."""
    progress = progress or NullProgress()
    execution = execution or Execution(threads=torch.get_num_threads())
    reuse = reuse or {}
    spec = model_for_cell(catalog, cell)
    progress.stage("data")
    inputs = load_inputs(cell, catalog, proto)
    dataset = catalog.dataset(cell.dataset)
    assert cell.plan is not None  # a cell that runs was planned by its task
    for folder in reuse.values():  # as if computed here
        link_tree(Path(folder), art_dir)
    train_from = Path(reuse["train"]) if reuse.get("train") else None
    need_eval = [s for s in cell.plan.eval_splits if f"evaluate:{s}" not in reuse]
    has_md = inputs.md_start is not None
    md_now = has_md and "simulate" not in reuse

    def compute(splits: list[str], md: bool) -> None:
        job = ModelJob(cell, inputs, proto, art_dir, execution, train_from, tuple(splits), md)
        if spec.environment:
            from egbench_core.envs.manage import run_in_environment

            done = run_in_environment(spec, job, dataset=dataset, progress=progress)
        else:
            metrics = catalog.metrics.values()
            done = run_model(job, spec, dataset=dataset, observer_metrics=metrics, progress=progress)
        write_records(done, art_dir, splits, md, observer_refs(cell, catalog))

    if need_eval or md_now:
        compute(need_eval, md_now)
    outputs = assemble_outputs(art_dir, cell, inputs, dataset, has_md)
    if has_md and not md_now and not _replayed(outputs, art_dir, cell, catalog):
        unlink_tree(Path(reuse["simulate"]), art_dir)  # hard links to the stage's files: never written through
        compute([], True)
        outputs = assemble_outputs(art_dir, cell, inputs, dataset, has_md)
    if outputs.md:
        progress.stage("oracle")
        outputs.oracle = run_oracle(catalog, dataset, outputs, art_dir, oracle_enabled(cell, execution, proto))
    progress.stage("metrics")
    metrics, errors, artifacts = score(outputs, catalog.metrics.values())
    written = write_artifacts(art_dir, artifacts)
    return collect(outputs, art_dir, metrics, errors, inputs, proto, written)


def observer_refs(cell: Cell, catalog: Catalog) -> dict[str, Any]:
    """Observer name -> the version and code of its metric, as planned into the cell's key."""
    planned = cell.provenance.get("metrics") or {}
    return {m.observer.name: planned.get(m.name) for m in catalog.metrics.values() if m.observer is not None}


def _replayed(outputs: CellOutputs, art_dir: Path, cell: Cell, catalog: Catalog) -> bool:
    """Replay over a reused simulation the observers added or changed since it ran
    (:mod:`egbench_core.md.replay`); False where that cannot be exact (the cell simulates again)."""
    from egbench_core.md.replay import ReplayMismatch, plan_replay, replay

    specs = [m.observer for m in catalog.metrics.values() if m.observer is not None]
    ran, installed = md_observers(art_dir), observer_refs(cell, catalog)
    try:
        replayed = plan_replay(ran, installed, specs)
        replay(outputs, replayed, specs, ran, installed)
    except ReplayMismatch as exc:
        log.info("cell %s simulates again: %s", cell.label, exc)
        return False
    for r in outputs.md:  # what a live run's results become through md.json
        r.observed = json.loads(json.dumps(r.observed, default=_jsonable))
    return True


def oracle_enabled(cell, execution: Execution, proto: ProtocolPreset) -> bool:
    """Whether expensive oracles run: as the cell's key says when it was planned with one
    (``plan_cells(oracle=...)``), else ``--oracle dft`` / ``none`` / the protocol preset's choice."""
    if cell.provenance and "oracle" in cell.provenance:
        ref = cell.provenance["oracle"]  # planning._oracle_ref: the oracle, {"none": why} or None (no MD)
        return ref is not None and "none" not in ref
    return execution.oracle == "on" or (execution.oracle == "auto" and proto.oracle)


def run_oracle(catalog, dataset, outputs: CellOutputs, art_dir: Path, enabled: bool) -> dict[str, Any]:
    """The dataset's oracle on the replicas' stable frames (calibrated first if it is not exact);
    what it gives, or why it did not run."""
    from egbench_core.run.oracles import calibrate, evaluate_replicas, opt_in_reason, resolve

    oracle, why = resolve(catalog, dataset)
    if oracle is None:
        return {"reason": why}
    if not oracle.exact and not enabled:
        return {"oracle": oracle.describe(), "reason": opt_in_reason(oracle, dataset)}
    calibration = None if oracle.exact else calibrate(oracle, dataset)
    if calibration is not None and not calibration.accepted:
        return {"oracle": oracle.describe(), "calibration": calibration.to_dict(), "reason": calibration.refusal}
    md_plan = outputs.plan.md
    assert md_plan is not None  # called only for a cell that ran MD (outputs.md)
    samples = evaluate_replicas(oracle, outputs.md, art_dir, md_plan.timestep_fs)
    return {
        "oracle": oracle.describe(),
        "calibration": calibration.to_dict() if calibration else None,
        "samples": samples,
    }
