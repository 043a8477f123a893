"""Datasets: readers of the file formats, dataset specs, the registry of data files and its checks,
synthetic datasets, checksummed caches and isolated-atom reference energies.

``egbench_core.data`` was one module before 0.1's subpackages: its names still resolve here, from
``egbench_core.data.readers``, with a ``DeprecationWarning``."""

from __future__ import annotations

from egbench_core._moved import forward


def __getattr__(name: str) -> object:
    return forward(__name__, "egbench_core.data.readers", name)
