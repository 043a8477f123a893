"""egbench data plugin template: registers the ``example-cu13`` dataset from ``registry.toml``: the
registry file and one registration call.

Importing this module must stay cheap: no data is read at registration (core reads the files when
a cell loads a split).
"""

from __future__ import annotations

from egbench_core.plugin_kit import registry_plugin

__version__ = "0.1.0"

# "example-data": the entry-point name; the registry's [datasets.*] tables say plugin = "example-data".
# Every such table becomes a dataset; one wrong table is registered as broken (with the registry
# error) and the others still work. A dataset that needs code (derived splits, another file format)
# subclasses egbench_core.data.datasets.RegistryDataset, and its tables name it by a kind:
#     registry_plugin("example-data", __file__, kinds={"my-kind": "egbench_data_example.mine:MyDataset"})
register_registry_files, register_datasets = registry_plugin("example-data", __file__)
