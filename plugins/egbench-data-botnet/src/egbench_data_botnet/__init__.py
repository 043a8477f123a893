"""egbench data plugin: 3BPA — the EGraFFBench authors' split (``3bpa``) and the
BOTNet-datasets files with every test temperature (``3bpa-botnet``).

Importing this module must stay cheap: no data is read at registration.
"""
from __future__ import annotations

from pathlib import Path

from egbench_core import hookimpl

__version__ = "0.1.0"

PLUGIN = "botnet"  # entry-point name; the registry's [datasets.*] tables carry plugin = "botnet"


def registry_path() -> Path:
    """The registry TOML shipped inside this package."""
    return Path(__file__).with_name("registry.toml")


def make_datasets(registry) -> list:
    """Dataset specs for every ``[datasets.*]`` table of this plugin in the merged ``registry``."""
    from egbench_core.datasets import RegistryDataset

    return [RegistryDataset(name, table, registry, plugin=PLUGIN)
            for name, table in sorted(registry.datasets.items()) if table.get("plugin") == PLUGIN]


def isolated_atom_energies(dataset) -> dict[int, float]:
    """Reference energies (eV) of the isolated atoms, ``{Z: E}``, from the dataset's
    ``isolated_atoms_file`` (fetched and verified like any registry file)."""
    from egbench_core.data import read_frames

    from egbench_core.datasets import units_kwargs

    name = dataset.extra["isolated_atoms_file"]
    entry = dataset._registry.entry(name)  # noqa: SLF001 - the dataset's own registry
    frames = read_frames(dataset._registry.fetch(name), entry.format, **units_kwargs(entry.units))  # noqa: SLF001
    if (frames.n_atoms != 1).any():
        raise ValueError(f"{name}: every frame of an isolated-atoms file must hold one atom")
    return {int(z): float(e) for z, e in zip(frames.numbers, frames.energy)}


@hookimpl
def register_registry_files(register):
    register(registry_path())


@hookimpl
def register_datasets(register, registry):
    for spec in make_datasets(registry):
        register(spec)
