"""Plugin manager: hook specs, entry points (group ``egbench``), built-ins, broken-plugin isolation.

A plugin that fails to import, or whose registration hook raises, is recorded as *broken* (with
the error) and skipped; everything else keeps working. ``EGBENCH_LOAD_PLUGINS`` selects which
installed plugins load: a comma-separated list of entry-point names (``""`` loads none); unset
loads all. Built-in plugins (``egbench_core.default_plugins``) always load, through the same hooks.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pluggy

from . import hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "egbench"
ENV_LOAD = "EGBENCH_LOAD_PLUGINS"
DEFAULT_PLUGINS = (
    "egbench_core.default_plugins.datasets",
    "egbench_core.default_plugins.tasks",
    "egbench_core.default_plugins.metrics",
    "egbench_core.default_plugins.md_metrics",
)


@dataclass
class PluginInfo:
    name: str
    origin: str  # distribution name and version, or "built-in"
    status: str = "ok"  # "ok" or "broken"
    error: str = ""
    provides: list[str] = field(default_factory=list)


@dataclass
class Catalog:
    """Everything the installed plugins registered."""

    models: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    registry: Any = None

    def get(self, kind: str, name: str):
        table = getattr(self, kind)
        if name not in table:
            raise KeyError(f"no {kind[:-1]} named {name!r}; installed: {', '.join(sorted(table)) or 'none'}")
        return table[name]


def make_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("egbench")
    pm.add_hookspecs(hookspecs)
    return pm


def load_catalog(extra_plugins: Iterable[object] = (), entry_points: bool = True) -> Catalog:
    """Build a :class:`Catalog` from the built-ins, installed entry points and ``extra_plugins``
    (objects or modules with hook implementations, e.g. a test's fake plugin)."""
    pm = make_manager()
    infos: dict[str, PluginInfo] = {}
    for modname in DEFAULT_PLUGINS:
        name = "core." + modname.rsplit(".", 1)[1]
        pm.register(importlib.import_module(modname), name=name)
        infos[name] = PluginInfo(name, "built-in")
    if entry_points:
        _load_entry_points(pm, infos)
    for k, obj in enumerate(extra_plugins):
        name = getattr(obj, "__name__", None) or type(obj).__name__
        if name in infos:  # two instances of one class: keep both, under distinct names
            name = f"{name}-{k}"
        pm.register(obj, name=name)
        infos[name] = PluginInfo(name, "in-process")
    return _collect(pm, infos)


def _selected() -> set[str] | None:
    env = os.environ.get(ENV_LOAD)
    if env is None:
        return None
    return {x.strip() for x in env.split(",") if x.strip()}


def _load_entry_points(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    selected = _selected()
    seen: dict[str, str] = {}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ep.value
        if ep.name in seen:
            if seen[ep.name] != origin:  # two distributions claim one plugin id: report, never pick silently
                name = f"{ep.name} ({origin})"
                infos[name] = PluginInfo(name, origin, "broken",
                                         f"entry point name {ep.name!r} is already used by {seen[ep.name]}; rename one")
                log.warning("plugin id %s claimed by %s and %s; the second is skipped", ep.name, seen[ep.name], origin)
            continue
        seen[ep.name] = origin
        if selected is not None and ep.name not in selected:
            continue
        info = PluginInfo(ep.name, origin)
        infos[ep.name] = info
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            info.status, info.error = "broken", _short_error(exc)
            log.warning("plugin %s failed to import and is skipped: %s", ep.name, info.error)
    if selected:
        for missing in sorted(n for n in selected - set(seen) if not n.startswith("env:")):
            infos[missing] = PluginInfo(missing, "not installed", "broken", f"{ENV_LOAD} names {missing!r}, which is not installed")


def _short_error(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _collect(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> Catalog:
    from .registry import Registry

    cat = Catalog(plugins=infos)
    current = {"plugin": ""}

    def registrar(kind: str) -> Callable[[Any], None]:
        table = getattr(cat, kind)

        def register(spec) -> None:
            plugin = current["plugin"]
            if spec.name in table:
                other = table[spec.name].plugin
                raise ValueError(f"{kind[:-1]} {spec.name!r} is already registered by plugin {other!r}")
            spec.plugin = plugin
            table[spec.name] = spec
            infos[plugin].provides.append(f"{kind[:-1]}:{spec.name}")

        return register

    def tracked(hook_name: str, **kwargs) -> None:
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order: built-ins first, first come first served
            current["plugin"] = impl.plugin_name
            _call_each_one(impl, hook_name, infos, kwargs, cat)

    files: list[Path] = []
    tracked("register_registry_files", register=lambda p: files.append(Path(p)))
    try:
        cat.registry = Registry.load(files)
    except Exception as exc:  # noqa: BLE001 - a bad plugin registry must not hide the others
        log.error("registry could not be loaded with plugin files: %s", exc)
        cat.registry = Registry.load([])
    tracked("register_datasets", register=registrar("datasets"), registry=cat.registry)
    tracked("register_models", register=registrar("models"))
    _add_environment_models(cat, infos)
    tracked("register_tasks", register=registrar("tasks"))
    tracked("register_metrics", register=registrar("metrics"))
    cat._pm = pm  # type: ignore[attr-defined]  # for register_commands
    return cat


def _call_each_one(impl, hook_name: str, infos: dict[str, PluginInfo], kwargs: dict, cat: Catalog) -> None:
    """Call one implementation; if it raises, the plugin is broken and its registrations are withdrawn."""
    info = infos.setdefault(impl.plugin_name, PluginInfo(impl.plugin_name, "unknown"))
    if info.status == "broken":
        return
    try:
        impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})
    except Exception as exc:  # noqa: BLE001
        info.status, info.error = "broken", f"{hook_name}: {_short_error(exc)}"
        log.warning("plugin %s broke in %s and is skipped: %s", impl.plugin_name, hook_name, info.error)
        for kind in ("models", "datasets", "tasks", "metrics"):
            table = getattr(cat, kind)
            for name in [n for n, spec in table.items() if spec.plugin == impl.plugin_name]:
                del table[name]
        info.provides.clear()


def _add_environment_models(cat: Catalog, infos: dict[str, PluginInfo]) -> None:
    """Models installed in separate environments (``egbench env create``), from their cached
    descriptions; a model installed here as well is taken from here."""
    from .envs import remote_model_specs

    try:
        specs = remote_model_specs()
    except Exception as exc:  # noqa: BLE001 - a damaged environment must not stop the tool
        infos["environments"] = PluginInfo("environments", "egbench env", "broken", _short_error(exc))
        return
    selected = _selected()
    for spec in specs:
        name = f"env:{spec.environment}"
        if selected is not None and name not in selected and spec.environment not in selected:
            continue
        info = infos.setdefault(name, PluginInfo(name, f"environment {spec.environment}"))
        if spec.name in cat.models:
            log.info("model %s is installed here and in environment %s; using this one", spec.name, spec.environment)
            continue
        spec.plugin = name
        cat.models[spec.name] = spec
        info.provides.append(f"model:{spec.name}")


_CATALOG: Catalog | None = None


def catalog() -> Catalog:
    """The process-wide catalog (loaded once)."""
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = load_catalog()
    return _CATALOG
