"""Hermetic set-up: the data come from the local mirror only (EGBENCH_OFFLINE=1), into a
temporary cache; no user registry. The mirror lies next to the repository: ../shared/data."""

from egbench_core.testing.data_plugins import dataset_plugin_fixtures

globals().update(dataset_plugin_fixtures("egbench_data_botnet", __file__))
