"""The template's tests: the conformance kit, plus one check of the architecture itself."""

from __future__ import annotations

from egbench_core.interfaces import ModelSpec
from egbench_core.testing import ModelConformance, fake_stats
from egbench_core.testing.plugin_tests import ModelPluginChecks
from egbench_core.testing.source import plugin_module

# installed, or else from this folder's src/ (how egbench's CI runs the template)
egbench_model_example = plugin_module("egbench_model_example", __file__)


def example_spec() -> ModelSpec:
    captured = []
    egbench_model_example.register_models(register=captured.append)
    return captured[0]


class TestExampleConformance(ModelConformance):
    spec = example_spec()
    preset = "smoke"


class TestRegistration(ModelPluginChecks):
    plugin = "example"  # the entry-point name in pyproject.toml
    module = "egbench_model_example"
    models = ("example",)
    installed = False  # egbench's CI runs the template from its folder; drop this line in your copy


def test_more_interactions_more_parameters():
    spec = example_spec()
    stats = fake_stats([1, 6, 8], 4.0)
    small = spec.build([1, 6, 8], 4.0, {"features": 16, "interactions": 1, "rbf": 8}, stats)
    big = spec.build([1, 6, 8], 4.0, {"features": 16, "interactions": 3, "rbf": 8}, stats)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(big) - n(small) == 2 * sum(p.numel() for p in small.blocks[0].parameters())
