"""Conformance kit for plugin authors: fixtures, named tolerances, the ``ModelConformance``
pytest mixin and a fast fake model (``toy-pair``).

A model plugin's tests::

    from egbench_core.testing import ModelConformance

    class TestMyModel(ModelConformance):
        spec = my_model_spec()      # the ModelSpec the plugin registers
        preset = "smoke"

A calculator-backed model's tests subclass ``CalculatorConformance`` (the checks that apply when the
forces are the calculator's own). The other kinds of plugin have their kits in submodules:
``plugin_tests`` (registration checks shared by model and data plugins), ``data_plugins``,
``task_plugins`` (``TaskPluginChecks``), ``metric_plugins`` (``MetricPluginChecks``) and
``oracle_plugins`` (``OraclePluginChecks``); docs/plugins.md shows each in use.
``source.plugin_module`` imports a plugin for its own tests, installed or from its ``src/`` folder.

Importing this package does not import pytest or torch; the checks import them when they run.
"""

from __future__ import annotations

from egbench_core.testing.calculator_conformance import CalculatorConformance, finite_difference_forces
from egbench_core.testing.conformance import FAKE_E0, FAKE_SCALE, TOLERANCES, ModelConformance, assert_close, fake_stats
from egbench_core.testing.fakes import FakeModelPlugin, toy_pair_spec
from egbench_core.testing.structures import FIXTURE_SPECIES, molecule, periodic_box, random_rotation, relabel

__all__ = [
    "CalculatorConformance",
    "FAKE_E0",
    "FAKE_SCALE",
    "FIXTURE_SPECIES",
    "TOLERANCES",
    "FakeModelPlugin",
    "ModelConformance",
    "assert_close",
    "fake_stats",
    "finite_difference_forces",
    "molecule",
    "periodic_box",
    "random_rotation",
    "relabel",
    "toy_pair_spec",
]
