"""What produced a number: the code that ran (core, plugins: distribution, version, a hash of the
installed source files), the numerical libraries and the machine.

A cell's key hashes the code part (see :func:`egbench_core.run.planning.cell_key`), so editing a
plugin's source, even without bumping its version, recomputes its cells; the store keeps all of it
per run and per cell so that every stored number can be traced to the code that made it
(``egbench report --provenance``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import importlib.util
import logging
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from egbench_core.run.hardware import machine

log = logging.getLogger(__name__)

# Files that are code or declarative inputs of code (registry tables, presets in json/yaml).
SOURCE_SUFFIXES = frozenset({".py", ".toml", ".json", ".yaml", ".yml", ".cfg"})
# The numerical libraries recorded with every run (model packages are added from ModelSpec.requires).
LIBRARIES = ("torch", "numpy", "scipy", "ase", "vesin", "e3nn", "pluggy", "egbench-core")


def _source_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(
        f for f in root.rglob("*") if f.suffix in SOURCE_SUFFIXES and f.is_file() and "__pycache__" not in f.parts
    )


def source_hash(path: str | Path) -> str:
    """sha256 over the relative names and bytes of every source file under ``path`` (a package
    folder) or of one module file. Cached on the files' sizes and modification times, so an edit
    is seen at once."""
    root = Path(path)
    if not root.exists():
        return "missing"
    files = _source_files(root)
    signature = tuple((str(f), st.st_size, st.st_mtime_ns) for f in files for st in [f.stat()])
    return _hash_files(str(root), signature)


@lru_cache(maxsize=256)
def _hash_files(root: str, signature: tuple) -> str:
    base = Path(root)
    h = hashlib.sha256()
    for name, _, _ in signature:
        f = Path(name)
        rel = f.relative_to(base) if base.is_dir() else Path(f.name)
        h.update(str(rel).encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


def module_path(module: str) -> Path | None:
    """The package folder (or file) of an importable module, without importing it if possible."""
    if not module:
        return None
    mod = sys.modules.get(module)
    file = getattr(mod, "__file__", None) if mod is not None else None
    if file:
        f = Path(file)
        return f.parent if f.name == "__init__.py" else f
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin) if spec.origin else None


def code_of_module(module: str) -> str:
    path = module_path(module)
    return source_hash(path) if path is not None else "unknown"


def core_code() -> dict[str, str]:
    from egbench_core import __version__

    return {"dist": "egbench-core", "version": __version__, "source": source_hash(Path(__file__).parents[1])}


def plugin_code(info) -> dict[str, str]:
    """Distribution, version and source hash of a plugin (a :class:`~egbench_core.plugins.PluginInfo`).
    Built-in plugins are core's own code."""
    if info is None:
        return {"dist": "", "version": "", "source": "unknown"}
    if info.origin == "built-in":
        return core_code()
    if info.name.startswith("env:"):  # a model living in another environment: hashed where it lives
        return {
            "dist": info.dist,
            "version": info.version,
            "source": source_hash(info.module) if info.module else "unknown",
        }
    # the whole top-level package, not only the module the entry point names (``pkg.hooks``)
    return {
        "dist": info.dist or info.origin,
        "version": info.version,
        "source": code_of_module(info.module.split(".")[0]),
    }


def version_of(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def libraries(extra: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the numerical libraries (and ``extra`` distributions)."""
    out = {}
    for name in dict.fromkeys([*LIBRARIES, *extra]):
        v = version_of(name)
        if v is not None:
            out[name] = v
    return out


def requirement_names(requires: list[str]) -> list[str]:
    from packaging.requirements import Requirement

    names = []
    for r in requires:
        try:
            names.append(Requirement(r).name)
        except Exception:  # noqa: BLE001 - a malformed requirement is reported elsewhere
            continue
    return names


def run_provenance(catalog) -> dict[str, Any]:
    """What one ``egbench run`` records: core, every plugin, the libraries, the machine."""
    extra = [n for spec in catalog.models.values() for n in requirement_names(spec.requires)]
    plugins = {}
    for name, info in sorted(catalog.plugins.items()):
        if info.status != "ok" or info.origin == "built-in":
            continue
        plugins[name] = {**plugin_code(info), "provides": list(info.provides)}
    return {"core": core_code(), "plugins": plugins, "libraries": libraries(extra), "machine": machine()}
