"""The ``standard`` task: train on train (select on val), test on test, MD from test frames."""

from __future__ import annotations

from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import MDPlan, SkipCell, TaskPlan, TaskSpec


def plan_standard(dataset) -> TaskPlan:
    missing = [s for s in ("train", "val", "test") if s not in dataset.splits]
    if missing:
        raise SkipCell(
            f"dataset {dataset.name} has no {'/'.join(missing)} split (the standard task needs train, val, test)"
        )
    md = md_plan(dataset, "test")
    return TaskPlan(train_split="train", val_split="val", eval_splits=("test",), md=md)


def md_plan(dataset, split: str, temperature_K: float | None = None) -> MDPlan:
    """MD from ``split`` of ``dataset``; a time-contiguous split also gives the start velocities
    (finite differences), so the trajectory can be compared with it frame by frame (``aligned``).
    At ``temperature_K`` when given, else the split's, else the dataset's; the dataset's time step and
    friction. The standard MD of every task: plugins import it from :mod:`egbench_core.plugin_kit`
    and change what their task changes (``dataclasses.replace``)."""
    info = dataset.splits[split]
    contiguous = bool(info.contiguous and info.frame_spacing_fs)
    return MDPlan(
        start_split=split,
        reference_split=split,
        temperature_K=temperature_K or info.temperature_K or dataset.temperature_K,
        timestep_fs=dataset.timestep_fs,
        friction_per_ps=dataset.friction_per_ps,
        start_velocities="reference" if contiguous else "maxwell-boltzmann",
        reference_spacing_fs=info.frame_spacing_fs if contiguous else None,
    )


@hookimpl
def register_tasks(register):
    register(
        TaskSpec(
            name="standard",
            plan=plan_standard,
            version="1",
            description="train on train (select on val); static errors on test; NVT MD from test frames",
        )
    )
