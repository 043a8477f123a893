"""egbench data plugin: LiPS (``lips``) and LiPS20 (``lips20``, ``lips20-glass``) from the
EGraFFBench authors' release, with the crystalline / disordered and composition splits of the
OOD tasks.

Importing this module must stay cheap: no data is read at registration.
"""
from __future__ import annotations

from pathlib import Path

from egbench_core import hookimpl

__version__ = "0.1.0"

PLUGIN = "lips"  # entry-point name; the registry's [datasets.*] tables carry plugin = "lips"


def registry_path() -> Path:
    """The registry TOML shipped inside this package."""
    return Path(__file__).with_name("registry.toml")


def make_dataset(name: str, table: dict, registry):
    """The dataset spec of one ``[datasets.*]`` table of this plugin (RegistryError if it is wrong)."""
    from egbench_core.datasets import RegistryDataset
    from .lips20 import LiPS20Dataset

    cls = LiPS20Dataset if table.get("kind") == "lips20" else RegistryDataset
    return cls(name, table, registry, plugin=PLUGIN)


def make_datasets(registry) -> list:
    """Dataset specs for every ``[datasets.*]`` table of this plugin in the merged ``registry``."""
    return [make_dataset(name, table, registry)
            for name, table in sorted(registry.datasets.items()) if table.get("plugin") == PLUGIN]


@hookimpl
def register_registry_files(register):
    register(registry_path())


@hookimpl
def register_datasets(register, registry):
    from egbench_core.datasets import register_tables

    register_tables(register, registry, PLUGIN, lambda name, table: make_dataset(name, table, registry))
