"""The ``half-timestep`` task's plan: the ``standard`` task's splits, and its MD (``md_plan``: from the
test split, at the dataset's temperature and friction) with half the dataset's time step. The
protocol preset fixes the number of MD steps, so a replica simulates half the time: a model whose
replicas survive here but not in ``standard`` fails through integration error, not its potential."""

from __future__ import annotations

from dataclasses import replace

from egbench_core.interfaces import SkipCell, TaskPlan
from egbench_core.plugin_kit import DatasetSpec, md_plan

SPLITS = ("train", "val", "test")


def plan(dataset: DatasetSpec) -> TaskPlan:
    missing = [s for s in SPLITS if s not in dataset.splits]
    if missing:
        raise SkipCell(
            f"dataset {dataset.name} has no {'/'.join(missing)} split (half-timestep needs train, val, test)"
        )
    md = md_plan(dataset, "test")
    return TaskPlan(
        train_split="train",
        val_split="val",
        eval_splits=("test",),
        md=replace(md, timestep_fs=md.timestep_fs / 2),
        note=f"MD at {md.timestep_fs / 2:g} fs (the dataset's {md.timestep_fs:g} fs halved)",
    )
