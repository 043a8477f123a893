"""egbench data plugin: 3BPA — the EGraFFBench authors' split (``3bpa``) and the
BOTNet-datasets files with every test temperature (``3bpa-botnet``).

Importing this module must stay cheap: no data is read at registration.
"""

from __future__ import annotations

from egbench_core.plugin_kit import registry_plugin

__version__ = "0.1.0"

# "botnet": the entry-point name; the registry's [datasets.*] tables of this plugin carry plugin = "botnet"
register_registry_files, register_datasets = registry_plugin("botnet", __file__)
