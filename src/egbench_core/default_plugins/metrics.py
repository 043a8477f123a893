"""Built-in metrics: static errors over whole test splits, and cost (training, MD)."""

from __future__ import annotations

import math

import numpy as np

from egbench_core.default_plugins import declared_metrics as d
from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import MetricResult, MetricSpec, ValueSpec
from egbench_core.model.stats import energy_transfer_reason


def _static(spec: ValueSpec) -> MetricSpec:
    kind, stat = spec.id.split("_")[0], spec.id.split("_")[-1]
    per_atom = "_per_atom_" in spec.id

    def compute(out) -> MetricResult:
        values = []
        for split, p in out.predictions.items():
            why = energy_transfer_reason(out.stats, p.reference) if kind == "energy" else None
            if why:
                values.append(spec(math.nan, split=split, n=len(p.energy), note=why))
                continue
            if kind == "energy":
                err = p.energy - p.reference.energy
                if per_atom:
                    err = err / p.reference.n_atoms
                n = len(err)
            else:
                err = (p.forces - p.reference.forces).reshape(-1)
                n = len(err)
            v = float(np.mean(np.abs(err))) if stat == "mae" else float(np.sqrt(np.mean(err**2)))
            values.append(spec(v, split=split, n=n))
        return MetricResult(values)

    what = "force components" if kind == "force" else "structures"
    return MetricSpec(
        name=spec.id,
        compute=compute,
        values=(spec,),
        version="1",
        description=f"{stat.upper()} of {kind}{' per atom' if per_atom else ''} over all {what} of the split",
    )


def _train_cost(out) -> MetricResult:
    t = out.train
    if t is None:
        return MetricResult()
    if t.epochs_run == 0 and t.stop_reason.startswith("not trained"):  # a calculator-backed model
        note = f"not applicable: {t.stop_reason}"
        return MetricResult([v(math.nan, note=note) for v in d.TRAIN_COST])
    return MetricResult(
        [
            d.TRAIN_TIME_PER_EPOCH(t.time_per_epoch_s, n=t.epochs_run),
            d.TRAIN_TIME_TOTAL(t.total_time_s),
            d.EPOCHS(float(t.epochs_run), note=t.stop_reason),
            d.BEST_EPOCH(float(t.best_epoch)),
        ]
    )


def _md_cost(out) -> MetricResult:
    reps = [r for r in out.md if r.steps_done > 0]
    if not reps:
        return MetricResult()
    t = np.array([r.time_per_step_ms for r in reps])
    wall_s = sum(r.time_per_step_ms * r.steps_done for r in reps) / 1e3
    atoms_steps = sum(r.n_atoms * r.steps_done for r in reps) / wall_s
    hw = out.hardware
    note = f"{hw.get('cpu', '?')}, torch threads {hw.get('torch_threads', '?')}, {hw.get('precision', '?')}"
    std = float(t.std(ddof=1)) if len(t) > 1 else None  # sample std over replicas
    return MetricResult(
        [
            d.MD_TIME_PER_STEP(float(t.mean()), std=std, n=len(reps), note=note),
            d.MD_THROUGHPUT(float(atoms_steps), n=len(reps), note=note),
        ]
    )


@hookimpl
def register_metrics(register):
    for spec in (d.ENERGY_MAE, d.ENERGY_RMSE, d.FORCE_MAE, d.FORCE_RMSE, d.ENERGY_PER_ATOM_MAE):
        register(_static(spec))
    for name, compute, values, description in (
        ("train_cost", _train_cost, d.TRAIN_COST, "train_time_per_epoch, train_time_total, epochs, best_epoch"),
        ("md_cost", _md_cost, d.MD_COST, "md_time_per_step (mean ± std over replicas) and md_throughput"),
    ):
        register(MetricSpec(name=name, compute=compute, values=values, version="1", description=description))
