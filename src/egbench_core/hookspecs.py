"""THE contract between egbench core and its plugins (pluggy project name ``"egbench"``).

Every hook is called with keyword arguments; an implementation may accept fewer arguments than
the spec lists, so specs can grow (by adding parameters or new hooks) without breaking plugins.

Registration hooks are cheap: they hand light spec objects to a ``register`` callback that core
provides. No framework imports, no downloads, no torch work at registration time — heavy work
happens later in ``ModelSpec.build``, ``DatasetSpec.load``, ``TaskSpec.plan``, ``MetricSpec.compute``.
Core owns naming: a second registration under an existing name is an error reported against the
plugin, never a silent rename. Instead of a spec, ``register`` also takes a
:class:`~egbench_core.interfaces.BrokenSpec`: that one entry is listed as broken, with its reason.

Call order at start-up: ``register_registry_files`` → ``register_datasets`` → ``register_models``
→ ``register_oracles`` → ``register_tasks`` → ``register_metrics``; ``register_commands`` when the
CLI starts.

The annotations name their types for readers and type checkers only (``TYPE_CHECKING``):
importing this module imports pluggy and nothing heavier, so registration stays cheap.
``docs/plugins.md`` shows each signature exactly as written here (``tests/test_docs.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from egbench_core.data.datasets import DatasetSpec
    from egbench_core.data.registry import Registry
    from egbench_core.interfaces import BrokenSpec, MetricSpec, ModelSpec, OracleSpec, TaskSpec

hookspec = pluggy.HookspecMarker("egbench")
hookimpl = pluggy.HookimplMarker("egbench")


# -- data -------------------------------------------------------------------------------
@hookspec
def register_registry_files(register: Callable[[str | os.PathLike[str]], None]) -> None:
    """Add registry TOML files shipped by a plugin: ``register(path)``.

    Core merges them before its own ``datasets_registry.toml`` (which therefore overrides a
    plugin's entry of the same name) and before files named in ``EGBENCH_REGISTRY``.
    """


@hookspec
def register_datasets(register: Callable[[DatasetSpec | BrokenSpec], None], registry: Registry) -> None:
    """Register datasets: ``register(spec)`` with a :class:`egbench_core.data.datasets.DatasetSpec`.

    ``registry`` is the merged :class:`egbench_core.data.registry.Registry`, so a plugin can build
    :class:`~egbench_core.data.datasets.RegistryDataset` objects from its entries.
    """


# -- models -----------------------------------------------------------------------------
@hookspec
def register_models(register: Callable[[ModelSpec | BrokenSpec], None]) -> None:
    """Register architectures: ``register(spec)`` with a :class:`egbench_core.interfaces.ModelSpec`.

    ``spec.build(species, cutoff, params, stats)`` returns a ``torch.nn.Module`` whose
    ``forward(graph: AtomicGraph) -> Tensor[B]`` is the energy in units of ``stats.scale`` eV
    relative to the per-element reference energies (core adds those, and computes forces and
    stress by autograd).
    """


# -- oracles -----------------------------------------------------------------------------
@hookspec
def register_oracles(register: Callable[[OracleSpec | BrokenSpec], None]) -> None:
    """Register reference calculators: ``register(spec)`` with a
    :class:`egbench_core.interfaces.OracleSpec`. A dataset names the one it uses (and its
    settings) in ``[datasets.<id>.oracle]``."""


# -- tasks and metrics ------------------------------------------------------------------
@hookspec
def register_tasks(register: Callable[[TaskSpec | BrokenSpec], None]) -> None:
    """Register tasks: ``register(spec)`` with a :class:`egbench_core.interfaces.TaskSpec`."""


@hookspec
def register_metrics(register: Callable[[MetricSpec | BrokenSpec], None]) -> None:
    """Register metrics: ``register(spec)`` with a :class:`egbench_core.interfaces.MetricSpec`."""


# -- command line -----------------------------------------------------------------------
@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``egbench`` typer app."""
