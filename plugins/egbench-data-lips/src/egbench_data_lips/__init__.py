"""egbench data plugin: LiPS (``lips``) and LiPS20 (``lips20``, ``lips20-glass``) from the
EGraFFBench authors' release, with the crystalline / disordered and composition splits of the
OOD tasks.

Importing this module must stay cheap: no data is read at registration.
"""

from __future__ import annotations

from egbench_core.plugin_kit import registry_plugin

__version__ = "0.1.0"

# "lips": the entry-point name; the registry's [datasets.*] tables of this plugin carry plugin = "lips"
# a table with kind = "lips20" is a LiPS20 dataset (its composition and crystalline / disordered splits)
register_registry_files, register_datasets = registry_plugin(
    "lips", __file__, kinds={"lips20": "egbench_data_lips.lips20:LiPS20Dataset"}
)
