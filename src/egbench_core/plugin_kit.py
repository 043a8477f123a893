"""One call per plugin: what every bundled model and data plugin's ``__init__.py`` is made of.

A model plugin is its presets, its ``build`` and one registration call::

    from egbench_core.plugin_kit import model_plugin

    from .presets import PRESETS

    __version__ = "0.1.0"

    mymodel_spec, register_models = model_plugin(
        "mymodel", build="egbench_model_mymodel.model:build", presets=PRESETS, version=__version__,
        citation="...", licence="MIT", requires=["torch>=2.2"])

A pretrained plugin is its checkpoints, its loader and one call (:func:`pretrained_plugin`); a data
plugin is its ``registry.toml`` and one call (:func:`registry_plugin`).

Registration stays cheap: ``build``, ``warm_up``, a checkpoint loader and a dataset class given as
``"package.module:name"`` are imported when they are first called, not when the plugin registers.
Everything here is light (no torch, no numpy).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import FINETUNE_PRESETS, ModelSpec, pretrained_models

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

    @hookimpl
    def register_models(register):
        register(spec())

    spec.__doc__ = f"The ``{name}`` model's spec."
    return spec, register_models


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
