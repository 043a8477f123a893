"""The ``standard`` task: train on train (select on val), test on test, MD from test frames."""
from __future__ import annotations

from ..hookspecs import hookimpl
from ..interfaces import MDPlan, SkipCell, TaskPlan, TaskSpec


def plan_standard(dataset) -> TaskPlan:
    missing = [s for s in ("train", "val", "test") if s not in dataset.splits]
    if missing:
        raise SkipCell(f"dataset {dataset.name} has no {'/'.join(missing)} split (the standard task needs train, val, test)")
    md = MDPlan(start_split="test", reference_split="test", temperature_K=dataset.temperature_K,
                timestep_fs=dataset.timestep_fs, friction_per_ps=dataset.friction_per_ps)
    return TaskPlan(train_split="train", val_split="val", eval_splits=("test",), md=md)


@hookimpl
def register_tasks(register):
    register(TaskSpec(name="standard", plan=plan_standard, version="1",
                      description="train on train (select on val); static errors on test; NVT MD from test frames"))
