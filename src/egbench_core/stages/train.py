"""The ``train`` stage: statistics, build, offset refit and training of one model on one training
split, and the trained model loaded back for another cell that shares the stage.

:func:`fit` writes the checkpoint (``model.pt``, or ``model.json`` for a calculator-backed model)
and ``train.json`` (the training record, the statistics, how the energies came about, the
precision) into the cell's attempt folder; the store keeps them as the stage's artifacts
(``stages/train/<key>/``). :func:`load` rebuilds the same potential from them, tensor for tensor
(each tensor keeps its stored dtype), so a cell that reuses a training computes the numbers the
cell that trained would have.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from egbench_core.model.calculator_model import CalculatorPotential, fit_calculator_model
from egbench_core.model.neighbours import NeighbourLists
from egbench_core.model.potential import NormalisedPotential
from egbench_core.model.pretrained import refit_potential
from egbench_core.model.stats import DatasetStats, compute_stats
from egbench_core.model.train import TrainConfig, train
from egbench_core.modes import Mode, mode_of
from egbench_core.records import TrainRecord
from egbench_core.run.progress import NullProgress, Progress
from egbench_core.run.seeding import seed_everything

if TYPE_CHECKING:
    from egbench_core.interfaces import ModelSpec
    from egbench_core.run.model_job import ModelJob

TRAIN_FILE = "train.json"  # the stage's record beside its checkpoint


@dataclass
class Trained:
    """A trained (or refitted) model and how it came about."""

    pot: CalculatorPotential | NormalisedPotential
    rec: TrainRecord
    stats: DatasetStats
    model_info: dict[str, Any]
    precision: str  # "float32", "float64" or "calculator"


def train_config(job: ModelJob, preset: dict[str, Any]) -> TrainConfig:
    """The preset's training settings, in the precision planning decided (``--dtype`` or the
    preset's; ``cell.provenance["precision"]``), with the protocol's guard."""
    cfg = TrainConfig.from_dict(preset.get("train", {}))
    planned = job.cell.provenance.get("precision")
    dtype = planned if planned in ("float32", "float64") else job.execution.dtype
    if dtype is not None:
        cfg = dataclasses.replace(cfg, dtype=dtype)
    guard = job.proto.train_guard_s
    if guard is not None and (cfg.max_time_s is None or guard < cfg.max_time_s):
        cfg = dataclasses.replace(cfg, max_time_s=guard)
    return cfg


def fit(job: ModelJob, spec: ModelSpec, progress: Progress | None = None) -> Trained:
    """Train (or refit) ``spec`` on the job's training split as its mode says
    (:func:`egbench_core.modes.mode_of`); writes the checkpoint and :data:`TRAIN_FILE` into
    ``job.art_dir``."""
    cell, inputs = job.cell, job.inputs
    assert cell.plan is not None  # a cell that runs was planned by its task
    mode = mode_of(spec)
    neighbours = NeighbourLists()  # built once per frame set: statistics, offset refit and training share them
    # a pretrained model's energies (calculator-backed or not) rest on offsets fitted by least
    # squares (never on the dataset's isolated-atom energies): its stats say where those are determined
    stats = compute_stats(
        inputs.train,
        float(spec.preset(cell.preset)["cutoff"]),
        neighbours=neighbours,
        isolated_atom_energies=None if mode.pretrained else inputs.isolated_atom_energies,
    )
    trained = FIT[mode.backend](mode, job, spec, stats, neighbours, progress or NullProgress())
    trained.model_info = dict(trained.model_info, mode=mode.id)
    if mode.pretrained:  # the split the energy offsets were refitted on (planning may swap it)
        trained.model_info["offsets_split"] = cell.plan.train_split
    record = {
        "train": trained.rec.to_dict(),
        "stats": trained.stats.to_dict(),
        "model_info": trained.model_info,
        "precision": trained.precision,
    }
    (job.art_dir / TRAIN_FILE).write_text(json.dumps(record))
    return trained


def _fit_calculator(
    mode: Mode, job: ModelJob, spec: ModelSpec, stats: DatasetStats, neighbours: NeighbourLists, progress: Progress
) -> Trained:
    """Evaluated through its calculator: nothing to build or train, the energy offsets refitted."""
    progress.stage("fit offsets")
    pot, rec, model_info = fit_calculator_model(spec, job.inputs.train, job.cell.seed)
    checkpoint = {"model": job.cell.model, "preset": job.cell.preset, **model_info}
    (job.art_dir / "model.json").write_text(json.dumps(checkpoint))
    assert mode.precision is not None  # the calculator's own
    return Trained(pot, rec, stats, model_info, mode.precision)


def _fit_network(
    mode: Mode, job: ModelJob, spec: ModelSpec, stats: DatasetStats, neighbours: NeighbourLists, progress: Progress
) -> Trained:
    """Build the network; a pretrained one's energy offsets refitted (:mod:`egbench_core.model.pretrained`);
    then egbench's trainer, where the mode trains."""
    cell, inputs = job.cell, job.inputs
    device = torch.device(job.execution.device)
    preset = spec.preset(cell.preset)
    cutoff = float(preset["cutoff"])
    cfg = train_config(job, preset)
    progress.stage("build")
    seed_everything(cell.seed)
    model = spec.build(list(stats.species), cutoff, dict(preset.get("model", {})), stats)
    rec: TrainRecord | None = None
    pot: NormalisedPotential
    if mode.pretrained:  # the checkpoint's network, its energy offsets refitted
        progress.stage("fit offsets")
        t0 = time.perf_counter()
        pot, stats, model_info = refit_potential(model, stats, cutoff, inputs.train, cfg.torch_dtype, neighbours)
        rec = TrainRecord(
            stop_reason=mode.not_trained,
            total_time_s=time.perf_counter() - t0,
            seed=cell.seed,
            time_per_epoch_s=float("nan"),
            n_parameters=sum(p.numel() for p in model.parameters()),
        )
    else:
        pot, model_info = NormalisedPotential(model, stats, cutoff), {"energy": "trained"}
    if mode.trains:
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
        if mode.energy_after_training:
            model_info = dict(model_info, energy=mode.energy_after_training)
    assert rec is not None  # every mode of the network backend refits or trains
    torch.save(
        {
            "model": cell.model,
            "preset": cell.preset,
            "params": preset,
            "stats": stats.to_dict(),
            "state_dict": pot.state_dict(),
        },
        job.art_dir / "model.pt",
    )
    pot.to(device)  # a zero-shot network is never handed to the trainer, which moves it there
    return Trained(pot, rec, stats, model_info, cfg.dtype)


def load(folder: Path, job: ModelJob, spec: ModelSpec) -> Trained:
    """The model that :func:`fit` left in ``folder`` (a done ``train`` stage), on the job's device."""
    record = json.loads((folder / TRAIN_FILE).read_text())
    stats = DatasetStats.from_dict(record["stats"])
    pot = LOAD[mode_of(spec).backend](folder, job, spec, stats)
    return Trained(pot, TrainRecord(**record["train"]), stats, record["model_info"], record["precision"])


def _load_calculator(folder: Path, job: ModelJob, spec: ModelSpec, stats: DatasetStats) -> CalculatorPotential:
    pot = CalculatorPotential(spec)
    offsets = json.loads((folder / "model.json").read_text())["offsets_eV"]
    pot.offsets = {int(z): float(d) for z, d in offsets.items()}
    return pot


def _load_network(folder: Path, job: ModelJob, spec: ModelSpec, stats: DatasetStats) -> NormalisedPotential:
    preset = spec.preset(job.cell.preset)
    cutoff = float(preset["cutoff"])
    seed_everything(job.cell.seed)  # a build may draw random numbers: as fit() did
    model = spec.build(list(stats.species), cutoff, dict(preset.get("model", {})), stats)
    pot = NormalisedPotential(model, stats, cutoff)
    saved = torch.load(folder / "model.pt", map_location="cpu", weights_only=False)
    pot.load_state_dict(saved["state_dict"], assign=True)  # every tensor as stored, dtype included
    pot.to(torch.device(job.execution.device))
    return pot


# how each backend of a mode (:attr:`egbench_core.modes.Mode.backend`) makes its potential, and loads it back
FIT: dict[str, Callable[[Mode, ModelJob, ModelSpec, DatasetStats, NeighbourLists, Progress], Trained]] = {
    "network": _fit_network,
    "calculator": _fit_calculator,
}
LOAD: dict[str, Callable[[Path, ModelJob, ModelSpec, DatasetStats], CalculatorPotential | NormalisedPotential]] = {
    "network": _load_network,
    "calculator": _load_calculator,
}
