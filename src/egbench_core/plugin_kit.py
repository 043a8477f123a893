"""One call per plugin: what every bundled model and data plugin's ``__init__.py`` is made of.

A model plugin is its presets, its ``build`` and one registration call::

    from egbench_core.plugin_kit import model_plugin

    from .presets import PRESETS

    __version__ = "0.1.0"

    mymodel_spec, register_models = model_plugin(
        "mymodel", build="egbench_model_mymodel.model:build", presets=PRESETS, version=__version__,
        citation="...", licence="MIT", requires=["torch>=2.2"])

A pretrained plugin is its checkpoints, its loader and one call (:func:`pretrained_plugin`); a data
plugin is its ``registry.toml`` and one call (:func:`registry_plugin`); a task plugin is its
``plan`` and one call (:func:`task_plugin`); a metric plugin is its value declarations, its
``compute`` and one call (:func:`metric_plugin`); an oracle plugin is its ``make`` and one call
(:func:`oracle_plugin`).

What those functions are handed is importable from here too: :func:`md_plan` (the standard MD of a
dataset's split, as the ``standard`` task plans it), and, imported when first asked for (they need
numpy), ``DatasetSpec`` and ``SplitInfo`` (what ``TaskSpec.plan`` receives), ``CellOutputs``,
``SplitPrediction``, ``Frames`` and ``ReplicaResult`` (what ``MetricSpec.compute`` receives).
docs/plugins.md documents each.

Registration stays cheap: ``build``, ``warm_up``, a checkpoint loader, a dataset class, a task's
``plan``, a metric's ``compute`` and an oracle's ``make`` given as ``"package.module:name"`` are
imported when they are first called, not when the plugin registers. Everything here is light (no
torch, no numpy).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from egbench_core.default_plugins.tasks import md_plan
from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import (
    FINETUNE_PRESETS,
    ArtifactSpec,
    MetricSpec,
    ModelSpec,
    ObserverSpec,
    OracleSpec,
    TaskSpec,
    ValueSpec,
    pretrained_models,
)

if TYPE_CHECKING:
    from egbench_core.cell import CellOutputs, SplitPrediction
    from egbench_core.data.datasets import DatasetSpec, SplitInfo
    from egbench_core.data.readers import Frames
    from egbench_core.records import ReplicaResult

__all__ = [
    "CellOutputs",
    "CheckedBuild",
    "DatasetSpec",
    "Frames",
    "Lazy",
    "ReplicaResult",
    "SplitInfo",
    "SplitPrediction",
    "check_settings",
    "md_plan",
    "metric_plugin",
    "model_plugin",
    "oracle_plugin",
    "pretrained_plugin",
    "registry_plugin",
    "resolve",
    "task_plugin",
]

# re-exported on first access: their modules import numpy, and importing this one must stay light
_LAZY = {
    "DatasetSpec": "egbench_core.data.datasets",
    "SplitInfo": "egbench_core.data.datasets",
    "Frames": "egbench_core.data.readers",
    "CellOutputs": "egbench_core.cell",
    "SplitPrediction": "egbench_core.cell",
    "ReplicaResult": "egbench_core.records",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


Target = str | Callable[..., Any]  # a callable, or "package.module:name" imported on first use


def resolve(target: Target) -> Any:
    """The object a ``"package.module:name"`` string names (imported now), or ``target`` itself."""
    if not isinstance(target, str):
        return target
    module, sep, name = target.partition(":")
    if not (sep and module and name):
        raise ValueError(f"expected 'package.module:name', got {target!r}")
    return getattr(importlib.import_module(module), name)


class Lazy:
    """A callable that imports ``target`` (``"package.module:name"``) on its first call.
    Picklable: it holds only the string."""

    def __init__(self, target: Target):
        self.target = target

    def __call__(self, *args, **kwargs):
        return resolve(self.target)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Lazy({self.target!r})"


class _WarmUp(Lazy):
    """``ModelSpec.warm_up``: call the target for its imports; nothing is returned."""

    def __call__(self) -> None:
        resolve(self.target)()


def check_settings(what: str, params: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """``params`` as a dict, or ValueError naming the settings not in ``known`` (a preset's ``model``
    dict with a typo fails at build, not silently)."""
    known = set(known)
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"unknown {what} settings {sorted(unknown)}; known: {sorted(known)}")
    return dict(params)


class CheckedBuild(Lazy):
    """``ModelSpec.build``: check the preset's ``model`` keys against ``settings`` (when given), then
    import and call the target ``build(species, cutoff, params, stats)``."""

    def __init__(self, target: Target, settings: Iterable[str] | None = None, what: str = ""):
        super().__init__(target)
        self.settings = None if settings is None else frozenset(settings)
        self.what = what

    def __call__(self, species, cutoff, params, stats):
        if self.settings is not None:
            check_settings(self.what, params, self.settings)
        return resolve(self.target)(species, cutoff, params, stats)


_Spec = TypeVar("_Spec")


def _registered(spec: Callable[[], _Spec], kind: str, name: str) -> tuple[Callable[[], _Spec], Callable]:
    """``(spec, hook)``: the hook implementation registering ``spec()``, whichever hook the plugin
    assigns it to (``register_models = ...``: pluggy matches the module attribute's name)."""

    @hookimpl
    def register_one(register):
        register(spec())

    spec.__doc__ = f"The ``{name}`` {kind}'s spec."
    return spec, register_one


def model_plugin(
    name: str,
    *,
    build: Target,
    presets: Mapping[str, dict[str, Any]],
    settings: Iterable[str] | None = None,
    what: str | None = None,
    warm_up: Target | None = None,
    requires: Iterable[str] = (),
    **fields: Any,
) -> tuple[Callable[[], ModelSpec], Callable]:
    """``(spec, register_models)`` of a plugin with one trainable architecture.

    ``spec()`` returns a fresh :class:`ModelSpec` (its own copy of ``presets`` and ``requires``);
    ``register_models`` is the hook implementation that registers it: assign both at module level.
    ``build`` is called as ``build(species, cutoff, params, stats)``; given as a string it is
    imported at the first build. ``settings``: the keys a preset's ``model`` dict may hold (checked
    before ``build``, the error naming ``what``, default ``name``). ``warm_up``: a callable without
    arguments importing the framework. The other keyword arguments are :class:`ModelSpec` fields
    (``version``, ``description``, ``citation``, ``licence``, ``url``, ``capabilities``...)."""
    requires = list(requires)
    checked = CheckedBuild(build, settings, what or name)
    warm = _WarmUp(warm_up) if warm_up is not None else None

    def spec() -> ModelSpec:
        return ModelSpec(
            name=name,
            build=checked,
            presets=copy.deepcopy(dict(presets)),
            requires=list(requires),
            warm_up=warm,
            **fields,
        )

    return _registered(spec, "model", name)


def pretrained_plugin(
    checkpoints: Mapping[str, Any],
    *,
    load: Target,
    version: str,
    finetune: Mapping[str, Mapping[str, Any]] | None = FINETUNE_PRESETS,
    **fields: Any,
) -> tuple[Callable[..., list[ModelSpec]], Callable]:
    """``(specs, register_models)`` of a plugin of pretrained checkpoints (the shape of
    :func:`model_plugin`): ``specs(model_id)`` is
    :func:`~egbench_core.interfaces.pretrained_models` of one checkpoint, zero-shot and (with
    ``finetune``, core's ``FINETUNE_PRESETS`` by default) fine-tuned; ``register_models`` registers
    every checkpoint's, in the order of ``checkpoints``.

    ``checkpoints`` maps model ids to records with ``sha256`` and ``description``: the spec's version
    is ``version + "+ckpt." + sha256[:12]`` (a new checkpoint file makes new cell keys).
    ``load(model_id)`` returns the network (imported on first use when given as a string). The other
    keyword arguments go to ``pretrained_models`` (``cutoff``, ``citation``, ``licence``, ``url``,
    ``requires``, ``stress``, ``elements``...)."""
    loader = Lazy(load)

    def specs(model_id: str = next(iter(checkpoints))) -> list[ModelSpec]:
        ckpt = checkpoints[model_id]
        extra: dict[str, Any] = {k: (list(v) if k == "requires" else v) for k, v in fields.items()}
        return pretrained_models(
            model_id,
            partial(loader, model_id),
            finetune=finetune,
            version=f"{version}+ckpt.{ckpt.sha256[:12]}",
            description=ckpt.description,
            **extra,
        )

    @hookimpl
    def register_models(register):
        for model_id in checkpoints:
            for spec in specs(model_id):
                register(spec)

    return specs, register_models


def registry_plugin(
    owner: str,
    package_file: str,
    *,
    kinds: Mapping[str, Target] | None = None,
    dataset_class: Target | None = None,
) -> tuple[Callable, Callable]:
    """``(register_registry_files, register_datasets)`` of a data plugin: the ``registry.toml``
    beside ``package_file`` (the package's ``__file__``) is merged into the registry, and every
    ``[datasets.*]`` table with ``plugin = owner`` (the entry-point name) becomes a
    :class:`~egbench_core.data.datasets.RegistryDataset` (or ``dataset_class``, e.g. a subclass declaring
    more table keys), or the class ``kinds`` maps the table's ``kind`` to (a dataset that needs
    code: derived splits, another file format). A table that is wrong (a ``kind`` not in ``kinds``,
    a key its class does not declare) is registered as broken with the registry error; the
    plugin's other datasets still work.
    """
    path = Path(package_file).with_name("registry.toml")
    kinds = dict(kinds or {})

    def make(name: str, table: dict, registry):
        from egbench_core.data.datasets import RegistryDataset, dataset_origin
        from egbench_core.data.registry import RegistryError

        if "kind" in table and table["kind"] not in kinds:
            known = ", ".join(repr(k) for k in sorted(kinds)) or "none: it has no kind key"
            raise RegistryError(
                f"{dataset_origin(registry, name)}: [datasets.{name}] kind = {table['kind']!r}: "
                f"expected a dataset kind of plugin {owner} ({known})"
            )
        default = resolve(dataset_class) if dataset_class is not None else RegistryDataset
        cls = resolve(kinds[table["kind"]]) if "kind" in table else default
        return cls(name, table, registry, plugin=owner)

    @hookimpl
    def register_registry_files(register):
        register(path)

    @hookimpl
    def register_datasets(register, registry):
        from egbench_core.data.datasets import register_tables

        register_tables(register, registry, owner, lambda name, table: make(name, table, registry))

    return register_registry_files, register_datasets


def task_plugin(
    name: str,
    *,
    plan: Target,
    version: str = "1",
    family: str = "",
    description: str = "",
    ood: bool = False,
) -> tuple[Callable[[], TaskSpec], Callable]:
    """``(spec, register_tasks)`` of a plugin with one task (the shape of :func:`model_plugin`).

    ``plan(dataset)`` gets a :class:`~egbench_core.data.datasets.DatasetSpec` and returns a
    :class:`~egbench_core.interfaces.TaskPlan` (usually with :func:`md_plan` for its MD), or raises
    :class:`~egbench_core.interfaces.SkipCell` with the reason; given as a string it is imported at
    the first plan. ``ood``: the task evaluates out of distribution (the HTML OOD page shows it).
    ``version`` is part of every cell key: bump it when what the task does changes."""
    planner = Lazy(plan) if isinstance(plan, str) else plan

    def spec() -> TaskSpec:
        return TaskSpec(name=name, plan=planner, version=version, family=family, description=description, ood=ood)

    return _registered(spec, "task", name)


def metric_plugin(
    name: str,
    *,
    compute: Target,
    values: Iterable[ValueSpec],
    version: str = "1",
    description: str = "",
    artifacts: Iterable[ArtifactSpec] = (),
    observer: ObserverSpec | None = None,
) -> tuple[Callable[[], MetricSpec], Callable]:
    """``(spec, register_metrics)`` of a plugin with one metric (the shape of :func:`model_plugin`).

    ``compute(outputs)`` gets a finished cell's :class:`~egbench_core.cell.CellOutputs` and returns a
    :class:`~egbench_core.interfaces.MetricResult` holding only the ``values`` declared here (and
    artifacts of the kinds in ``artifacts``); given as a string it is imported at the first cell
    scored. ``observer``: the metric's streaming part during MD. ``version`` is part of every cell
    key: bump it when the definition changes."""
    values = tuple(values)
    artifacts = tuple(artifacts)
    scorer = Lazy(compute) if isinstance(compute, str) else compute

    def spec() -> MetricSpec:
        return MetricSpec(name, scorer, values, version, description, observer=observer, artifacts=artifacts)

    return _registered(spec, "metric", name)


def oracle_plugin(
    name: str,
    *,
    make: Target,
    version: str = "1",
    requires: Iterable[str] = (),
    **fields: Any,
) -> tuple[Callable[[], OracleSpec], Callable]:
    """``(spec, register_oracles)`` of a plugin with one oracle (a reference calculator; the shape of
    :func:`model_plugin`). ``make(params)`` returns an ASE calculator (energy eV, forces eV/Å) for the
    settings a dataset declares in ``[datasets.<id>.oracle.params]``; given as a string it is
    imported when the first oracle is made (the first place to import the electronic-structure
    code). ``version`` enters the oracle's id and every cell key using it: bump it when the
    calculator's numbers can change. The other keyword arguments are :class:`OracleSpec` fields
    (``description``, ``citation``, ``licence``)."""
    requires = list(requires)
    maker = Lazy(make) if isinstance(make, str) else make

    def spec() -> OracleSpec:
        return OracleSpec(name=name, make=maker, version=version, requires=list(requires), **fields)

    return _registered(spec, "oracle", name)
