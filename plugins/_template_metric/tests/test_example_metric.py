"""The template metric plugin's tests: the metric kit (registration, declarations, one real smoke
cell scored and stored), plus this metric's numbers on that cell."""

from __future__ import annotations

import numpy as np
import pytest

from egbench_core.testing.metric_plugins import MetricPluginChecks
from egbench_core.testing.source import plugin_module

# installed, or else from this folder's src/ (how egbench's CI runs the template)
egbench_metric_example = plugin_module("egbench_metric_example", __file__)


class TestForceExtremes(MetricPluginChecks):
    plugin = "example-metric"  # the entry-point name in pyproject.toml
    module = "egbench_metric_example"
    metrics = ("force_extremes",)
    heavy = ("torch", "numpy")  # registering imports neither: compute.py is imported at the first cell
    run_on = "acac"  # from the data mirror (EGBENCH_DATA_MIRROR); the task is "standard"
    installed = False  # egbench's CI runs the template from its folder; drop this line in your copy

    def test_the_worst_error_bounds_the_mean_one(self, scored):
        stored = {(m["name"], m["split"]): m for m in scored.stored}
        for split in scored.outputs.plan.eval_splits:
            worst, mae = stored[("max_force_error", split)], stored[("force_mae", split)]
            assert worst["unit"] == mae["unit"] == "eV/Å"
            assert worst["value"] >= mae["value"] > 0
            p = scored.outputs.predictions[split]
            assert worst["n"] == p.forces.size == 3 * int(p.reference.n_atoms.sum())

    def test_the_mean_temperature_is_the_replicas_frames(self, scored):
        (t,) = [m for m in scored.stored if m["name"] == "md_mean_temperature"]
        frames = np.concatenate([r.temperature_K for r in scored.outputs.md])
        assert t["value"] == pytest.approx(frames.mean()) and t["n"] == len(scored.outputs.md)
        assert 0 < t["value"] < 10 * scored.outputs.plan.md.temperature_K  # a thermostatted run, not a blow-up

    def test_no_replica_frames_is_not_applicable(self, scored):
        from dataclasses import replace

        empty = replace(scored.outputs, md=[replace(r, temperature_K=[]) for r in scored.outputs.md])
        (t,) = [
            v
            for v in egbench_metric_example.force_extremes_spec().compute(empty).values
            if v.name == "md_mean_temperature"
        ]
        assert np.isnan(t.value) and t.note.startswith("not applicable")
