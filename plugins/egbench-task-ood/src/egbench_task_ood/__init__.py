"""The out-of-distribution task family of EGraFFBench (``--tasks ood``).

Tasks never name datasets. A dataset joins a task by what it declares in its registry entry:

* an evaluation split tagged with the task's id (``ood-temperature``, ``ood-crystal``,
  ``ood-composition``, ``zero-shot``);
* where to train: its own ``train`` / ``val`` splits, or those of the dataset named by the tagged
  split's ``train_dataset`` key or, failing that, the dataset's (e.g. benzene → aspirin, the LiPS20
  glasses → lips20; MD17 naphthalene's test split → aspirin for ``zero-shot`` only);
* ``ood-temperature`` also requires the tagged split's ``temperature_K`` to be higher than the
  training split's, and simulates at that temperature.

Static errors are scored on every tagged split; MD starts from the first tagged split and is
compared with it (structure, dynamics), at its temperature. Every task here is declared
out-of-distribution (``TaskSpec.ood``): the HTML report's OOD page shows it beside ``standard``.
"""

from __future__ import annotations

from egbench_core import hookimpl
from egbench_core.interfaces import SkipCell, TaskPlan, TaskSpec
from egbench_core.plugin_kit import md_plan

FAMILY = "ood"
TASKS = {
    "ood-temperature": "train at the low temperature, test and simulate at the higher one (3BPA, acac 300 → 600 K)",
    "ood-crystal": "train on disordered (molten) frames, test on the crystalline frames of the same systems (LiPS20)",
    "ood-composition": "train on the small systems, test on unseen compositions (LiPS20)",
    "zero-shot": "train on one molecule, test on another made of a subset of its elements (aspirin → benzene, "
    "naphthalene, salicylic acid)",
}


def _train_source(dataset, tagged: list[str]) -> str | None:
    """Where the task trains: the tagged split's own ``train_dataset`` (e.g. MD17 naphthalene's test
    split for zero-shot from aspirin, while its standard task trains on naphthalene), else the
    dataset's, else the dataset itself (None)."""
    per_split = {dataset.splits[s].train_dataset for s in tagged if getattr(dataset.splits[s], "train_dataset", None)}
    if len(per_split) > 1:
        raise SkipCell(
            f"dataset {dataset.name}: the splits tagged for this task train on different datasets "
            f"({', '.join(sorted(per_split))})"
        )
    return per_split.pop() if per_split else dataset.extra.get("train_dataset")


def make_plan(task: str):
    def plan(dataset) -> TaskPlan:
        tagged = [s for s, info in dataset.splits.items() if task in info.tags]
        if not tagged:
            raise SkipCell(f"dataset {dataset.name} declares no split tagged {task!r}")
        source = _train_source(dataset, tagged)
        if source is None and not {"train", "val"} <= set(dataset.splits):
            raise SkipCell(f"dataset {dataset.name} has no train/val splits and names no train_dataset")
        temperature = None
        if task == "ood-temperature":
            t_train = dataset.splits["train"].temperature_K if "train" in dataset.splits else None
            hot = [
                s
                for s in tagged
                if dataset.splits[s].temperature_K and t_train and dataset.splits[s].temperature_K > t_train
            ]
            if not hot:
                raise SkipCell(
                    f"dataset {dataset.name}: no split tagged {task!r} is hotter than its training split ({t_train} K)"
                )
            tagged = hot
            temperature = dataset.splits[hot[0]].temperature_K
        return TaskPlan(
            train_split="train",
            val_split="val",
            eval_splits=tuple(tagged),
            md=md_plan(dataset, tagged[0], temperature),
            train_dataset=source,
            note=f"{task}: train on {source or dataset.name}, evaluate {', '.join(tagged)}",
        )

    return plan


@hookimpl
def register_tasks(register):
    for name, description in TASKS.items():
        register(
            TaskSpec(name=name, plan=make_plan(name), version="1", family=FAMILY, description=description, ood=True)
        )
