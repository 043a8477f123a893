"""Plugin manager: hook specs, entry points (group ``egbench``), built-ins, broken-plugin isolation.

A plugin that fails to import, or whose registration hook raises, is recorded as *broken* (with
the error) and skipped; everything else keeps working. So is a plugin with a hook the contract does
not know (pluggy's ``check_pending``, per plugin: ``@hookimpl def register_model`` names the nearest
hook, ``register_models``) or a function named like a hook without the ``@hookimpl`` marker (never
called otherwise). ``EGBENCH_LOAD_PLUGINS`` selects which installed plugins load: a
comma-separated list of entry-point names (``""`` loads none); unset loads all. Built-in plugins
(``egbench_core.default_plugins``) always load, through the same hooks; a broken plugin's hooks are
never called again (``register_commands`` included).

Never a silent winner: when two plugins register the same id (or two distributions claim one
entry-point name), every claimant is reported broken, naming the others, until
``EGBENCH_LOAD_PLUGINS`` selects one (a built-in keeps its id; the plugin that claims it again is
broken). One entry a plugin cannot make (a :class:`~egbench_core.interfaces.BrokenSpec`) is listed
as ``kind:id`` with its reason while the plugin's other entries work.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import inspect
import logging
import os
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from egbench_core import hookspecs

if TYPE_CHECKING:  # the spec types, for annotations only: loading the catalog stays cheap
    from egbench_core.data.datasets import DatasetSpec
    from egbench_core.data.registry import Registry
    from egbench_core.interfaces import MetricSpec, ModelSpec, OracleSpec, TaskSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "egbench"
ENV_LOAD = "EGBENCH_LOAD_PLUGINS"
DEFAULT_PLUGINS = (
    "egbench_core.default_plugins.datasets",
    "egbench_core.default_plugins.tasks",
    "egbench_core.default_plugins.metrics",
    "egbench_core.default_plugins.md_metrics",
    "egbench_core.default_plugins.oracles",
    "egbench_core.default_plugins.oracle_metrics",
)


@dataclass
class PluginInfo:
    name: str
    origin: str  # distribution name and version, or "built-in"
    status: str = "ok"  # "ok" or "broken"
    error: str = ""
    provides: list[str] = field(default_factory=list)
    dist: str = ""  # distribution name ("" for built-ins and in-process plugins)
    version: str = ""  # distribution version
    module: str = ""  # import name of the plugin object's module (for the source hash)


KINDS = ("models", "datasets", "oracles", "tasks", "metrics")  # the catalog's tables, in registration order
_S = TypeVar("_S")


@dataclass
class Catalog:
    """Everything the installed plugins registered: one table per kind, id -> spec.

    ``catalog.model(name)`` (``dataset``, ``task``, ``metric``, ``oracle``) returns one spec or
    raises ``KeyError`` saying why (broken, or not installed: the installed ids listed)."""

    models: dict[str, ModelSpec] = field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    metrics: dict[str, MetricSpec] = field(default_factory=dict)
    oracles: dict[str, OracleSpec] = field(default_factory=dict)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    registry: Registry | None = None  # the merged registry (set by load_catalog)
    problems: dict[str, str] = field(default_factory=dict)  # "dataset:foo" -> why it could not be registered
    pm: pluggy.PluginManager | None = field(default=None, repr=False)  # for register_commands

    def model(self, name: str) -> ModelSpec:
        return self._lookup("model", self.models, name)

    def dataset(self, name: str) -> DatasetSpec:
        return self._lookup("dataset", self.datasets, name)

    def task(self, name: str) -> TaskSpec:
        return self._lookup("task", self.tasks, name)

    def metric(self, name: str) -> MetricSpec:
        return self._lookup("metric", self.metrics, name)

    def oracle(self, name: str) -> OracleSpec:
        return self._lookup("oracle", self.oracles, name)

    def tables(self) -> dict[str, dict[str, Any]]:
        """Every kind's table (``"models"`` -> ``self.models`` ...), in registration order."""
        return {
            "models": self.models,
            "datasets": self.datasets,
            "oracles": self.oracles,
            "tasks": self.tasks,
            "metrics": self.metrics,
        }

    def get(self, kind: str, name: str) -> Any:
        """One spec by its table's name (``"models"``, ...); the typed getters above say which type."""
        tables = self.tables()
        if kind not in tables:
            raise KeyError(f"no kind {kind!r}; kinds: {', '.join(KINDS)}")
        return self._lookup(kind[:-1], tables[kind], name)

    def _lookup(self, what: str, table: Mapping[str, _S], name: str) -> _S:
        if name not in table:
            why = self.problems.get(f"{what}:{name}")
            if why:
                raise KeyError(f"{what} {name!r} is broken: {why}")
            raise KeyError(f"no {what} named {name!r}; installed: {', '.join(sorted(table)) or 'none'}")
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
        infos[name] = PluginInfo(name, "built-in", module=modname)
        _register(pm, importlib.import_module(modname), infos[name])
    if entry_points:
        _load_entry_points(pm, infos)
    for k, obj in enumerate(extra_plugins):
        name = getattr(obj, "__name__", None) or type(obj).__name__
        if name in infos:  # two instances of one class: keep both, under distinct names
            name = f"{name}-{k}"
        infos[name] = PluginInfo(name, "in-process", module=getattr(obj, "__name__", None) or type(obj).__module__)
        _register(pm, obj, infos[name])
    return _collect(pm, infos)


def _register(pm: pluggy.PluginManager, plugin: object, info: PluginInfo) -> None:
    """Register ``plugin`` under ``info.name``; if pluggy refuses it (an argument the hook does not
    have, one module under two entry-point names) or :func:`hook_problems` finds one, ``info`` is
    broken and the plugin is not registered."""
    try:
        pm.register(plugin, name=info.name)
    except pluggy.PluginValidationError as exc:  # pluggy's message spans lines: one line here
        why = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    except Exception as exc:  # noqa: BLE001 - a plugin pluggy cannot take must not stop the others
        why = _short_error(exc)
    else:
        why = "; ".join(hook_problems(pm, plugin))
        if why:
            pm.unregister(plugin)
    if why:
        info.status, info.error = "broken", why
        log.warning("plugin %s is broken and skipped: %s", info.name, why)


def hook_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """What is wrong with the hooks of ``plugin`` (registered in ``pm``), one line each: a
    ``@hookimpl`` whose name is no hook of the contract (pluggy's ``check_pending``, for this plugin
    alone), naming the nearest hook; a function named like a hook but not marked ``@hookimpl``."""
    hooks = sorted(n for n, caller in vars(pm.hook).items() if not n.startswith("_") and caller.has_spec())
    problems = []
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec() or all(i.optionalhook for i in caller.get_hookimpls() if i.plugin is plugin):
            continue
        near = difflib.get_close_matches(caller.name, hooks, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"the hooks are {', '.join(hooks)}"
        problems.append(f"unknown hook {caller.name!r} ({hint})")
    for name in hooks:
        found = inspect.getattr_static(plugin, name, None)
        is_spec = hasattr(found, pm.project_name + "_spec")  # the contract's own function, imported
        if callable(found) and not is_spec and pm.parse_hookimpl_opts(plugin, name) is None:
            problems.append(f"{name} is not marked @hookimpl (egbench_core.hookspecs.hookimpl), so it is never called")
    return problems


def _selected() -> set[str] | None:
    env = os.environ.get(ENV_LOAD)
    if env is None:
        return None
    return {x.strip() for x in env.split(",") if x.strip()}


def _load_entry_points(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    selected = _selected()
    claims: dict[str, list] = {}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        claims.setdefault(ep.name, [])
        if all(_origin(ep) != _origin(other) for other in claims[ep.name]):
            claims[ep.name].append(ep)
    for name, eps in claims.items():
        if len(eps) > 1:  # two distributions claim one plugin id: report both, load neither
            origins = [_origin(ep) for ep in eps]
            for ep in eps:
                key = f"{name} ({_origin(ep)})"
                others = ", ".join(o for o in origins if o != _origin(ep))
                infos[key] = PluginInfo(
                    key,
                    _origin(ep),
                    "broken",
                    f"plugin id {name!r} is claimed by {' and '.join(origins)}; neither is loaded "
                    f"(also claimed by {others}): uninstall one",
                    [],
                    *_dist_of(ep),
                    module=ep.value,
                )
            log.warning("plugin id %s claimed by %s; none loaded", name, " and ".join(origins))
            continue
        ep = eps[0]
        if selected is not None and ep.name not in selected:
            continue
        info = PluginInfo(ep.name, _origin(ep), "ok", "", [], *_dist_of(ep), module=ep.value.split(":")[0])
        infos[ep.name] = info
        try:
            plugin = ep.load()
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            info.status, info.error = "broken", _short_error(exc)
            log.warning("plugin %s failed to import and is skipped: %s", ep.name, info.error)
            continue
        _register(pm, plugin, info)
    if selected:
        for missing in sorted(n for n in selected - set(claims) if not n.startswith("env:")):
            infos[missing] = PluginInfo(
                missing, "not installed", "broken", f"{ENV_LOAD} names {missing!r}, which is not installed"
            )


def _origin(ep) -> str:
    return f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ep.value


def _dist_of(ep) -> tuple[str, str]:
    return (ep.dist.name, ep.dist.version) if ep.dist is not None else ("", "")


def _short_error(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _collect(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> Catalog:
    from egbench_core.data.registry import Registry
    from egbench_core.interfaces import BrokenSpec

    cat = Catalog(plugins=infos)
    current = {"plugin": ""}

    def registrar(kind: str, claims: dict[str, list[tuple[str, Any]]]) -> Callable[[Any], None]:
        def register(spec) -> None:
            plugin = current["plugin"]
            if isinstance(spec, BrokenSpec):
                cat.problems[f"{spec.kind}:{spec.name}"] = f"{spec.reason} (plugin {plugin})"
                log.info("%s %s of plugin %s is broken: %s", spec.kind, spec.name, plugin, spec.reason)
                return
            spec.plugin = plugin
            claims.setdefault(spec.name, []).append((plugin, spec))

        return register

    def tracked(hook_name: str, kind: str | None = None, **kwargs) -> None:
        claims: dict[str, list[tuple[str, Any]]] = {}
        if kind is not None:
            kwargs["register"] = registrar(kind, claims)
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order: built-ins first
            current["plugin"] = impl.plugin_name
            _call_each_one(impl, hook_name, infos, kwargs, cat, claims)
        if kind is not None:
            _settle_claims(kind, claims, cat, infos)

    files: list[Path] = []
    tracked("register_registry_files", register=lambda p: files.append(Path(p)))
    try:
        cat.registry = Registry.load(files)
    except Exception as exc:  # noqa: BLE001 - a bad plugin registry must not hide the others
        cat.registry = Registry.load([])  # core's and the user's alone: their own error propagates (said once)
        log.error("registry could not be loaded with plugin files: %s", exc)
        cat.problems["registry:merged"] = str(exc)
    tracked("register_datasets", "datasets", registry=cat.registry)
    tracked("register_models", "models")
    _add_environment_models(cat, infos)
    tracked("register_oracles", "oracles")
    tracked("register_tasks", "tasks")
    tracked("register_metrics", "metrics")
    for name, info in infos.items():  # a broken plugin's hooks are not called again (register_commands)
        if info.status == "broken" and pm.get_plugin(name) is not None:
            pm.unregister(name=name)
    cat.pm = pm
    return cat


def _settle_claims(
    kind: str, claims: dict[str, list[tuple[str, Any]]], cat: Catalog, infos: dict[str, PluginInfo]
) -> None:
    """Put each id with one claimant into the catalog. An id claimed twice breaks every claimant,
    except a built-in, which keeps its id (only the plugins that claim it again break)."""
    table = cat.tables()[kind]
    what = kind[:-1]
    losers: dict[str, str] = {}
    for name, who in claims.items():
        who = [(p, spec) for p, spec in who if infos[p].status != "broken"]
        if len(who) == 1:
            table[name] = who[0][1]
            continue
        plugins_ = list(dict.fromkeys(p for p, _ in who))
        if len(plugins_) == 1:
            losers.setdefault(plugins_[0], f"{what} {name!r} is registered twice by this plugin")
            continue
        builtin = next((p for p in plugins_ if infos[p].origin == "built-in"), None)
        described = " and ".join(f"{p} ({infos[p].origin})" for p in plugins_)
        for p in plugins_:
            if p == builtin:
                table[name] = next(spec for q, spec in who if q == p)
            elif builtin:
                losers.setdefault(p, f"{what} {name!r} is built into egbench core; this plugin registers it again")
            else:
                losers.setdefault(p, f"{what} {name!r} is registered by {described}; choose one with {ENV_LOAD}")
    for p, why in losers.items():
        _break(p, why, infos, cat)
    for name, spec in table.items():
        if f"{what}:{name}" not in infos[spec.plugin].provides:
            infos[spec.plugin].provides.append(f"{what}:{name}")


def _break(plugin: str, why: str, infos: dict[str, PluginInfo], cat: Catalog) -> None:
    info = infos[plugin]
    info.status, info.error = "broken", why
    log.warning("plugin %s is broken and skipped: %s", plugin, why)
    for table in cat.tables().values():
        for name in [n for n, spec in table.items() if spec.plugin == plugin]:
            del table[name]
    info.provides.clear()


def _call_each_one(
    impl,
    hook_name: str,
    infos: dict[str, PluginInfo],
    kwargs: dict,
    cat: Catalog,
    claims: dict[str, list[tuple[str, Any]]],
) -> None:
    """Call one implementation; if it raises, the plugin is broken and its registrations are withdrawn."""
    info = infos.setdefault(impl.plugin_name, PluginInfo(impl.plugin_name, "unknown"))
    if info.status == "broken":
        return
    try:
        impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})
    except Exception as exc:  # noqa: BLE001
        for name in list(claims):
            claims[name] = [(p, s) for p, s in claims[name] if p != impl.plugin_name]
        _break(impl.plugin_name, f"{hook_name}: {_short_error(exc)}", infos, cat)


def _add_environment_models(cat: Catalog, infos: dict[str, PluginInfo]) -> None:
    """Models installed in separate environments (``egbench env create``), from their cached
    descriptions; a model installed here as well is taken from here."""
    from egbench_core.envs.manage import remote_model_specs

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


PLUGINS_FORMAT = "egbench-plugins"  # `egbench plugins --json`: a field never changes meaning without a new version
PLUGINS_VERSION = 1


def plugins_document(cat: Catalog) -> dict[str, Any]:
    """``egbench plugins --json``: every plugin (name, origin, distribution, version, status, reason,
    and the ids it registers per kind; a broken plugin registers nothing), and the entries a
    working plugin could not make (``broken_entries``: kind, id, reason)."""
    plugins_ = []
    for p in cat.plugins.values():
        registers: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for entry in p.provides:
            what, name = entry.split(":", 1)
            registers[what + "s"].append(name)
        plugins_.append(
            {
                "name": p.name,
                "origin": p.origin,
                "distribution": p.dist or None,
                "version": p.version or None,
                "module": p.module or None,
                "status": p.status,
                "reason": p.error or None,
                "registers": registers,
            }
        )
    broken = [
        {"kind": what.split(":", 1)[0], "id": what.split(":", 1)[1], "reason": why}
        for what, why in sorted(cat.problems.items())
    ]
    return {"format": PLUGINS_FORMAT, "version": PLUGINS_VERSION, "plugins": plugins_, "broken_entries": broken}


_CATALOG: Catalog | None = None


def catalog() -> Catalog:
    """The process-wide catalog (loaded once)."""
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = load_catalog()
    return _CATALOG
