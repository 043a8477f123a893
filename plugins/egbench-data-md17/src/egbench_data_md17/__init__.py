"""egbench data plugin: MD17 molecules (aspirin, ethanol, naphthalene, salicylic acid from the
EGraFFBench authors' release; benzene from the original MD17 for the zero-shot task).

Importing this module must stay cheap: no data is read at registration.
"""

from __future__ import annotations

from egbench_core.plugin_kit import registry_plugin

__version__ = "0.1.0"

# "md17": the entry-point name; the registry's [datasets.*] tables of this plugin carry plugin = "md17"
# a table with kind = "md17-original" reads the original MD17 npz (benzene, for the zero-shot task)
register_registry_files, register_datasets = registry_plugin(
    "md17", __file__, kinds={"md17-original": "egbench_data_md17.original:MD17OriginalDataset"}
)
