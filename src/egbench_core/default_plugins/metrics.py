"""Built-in metrics: static errors over whole test splits, and cost (training, MD)."""
from __future__ import annotations

import math

import numpy as np

from ..hookspecs import hookimpl
from ..stats import energy_transfer_reason
from ..interfaces import MetricSpec, MetricValue


def _static(kind: str, stat: str, per_atom: bool = False):
    unit = {"energy": "eV", "force": "eV/Å"}[kind] + ("/atom" if per_atom else "")
    name = f"{kind}_{'per_atom_' if per_atom else ''}{stat}"

    def compute(out) -> list[MetricValue]:
        values = []
        for split, p in out.predictions.items():
            why = energy_transfer_reason(out.stats, p.reference) if kind == "energy" else None
            if why:
                values.append(MetricValue(name, math.nan, unit, split=split, n=len(p.energy), note=why))
                continue
            if kind == "energy":
                err = p.energy - p.reference.energy
                if per_atom:
                    err = err / p.reference.n_atoms
                n = len(err)
            else:
                err = (p.forces - p.reference.forces).reshape(-1)
                n = len(err)
            v = float(np.mean(np.abs(err))) if stat == "mae" else float(np.sqrt(np.mean(err ** 2)))
            values.append(MetricValue(name, v, unit, split=split, n=n))
        return values

    what = "force components" if kind == "force" else "structures"
    return MetricSpec(name=name, compute=compute, unit=unit, version="1",
                      description=f"{stat.upper()} of {kind}{' per atom' if per_atom else ''} over all {what} of the split")


def _train_cost(out) -> list[MetricValue]:
    t = out.train
    if t is None:
        return []
    if t.epochs_run == 0 and t.stop_reason.startswith("not trained"):  # a calculator-backed model
        note = f"not applicable: {t.stop_reason}"
        return [MetricValue(n, math.nan, u, note=note) for n, u in
                (("train_time_per_epoch", "s"), ("train_time_total", "s"), ("epochs", "epochs"), ("best_epoch", "epoch"))]
    return [MetricValue("train_time_per_epoch", t.time_per_epoch_s, "s", n=t.epochs_run),
            MetricValue("train_time_total", t.total_time_s, "s"),
            MetricValue("epochs", float(t.epochs_run), "epochs", note=t.stop_reason),
            MetricValue("best_epoch", float(t.best_epoch), "epoch")]


def _md_cost(out) -> list[MetricValue]:
    reps = [r for r in out.md if r.steps_done > 0]
    if not reps:
        return []
    t = np.array([r.time_per_step_ms for r in reps])
    atoms_steps = sum(r.n_atoms * r.steps_done for r in reps) / (sum(r.time_per_step_ms * r.steps_done for r in reps) / 1e3)
    hw = out.hardware
    note = f"{hw.get('cpu', '?')}, torch threads {hw.get('torch_threads', '?')}, {hw.get('precision', '?')}"
    std = float(t.std(ddof=1)) if len(t) > 1 else None  # sample std over replicas
    return [MetricValue("md_time_per_step", float(t.mean()), "ms", std=std, n=len(reps), note=note),
            MetricValue("md_throughput", float(atoms_steps), "atom·steps/s", n=len(reps), note=note)]


@hookimpl
def register_metrics(register):
    for kind in ("energy", "force"):
        for stat in ("mae", "rmse"):
            register(_static(kind, stat))
    register(_static("energy", "mae", per_atom=True))
    register(MetricSpec(name="train_cost", compute=_train_cost, unit="s", version="1",
                        emits=("train_time_per_epoch", "train_time_total", "epochs", "best_epoch"),
                        description="train_time_per_epoch, train_time_total, epochs, best_epoch"))
    register(MetricSpec(name="md_cost", compute=_md_cost, unit="ms", version="1",
                        emits=("md_time_per_step", "md_throughput"),
                        description="md_time_per_step (mean ± std over replicas) and md_throughput"))
