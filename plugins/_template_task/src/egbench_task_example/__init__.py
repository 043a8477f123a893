"""egbench plugin registering the ``half-timestep`` task: its ``plan`` and one registration call.
Importing this module stays cheap: :mod:`.plan` is imported at the first plan."""

from __future__ import annotations

from egbench_core.plugin_kit import task_plugin

__version__ = "0.1.0"

# half_timestep_spec() returns the TaskSpec (tests use it); register_tasks is the hook that registers it
half_timestep_spec, register_tasks = task_plugin(
    "half-timestep",
    plan="egbench_task_example.plan:plan",
    version="1",
    description="the standard task with its MD at half the dataset's time step (same steps: half the time)",
    ood=False,  # same data, another integrator setting: not out of distribution
)
