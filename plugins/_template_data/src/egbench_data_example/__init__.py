"""egbench data plugin template: registers the ``example-cu13`` dataset from ``registry.toml``.

Importing this module must stay cheap: no data is read at registration (core reads the files when
a cell loads a split).
"""
from __future__ import annotations

from pathlib import Path

from egbench_core import hookimpl

__version__ = "0.1.0"

PLUGIN = "example-data"  # the entry-point name; the registry's [datasets.*] tables say plugin = "example-data"


def registry_path() -> Path:
    """The registry TOML shipped inside this package."""
    return Path(__file__).with_name("registry.toml")


def make_dataset(name: str, table: dict, registry):
    """The dataset spec of one ``[datasets.*]`` table of this plugin (RegistryError if it is wrong).
    A dataset that needs code (derived splits, another file format) subclasses DatasetSpec here."""
    from egbench_core.datasets import RegistryDataset

    return RegistryDataset(name, table, registry, plugin=PLUGIN)


def make_datasets(registry) -> list:
    """Dataset specs of every ``[datasets.*]`` table of this plugin in the merged ``registry``."""
    return [make_dataset(name, table, registry)
            for name, table in sorted(registry.datasets.items()) if table.get("plugin") == PLUGIN]


@hookimpl
def register_registry_files(register):
    register(registry_path())


@hookimpl
def register_datasets(register, registry):
    from egbench_core.datasets import register_tables

    # one wrong table is registered as broken (with the registry error); the others still work
    register_tables(register, registry, PLUGIN, lambda name, table: make_dataset(name, table, registry))
