"""The GeTe dataset class: core's registry dataset, whose table also records what egbench
estimated (``temperature_estimated``, ``estimates``; a split's contiguous ``segments``). Nothing
reads them to compute a number; they are declared so that any other key is refused as a
misspelling (``DatasetSpec.TABLE_KEYS``)."""

from __future__ import annotations

from egbench_core.data.datasets import RegistryDataset


class GeTeDataset(RegistryDataset):
    TABLE_KEYS = RegistryDataset.TABLE_KEYS | {"temperature_estimated", "estimates"}
    SPLIT_KEYS = RegistryDataset.SPLIT_KEYS | {"segments"}
