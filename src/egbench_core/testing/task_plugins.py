"""Test kit for task plugins: registration is cheap and found, the declarations are valid, every
task plans real datasets into a valid :class:`~egbench_core.interfaces.TaskPlan` (or skips with a
reason), and one real smoke cell of each task runs.

A task plugin's tests::

    from egbench_core.testing.task_plugins import TaskPluginChecks

    class TestMyTasks(TaskPluginChecks):
        plugin = "my-tasks"            # the entry-point name
        module = "egbench_task_mine"
        tasks = ("my-task",)
        datasets = ("acac", "synthetic-emt")   # planned on; each task must plan at least one
        run_on = "acac"                # one smoke cell per task here (None: no cell)

Data comes from the mirror (the class's ``mirror``, else ``EGBENCH_DATA_MIRROR``; ``synthetic-emt``
is generated and needs none) into a temporary cache, offline. :func:`check_task_plan` is the plan
check on its own. Importing this module imports pytest, not torch.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from typing import Any, ClassVar

import pytest

from egbench_core.interfaces import MDPlan, SkipCell, TaskPlan, TaskSpec, check_id
from egbench_core.testing.registration import check_registration
from egbench_core.testing.smoke import kit_catalog, run_smoke_cell

START_VELOCITIES = ("maxwell-boltzmann", "reference")


def check_task_plan(plan: Any, dataset: Any, catalog: Any) -> None:
    """AssertionError naming what is wrong with ``plan``, the plan of ``dataset`` (a
    :class:`~egbench_core.data.datasets.DatasetSpec`): it is a :class:`TaskPlan`; it trains and selects on
    two different splits of the training dataset (``train_dataset``, else ``dataset``; an installed
    one); it evaluates splits of ``dataset``; its MD (if any) is an :class:`MDPlan` starting from and
    compared with splits of ``dataset``, at a positive temperature, a time step in (0, 10] fs, a
    friction >= 0, with start velocities drawn or taken from a time-contiguous split; and it is
    plain data (JSON in the cell's provenance, pickled to workers)."""
    where = f"plan of {dataset.name}"
    assert isinstance(plan, TaskPlan), f"{where}: a {type(plan).__name__}, expected a TaskPlan"
    train = catalog.dataset(plan.train_dataset) if plan.train_dataset else dataset
    for role in ("train_split", "val_split"):
        split = getattr(plan, role)
        assert split in train.splits, (
            f"{where}: {role} {split!r} is not a split of {train.name} ({sorted(train.splits)})"
        )
    assert plan.train_split != plan.val_split, f"{where}: trains and selects on the same split {plan.train_split!r}"
    assert isinstance(plan.eval_splits, tuple) and plan.eval_splits, f"{where}: eval_splits must be a non-empty tuple"
    for split in plan.eval_splits:
        assert split in dataset.splits, f"{where}: eval split {split!r} is not a split of {dataset.name}"
    md = plan.md
    if md is not None:
        assert isinstance(md, MDPlan), f"{where}: md is a {type(md).__name__}, expected an MDPlan or None"
        for role in ("start_split", "reference_split"):
            split = getattr(md, role)
            assert split in dataset.splits, f"{where}: md.{role} {split!r} is not a split of {dataset.name}"
        assert md.temperature_K > 0, f"{where}: md.temperature_K = {md.temperature_K}"
        assert 0 < md.timestep_fs <= 10, f"{where}: md.timestep_fs = {md.timestep_fs}, expected 0 < dt <= 10 fs"
        assert md.friction_per_ps >= 0, f"{where}: md.friction_per_ps = {md.friction_per_ps}"
        assert md.start_velocities in START_VELOCITIES, f"{where}: md.start_velocities = {md.start_velocities!r}"
        if md.start_velocities == "reference":
            info = dataset.splits[md.start_split]
            assert info.contiguous and md.reference_spacing_fs, (
                f"{where}: reference start velocities need a time-contiguous start split and its frame spacing"
            )
    json.dumps(asdict(plan))
    assert pickle.loads(pickle.dumps(plan)) == plan, f"{where}: the plan does not survive pickling"


def check_task_spec(spec: Any) -> None:
    """AssertionError unless ``spec`` is a :class:`TaskSpec` with a valid id, a version, a
    description and a boolean ``ood``."""
    assert isinstance(spec, TaskSpec), f"registered a {type(spec).__name__}, expected a TaskSpec"
    check_id("task", spec.name)
    assert spec.version, f"task {spec.name}: empty version (part of every cell key)"
    assert spec.description, f"task {spec.name}: no description (egbench list tasks shows it)"
    assert isinstance(spec.ood, bool), f"task {spec.name}: ood = {spec.ood!r}"


class TaskPluginChecks:
    """Mixin of pytest checks for a task plugin (see the module's docstring for the attributes).
    ``installed = False``: a plugin run from its source folder (the template in CI) is handed to
    the catalog directly instead of through its entry point. ``plugins``: other plugins the
    datasets need (e.g. a data plugin's module)."""

    plugin: ClassVar[str] = ""  # entry-point name
    module: ClassVar[str] = ""  # import name of the package the entry point names
    tasks: ClassVar[tuple[str, ...]] = ()
    heavy: ClassVar[tuple[str, ...]] = ("torch", "numpy")  # what registering must not import
    installed: ClassVar[bool] = True
    datasets: ClassVar[tuple[str, ...]] = ("acac",)
    run_on: ClassVar[str | None] = "acac"
    mirror: ClassVar[str | None] = None
    plugins: ClassVar[tuple[Any, ...]] = ()

    @pytest.fixture(scope="class")
    @classmethod
    def task_catalog(cls, tmp_path_factory):
        """The catalog (built-ins, toy-pair, the plugin) with the data offline in a fresh cache."""
        needed = {*cls.datasets, *([cls.run_on] if cls.run_on else [])}
        yield from kit_catalog(tmp_path_factory.mktemp("task-kit-data"), cls.module, cls.plugins, needed, cls.mirror)

    def test_registration_is_cheap_and_found(self):
        check_registration(self.module, self.plugin, "register_tasks", self.tasks, self.heavy, self.installed)

    def test_declarations(self, task_catalog):
        for name in self.tasks:
            check_task_spec(task_catalog.task(name))

    def test_plans_real_datasets(self, task_catalog):
        for name in self.tasks:
            task, planned = task_catalog.task(name), []
            for d in self.datasets:
                ds = task_catalog.dataset(d)
                try:
                    plan = task.plan(ds)
                except SkipCell as exc:
                    assert str(exc), f"task {name} skips {d} without a reason"
                    continue
                check_task_plan(plan, ds, task_catalog)
                assert task.plan(ds) == plan, f"task {name}: planning {d} twice gave two plans"
                planned.append(d)
            assert planned, f"task {name} skips every dataset of {self.datasets}"

    def test_a_smoke_cell_runs(self, task_catalog, tmp_path):
        if self.run_on is None:
            pytest.skip("run_on = None: this plugin's tasks run no cell here")
        for name in self.tasks:
            store, cell = run_smoke_cell(task_catalog, name, self.run_on, tmp_path / name)
            stored = {(m["name"], m["split"]) for m in store.metrics(cell.key)}
            for split in cell.plan.eval_splits:
                assert ("force_mae", split) in stored, f"task {name}: no force_mae on {split}"
            if cell.plan.md is not None:
                assert ("md_time_per_step", "") in stored, f"task {name}: MD planned, no MD values stored"
