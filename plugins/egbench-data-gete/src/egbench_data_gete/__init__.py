"""egbench data plugin: GeTe4 (``gete``: Ge40Te160, CPMD) from the EGraFFBench authors' release.
Its temperature and frame spacing are estimates (``egbench_data_gete.estimate``, README).

Importing this module must stay cheap: no data is read at registration.
"""

from __future__ import annotations

from egbench_core.plugin_kit import registry_plugin

__version__ = "0.1.0"

# "gete": the entry-point name; the registry's [datasets.*] tables of this plugin carry plugin = "gete"
# its tables also record egbench's estimates (keys that GeTeDataset declares)
register_registry_files, register_datasets = registry_plugin(
    "gete", __file__, dataset_class="egbench_data_gete.dataset:GeTeDataset"
)
