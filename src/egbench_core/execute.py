"""Execute one cell in three phases:

1. ``load_inputs`` (main process): the task's splits, verified, limited by the protocol preset;
2. ``run_model`` (where the model's packages live — this process, or a worker in the plugin's
   own environment, see ``worker.py``): stats → build → train → static predictions → MD;
3. ``score`` (main process): every installed metric over the outputs.

``execute_cell`` chains them and returns everything the store keeps; it raises on failure (the
runner records the traceback).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import stage_simulate, stage_train
from .ase_models import model_for_cell
from .cell import Cell, CellOutputs, CellResult, Execution
from .inputs import load_inputs, subset_indices  # noqa: F401 - re-exported (tests, benchmarks)
from .model_job import ModelJob
from .progress import NullProgress, Progress
from .protocol import ProtocolPreset
from .scoring import CORE_FILES, collect, score, write_artifacts  # noqa: F401 - re-exported (tests)
from .seeding import seed_everything  # noqa: F401 - re-exported (benchmarks seed as a cell does)
from .stage_simulate import jsonable as _jsonable
from .stage_simulate import relative

if TYPE_CHECKING:
    from .datasets import DatasetSpec
    from .interfaces import MetricSpec, ModelSpec
    from .plugins import Catalog

log = logging.getLogger(__name__)

OUTPUTS_FILE = "outputs.json"  # the simulate stage's record (CellOutputs.to_json)


def run_model(
    job: ModelJob,
    spec: ModelSpec,
    *,
    dataset: DatasetSpec | None,
    observer_metrics: Iterable[MetricSpec] = (),
    progress: Progress | None = None,
) -> CellOutputs:
    """The model part of a cell, where the model's packages live (this process, or a worker in
    the plugin's own environment): the ``train`` stage (:func:`stage_train.fit`, or the model of a
    done training loaded from ``job.train_from``), then the ``simulate`` stage
    (:func:`stage_simulate.simulate`). Writes the checkpoint, predictions and trajectories into
    ``job.art_dir`` and returns the outputs (metrics not yet computed). ``dataset`` is the
    evaluated dataset's spec (None where this environment lacks it: a worker); ``observer_metrics``
    are the metrics whose observers watch the MD."""
    progress = progress or NullProgress()
    if job.train_from is not None:
        progress.stage("load model")
        trained = stage_train.load(job.train_from, job, spec)
    else:
        trained = stage_train.fit(job, spec, progress)
    return stage_simulate.simulate(
        job, spec, trained, dataset=dataset, observer_metrics=observer_metrics, progress=progress
    )


def execute_cell(
    cell: Cell,
    catalog: Catalog,
    art_dir: Path,
    proto: ProtocolPreset,
    progress: Progress | None = None,
    execution: Execution | None = None,
    reuse: dict[str, str] | None = None,
) -> CellResult:
    """The cell's inputs, its ``train`` and ``simulate`` stages (each computed, or, where ``reuse``
    names the folder of a done one, its files linked into ``art_dir`` and read back), the oracle
    and the metrics."""
    progress = progress or NullProgress()
    execution = execution or Execution(threads=torch.get_num_threads())
    reuse = reuse or {}
    spec = model_for_cell(catalog, cell)
    progress.stage("data")
    inputs = load_inputs(cell, catalog, proto)
    dataset = catalog.dataset(cell.dataset)
    train_from = Path(reuse["train"]) if reuse.get("train") else None
    if train_from is not None:
        link_tree(train_from, art_dir)  # the checkpoint and train.json, as if trained here
    outputs = None
    if reuse.get("simulate"):
        progress.stage("reuse simulation")
        outputs = reuse_simulation(Path(reuse["simulate"]), art_dir, cell, inputs, dataset, catalog)
    if outputs is None:
        job = ModelJob(cell, inputs, proto, art_dir, execution, train_from)
        if spec.environment:
            from .envs import run_in_environment

            outputs = run_in_environment(spec.environment, job, dataset=dataset, progress=progress)
        else:
            outputs = run_model(
                job, spec, dataset=dataset, observer_metrics=catalog.metrics.values(), progress=progress
            )
        write_outputs(outputs, art_dir, observer_refs(cell, catalog))
    if outputs.md:
        progress.stage("oracle")
        outputs.oracle = run_oracle(catalog, dataset, outputs, art_dir, oracle_enabled(cell, execution, proto))
    progress.stage("metrics")
    metrics, errors, artifacts = score(outputs, catalog.metrics.values())
    written = write_artifacts(art_dir, artifacts)
    return collect(outputs, art_dir, metrics, errors, inputs, proto, written)


def write_outputs(outputs: CellOutputs, art_dir: Path, observers: dict[str, Any]) -> None:
    """``outputs.json``: what the metrics read besides the arrays in the stage's files, with the
    trajectories relative to the cell's folder, and the observers that watched the MD (their
    metric's version and code); a later cell reads it back (:func:`reuse_simulation`)."""
    d = outputs.to_json()
    for r in d["md"]:
        r["trajectory"] = relative(r["trajectory"], art_dir)
    d["observers"] = observers
    (art_dir / OUTPUTS_FILE).write_text(json.dumps(d, default=_jsonable))


def observer_refs(cell: Cell, catalog: Catalog) -> dict[str, Any]:
    """Observer name -> the version and code of its metric, as planned into the cell's key."""
    planned = cell.provenance.get("metrics") or {}
    return {m.observer.name: planned.get(m.name) for m in catalog.metrics.values() if m.observer is not None}


def reuse_simulation(stage: Path, art_dir: Path, cell: Cell, inputs, dataset, catalog: Catalog) -> CellOutputs | None:
    """The outputs of a done ``simulate`` stage, its files linked into the cell's folder, with the
    observers added or changed since replayed over its frames (:mod:`egbench_core.replay`); None
    (its files unlinked again) where that cannot be exact: the cell simulates again."""
    from .replay import ReplayMismatch, plan_replay, replay

    link_tree(stage, art_dir)
    d = json.loads((art_dir / OUTPUTS_FILE).read_text())
    for r in d["md"]:
        r["trajectory"] = str(art_dir / r["trajectory"]) if r["trajectory"] else ""
    outputs = CellOutputs.from_json(d, cell, inputs, dataset, art_dir)
    specs = [m.observer for m in catalog.metrics.values() if m.observer is not None]
    ran, installed = d.get("observers") or {}, observer_refs(cell, catalog)
    try:
        replay(outputs, plan_replay(ran, installed, specs), specs, ran, installed)
    except ReplayMismatch as exc:
        log.info("cell %s simulates again: %s", cell.label, exc)
        unlink_tree(stage, art_dir)  # its files are the stage's (hard links): never written through
        return None
    return outputs


def unlink_tree(src: Path, dst: Path) -> None:
    """Remove from ``dst`` the files :func:`link_tree` put there from ``src``."""
    for f in sorted(src.rglob("*")):
        if f.is_file():
            (dst / f.relative_to(src)).unlink(missing_ok=True)


def link_tree(src: Path, dst: Path) -> None:
    """Every file under ``src`` at the same place under ``dst``: hard links (a stage's files are
    never rewritten), copies where the two are on different file systems."""
    for f in sorted(src.rglob("*")):
        if not f.is_file():
            continue
        target = dst / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


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
    from .oracles import calibrate, evaluate_replicas, opt_in_reason, resolve

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
