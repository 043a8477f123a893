"""The template task plugin's tests: the task kit (registration, declarations, plans of real
datasets, one smoke cell), plus what this task does to the standard plan."""

from __future__ import annotations

import copy

import pytest

from egbench_core.interfaces import SkipCell
from egbench_core.testing.source import plugin_module
from egbench_core.testing.task_plugins import TaskPluginChecks

# installed, or else from this folder's src/ (how egbench's CI runs the template)
egbench_task_example = plugin_module("egbench_task_example", __file__)


class TestHalfTimestep(TaskPluginChecks):
    plugin = "example-task"  # the entry-point name in pyproject.toml
    module = "egbench_task_example"
    tasks = ("half-timestep",)
    datasets = ("acac", "synthetic-emt")  # acac from the data mirror; synthetic-emt is generated
    run_on = "acac"
    installed = False  # egbench's CI runs the template from its folder; drop this line in your copy

    def test_md_at_half_the_standard_time_step(self, task_catalog):
        task = task_catalog.task("half-timestep")
        for name in self.datasets:
            ds = task_catalog.dataset(name)
            ours, standard = task.plan(ds), task_catalog.task("standard").plan(ds)
            assert ours.md.timestep_fs == standard.md.timestep_fs / 2 == ds.timestep_fs / 2
            assert ours.md.temperature_K == standard.md.temperature_K
            assert (ours.train_split, ours.val_split, ours.eval_splits) == ("train", "val", ("test",))
        assert not task.ood and task.plugin == "egbench_task_example"

    def test_a_dataset_without_a_test_split_is_skipped_with_why(self, task_catalog):
        no_test = copy.copy(task_catalog.dataset("acac"))
        no_test.splits = {k: v for k, v in no_test.splits.items() if k != "test"}
        with pytest.raises(SkipCell, match="has no test split"):
            egbench_task_example.half_timestep_spec().plan(no_test)
