"""Execute one cell in three phases:

1. ``load_inputs`` (main process): the task's splits, verified, limited by the protocol preset;
2. ``run_model`` (where the model's packages live — this process, or a worker in the plugin's
   own environment, see ``worker.py``): stats → build → train → static predictions → MD;
3. ``score`` (main process): every installed metric over the outputs.

``execute_cell`` chains them and returns everything the store keeps; it raises on failure (the
runner records the traceback).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .ase_models import model_for_cell
from .calculator_model import CalculatorPotential, fit_calculator_model
from .cell import Cell, CellInputs, CellOutputs, CellResult, Execution, SplitPrediction
from .data import Frames
from .environment import hardware, peak_rss_mb
from .graph import NeighbourLists
from .interfaces import Artifact, MetricValue, order_observers
from .md import MDSettings, run_md
from .model_job import ModelJob
from .potential import NormalisedPotential
from .predict import predict
from .pretrained import refit_potential
from .progress import NullProgress, Progress
from .protocol import ProtocolPreset
from .provenance import libraries, requirement_names
from .records import TrainRecord
from .stats import composition_matrix, compute_stats
from .train import TrainConfig, train

if TYPE_CHECKING:
    from .datasets import DatasetSpec
    from .interfaces import MetricSpec, ModelSpec
    from .plugins import Catalog

log = logging.getLogger(__name__)

NOT_TRAINED_PRETRAINED = (
    "not trained: pretrained network, zero-shot (per-element energy offsets refitted on the training split)"
)
FINE_TUNED = (
    "fine-tuned from the pretrained checkpoint (per-element energy offsets refitted on the training split first)"
)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def subset_indices(frames: Frames, proto: ProtocolPreset, role: str) -> np.ndarray | None:
    """Indices of the frames a cell uses from a split (None: all of them), by the protocol preset.
    ``role`` is "train", "val" or "eval"."""
    n = len(frames)
    max_frames = {"train": proto.max_train_frames, "val": proto.max_val_frames, "eval": proto.max_eval_frames}[role]
    max_atoms = proto.max_train_atoms if role == "train" else None
    if (max_frames is None or n <= max_frames) and (max_atoms is None or frames.n_atoms.sum() <= max_atoms):
        return None
    max_frames = n if max_frames is None else max_frames
    if proto.subset == "first":
        return np.arange(min(n, max_frames))
    if role == "eval":  # evenly spaced: keeps a trajectory's time coverage
        return np.unique(np.linspace(0, n - 1, max_frames).round().astype(np.int64))
    order = np.random.default_rng(proto.subset_seed).permutation(n)[:max_frames]
    if max_atoms is not None:
        keep = max(1, int(np.searchsorted(np.cumsum(frames.n_atoms[order]), max_atoms, side="right")))
        order = order[:keep]
    return np.sort(order)


def _limit(frames: Frames, proto: ProtocolPreset, role: str, name: str, subsets: dict[str, dict[str, Any]]) -> Frames:
    idx = subset_indices(frames, proto, role)
    if idx is None:
        return frames
    subsets[name] = {
        "frames": int(len(idx)),
        "of": int(len(frames)),
        "rule": proto.subset,
        "indices_sha256": hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest(),
    }
    return frames.subset(idx)


def load_inputs(cell, catalog, proto: ProtocolPreset) -> CellInputs:
    ds = catalog.datasets[cell.dataset]
    train_ds = catalog.datasets[cell.plan.train_dataset] if cell.plan.train_dataset else ds
    subsets: dict[str, dict[str, Any]] = {}
    inputs = CellInputs(
        train=_limit(train_ds.load(cell.plan.train_split), proto, "train", "train", subsets),
        val=_limit(train_ds.load(cell.plan.val_split), proto, "val", "val", subsets),
        evals={s: _limit(ds.load(s), proto, "eval", s, subsets) for s in cell.plan.eval_splits},
        isolated_atom_energies=_isolated(train_ds),
        subsets=subsets,
    )
    md = cell.plan.md
    if md is not None and proto.md_replicas > 0:
        inputs.md_start = ds.load(md.start_split)
        inputs.md_reference = ds.load(md.reference_split)
    unseen = sorted(set(int(z) for f in [*inputs.evals.values()] for z in f.elements) - set(inputs.train.elements))
    if unseen:
        raise ValueError(
            f"the evaluation frames contain atomic numbers {unseen} that the (limited) training split "
            f"({len(inputs.train)} frames) does not: the model cannot represent them"
        )
    return inputs


def _isolated(dataset) -> dict[int, float] | None:
    fn = getattr(dataset, "isolated_atom_energies", None)
    return fn() if fn is not None else None


def run_model(
    job: ModelJob,
    spec: ModelSpec,
    *,
    dataset: DatasetSpec | None,
    observer_metrics: Iterable[MetricSpec] = (),
    progress: Progress | None = None,
) -> CellOutputs:
    """Train, predict and simulate on ``job.execution.device``; writes the checkpoint, predictions
    and trajectories into ``job.art_dir`` and returns the outputs (metrics not yet computed).
    ``dataset`` is the evaluated dataset's spec (None where this environment lacks it: a worker);
    ``observer_metrics`` are the metrics whose observers watch the MD."""
    cell, inputs, proto, art_dir, execution = job.cell, job.inputs, job.proto, job.art_dir, job.execution
    assert cell.plan is not None  # a cell that runs was planned by its task (only a skipped cell lacks a plan)
    progress = progress or NullProgress()
    neighbours = NeighbourLists()  # built once per frame set: statistics, offset refit and training share them
    device = torch.device(execution.device)
    preset = spec.preset(cell.preset)
    cutoff = float(preset["cutoff"])
    cfg = TrainConfig.from_dict(preset.get("train", {}))
    if execution.dtype is not None:
        cfg = dataclasses.replace(cfg, dtype=execution.dtype)
    if proto.train_guard_s is not None and (cfg.max_time_s is None or proto.train_guard_s < cfg.max_time_s):
        cfg = dataclasses.replace(cfg, max_time_s=proto.train_guard_s)
    backed = spec.calculator_backed
    # a pretrained model's energies (calculator-backed or not) rest on offsets fitted by least
    # squares (never on the dataset's isolated-atom energies): its stats say where those are determined
    stats = compute_stats(
        inputs.train,
        cutoff,
        neighbours=neighbours,
        isolated_atom_energies=None if spec.mode != "from-scratch" else inputs.isolated_atom_energies,
    )
    md_engine = "ase" if backed else execution.md_engine  # a calculator has no batched path

    pretrained = spec.mode != "from-scratch" and not backed
    pot: CalculatorPotential | NormalisedPotential
    if backed:  # evaluated through its calculator: nothing to build or train (calculator_model.py)
        progress.stage("fit offsets")
        pot, rec, model_info = fit_calculator_model(spec, inputs.train, cell.seed)
        (art_dir / "model.json").write_text(json.dumps({"model": cell.model, "preset": cell.preset, **model_info}))
        precision = "calculator"
    else:
        progress.stage("build")
        seed_everything(cell.seed)
        model = spec.build(list(stats.species), cutoff, dict(preset.get("model", {})), stats)
        if pretrained:  # the checkpoint's network, its energy offsets refitted (pretrained.py)
            progress.stage("fit offsets")
            t0 = time.perf_counter()
            pot, stats, model_info = refit_potential(model, stats, cutoff, inputs.train, cfg.torch_dtype, neighbours)
            rec = TrainRecord(
                stop_reason=NOT_TRAINED_PRETRAINED,
                total_time_s=time.perf_counter() - t0,
                seed=cell.seed,
                time_per_epoch_s=float("nan"),
                n_parameters=sum(p.numel() for p in model.parameters()),
            )
        else:
            pot, model_info = NormalisedPotential(model, stats, cutoff), {"energy": "trained"}
        if spec.mode != "zero-shot":
            progress.stage("train")
            rec = train(
                pot,
                inputs.train,
                inputs.val,
                cfg,
                seed=cell.seed,
                on_epoch=progress.train_epoch,
                device=device,
                neighbours=neighbours,
            )
            if pretrained:
                model_info = dict(model_info, energy=FINE_TUNED)
        torch.save(
            {
                "model": cell.model,
                "preset": cell.preset,
                "params": preset,
                "stats": stats.to_dict(),
                "state_dict": pot.state_dict(),
            },
            art_dir / "model.pt",
        )
        precision = cfg.dtype
        pot.to(device)  # a zero-shot network is never handed to the trainer, which moves it there
    model_info = dict(model_info, mode=spec.mode)
    if spec.mode != "from-scratch":  # the split the energy offsets were refitted on (planning may swap it)
        model_info["offsets_split"] = cell.plan.train_split

    # the lists of the training and validation frames have served statistics, the offset refit and
    # training; the evaluation splits are other frame sets: free them before evaluation and MD
    del neighbours
    progress.stage("evaluate")
    where = dict(hardware(precision, device), libraries=libraries(requirement_names(spec.requires)))  # where it ran
    outputs = CellOutputs.of_cell(cell, dataset, art_dir, stats=stats, train=rec, hardware=where, model_info=model_info)
    for split, ref in inputs.evals.items():
        extra: dict[str, Any] = {}
        if isinstance(pot, CalculatorPotential):  # backed
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
        replicas = [dict(r.to_dict(), trajectory=_relative(r.trajectory, art_dir)) for r in outputs.md]
        (art_dir / "md" / "replicas.json").write_text(json.dumps(replicas, default=_jsonable))
    return outputs


# files of the cell's folder that core writes itself; a metric's artifact may not take their names
CORE_FILES = frozenset({"model.json", "oracle.json", "request.json", "outputs.json", "inputs.json"})


def score(
    outputs: CellOutputs, metrics: Iterable[MetricSpec]
) -> tuple[list[tuple[MetricValue, str]], dict[str, str], list[Artifact]]:
    """Every metric over ``outputs``: the (value, metric version) pairs, the reason per value id of
    each metric that failed, and the artifacts the metrics returned (written by
    :func:`write_artifacts`). A metric that raises, or returns a value or artifact its spec does not
    declare (``MetricSpec.check``), fails alone: none of its values is kept, each of its ids says why."""
    values: list[tuple[MetricValue, str]] = []
    errors: dict[str, str] = {}
    artifacts: list[Artifact] = []
    for m in metrics:
        try:
            result = m.compute(outputs)
            m.check(result)
            taken = CORE_FILES | {a.name for a in artifacts}
            for a in result.artifacts:
                if a.name in taken or "/" in a.name or not a.name.endswith(".json"):
                    raise ValueError(
                        f"metric {m.name!r} returned artifact {a.name!r}: expected a new file name "
                        f"ending in .json, not one of {sorted(taken)}"
                    )
        except Exception as exc:  # noqa: BLE001 - one metric's bug must not lose the cell
            log.exception("metric %s failed", m.name)
            for name in {m.name, *m.value_ids}:
                errors[name] = f"metric {m.name} failed: {type(exc).__name__}: {exc}"
            continue
        values.extend((v, m.version) for v in result.values)
        artifacts.extend(result.artifacts)
    return values, errors, artifacts


def write_artifacts(art_dir: Path, artifacts: Iterable[Artifact]) -> list[tuple[str, str]]:
    """Write each metric artifact as JSON into the cell's folder; ``(kind, file name)`` of each."""
    written = []
    for a in artifacts:
        (art_dir / a.name).write_text(json.dumps(a.data, default=_jsonable))
        written.append((a.kind, a.name))
    return written


def _relative(path: str, art_dir: Path) -> str:
    return str(Path(path).relative_to(art_dir)) if path else ""


def collect(
    outputs: CellOutputs,
    art_dir: Path,
    metrics,
    errors,
    inputs: CellInputs,
    proto: ProtocolPreset,
    metric_artifacts: Iterable[tuple[str, str]] = (),
) -> CellResult:
    """What the store keeps; artifact paths are relative to the cell's folder ``art_dir``.
    ``metric_artifacts``: (kind, file name) of the files the metrics returned (:func:`write_artifacts`)."""
    res = CellResult(metrics=metrics)
    if (art_dir / "model.pt").exists():  # a calculator-backed model has none (its model.json is listed below)
        res.artifacts.append(("checkpoint", "model.pt"))
    for split in outputs.predictions:
        res.artifacts.append(("predictions", f"predictions-{split}.npz"))
    for r in outputs.md:
        if r.trajectory:
            res.artifacts.append(("trajectory", _relative(r.trajectory, art_dir)))
    if outputs.md:
        res.artifacts.append(("md-summary", "md/replicas.json"))
    files = list(metric_artifacts)  # arrays behind metric values (RDFs, EV(t), survival, ...)
    if (outputs.oracle or {}).get("samples") is not None:  # run_oracle's labels of the replicas' frames
        files.append(("oracle", "oracle.json"))
    if (art_dir / "model.json").exists():  # a calculator-backed model's fitted offsets (run_model)
        files.append(("model", "model.json"))
    res.artifacts.extend(sorted(files, key=lambda kind_name: kind_name[1]))
    assert outputs.train is not None and outputs.stats is not None  # set for every run (run_model, from_json)
    res.info = {
        "model": outputs.model_info,
        "train": outputs.train.to_dict(),
        "stats": outputs.stats.to_dict(),
        "hardware": outputs.hardware,
        "protocol": proto.to_dict(),
        "peak_rss_mb": peak_rss_mb(),
        "metric_errors": errors,
        "truncated": bool(outputs.train.truncated),
        "oracle": {k: v for k, v in (outputs.oracle or {}).items() if k != "samples"} or None,
        "md_failures": [r.failure for r in outputs.md if r.failure],
        "seeds": {"cell": outputs.seed, "replicas": [r.seed for r in outputs.md]},
        "subsets": inputs.subsets,
        "n_frames": {
            "train": len(inputs.train),
            "val": len(inputs.val),
            **{s: len(p.reference) for s, p in outputs.predictions.items()},
        },
    }
    return res


def execute_cell(
    cell: Cell,
    catalog: Catalog,
    art_dir: Path,
    proto: ProtocolPreset,
    progress: Progress | None = None,
    execution: Execution | None = None,
) -> CellResult:
    progress = progress or NullProgress()
    execution = execution or Execution(threads=torch.get_num_threads())
    spec = model_for_cell(catalog, cell)
    progress.stage("data")
    inputs = load_inputs(cell, catalog, proto)
    dataset = catalog.dataset(cell.dataset)
    job = ModelJob(cell, inputs, proto, art_dir, execution)
    if spec.environment:
        from .envs import run_in_environment

        outputs = run_in_environment(spec.environment, job, dataset=dataset, progress=progress)
    else:
        outputs = run_model(job, spec, dataset=dataset, observer_metrics=catalog.metrics.values(), progress=progress)
    if outputs.md:
        progress.stage("oracle")
        outputs.oracle = run_oracle(catalog, dataset, outputs, art_dir, oracle_enabled(cell, execution, proto))
    progress.stage("metrics")
    metrics, errors, artifacts = score(outputs, catalog.metrics.values())
    written = write_artifacts(art_dir, artifacts)
    return collect(outputs, art_dir, metrics, errors, inputs, proto, written)


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


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)
