"""The tree shows the architecture (docs/architecture.md), and the module paths from before 0.1's
subpackages still import for a plugin written against them — with a warning, and never from
egbench's own code."""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap
from pathlib import Path

import pytest

import egbench_core
from egbench_core import _moved
from egbench_core.plugins import load_catalog

REPO = Path(__file__).resolve().parents[1]
CORE = Path(egbench_core.__file__).parent

# what stays at the top of egbench_core: the plugin API, the entry point, the leaf vocabulary every
# layer shares (what a cell is and its outputs, the records of training and MD, units), the store
TOP_MODULES = {
    "__init__",
    "_moved",
    "cell",
    "cli",
    "compat",
    "console",
    "hookspecs",
    "interfaces",
    "modes",
    "plugin_kit",
    "plugins",
    "records",
    "store",
    "units",
}
SUBPACKAGES = {"analysis", "data", "default_plugins", "envs", "md", "model", "report", "run", "stages", "testing"}


def test_the_top_of_core_is_the_plugin_api_and_the_subpackages():
    modules = {p.stem for p in CORE.glob("*.py")}
    packages = {p.name for p in CORE.iterdir() if (p / "__init__.py").exists()}
    assert modules == TOP_MODULES, "a new module of core belongs in the subpackage of its concern"
    assert packages == SUBPACKAGES


def _old_imports(file: Path) -> list[str]:
    """The imports in ``file`` that name a module path from before the subpackages."""
    found = []
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if node.module in {f"egbench_core.{p}" for p in _moved.SHADOWED}:
                # a name of the old module asked of the package that took its place
                pkg = CORE / node.module.split(".")[1]
                names += [
                    f"{node.module}.{a.name} (a name of the old module)"
                    for a in node.names
                    if not (pkg / f"{a.name}.py").exists() and not (pkg / a.name).is_dir()
                ]
        found += [
            f"{file.relative_to(REPO)}:{node.lineno}: {n}"
            for n in names
            if _moved.new_path(n.split(" ")[0]) or "(a name of the old module)" in n
        ]
    return found


def test_no_file_of_the_repository_imports_an_old_path():
    files = [
        f
        for top in ("src", "plugins", "tests", "scripts", "benchmarks")
        for f in (REPO / top).rglob("*.py")
        if f.name not in {"test_layout.py", "_moved.py"} and ".venv" not in f.parts
    ]
    assert len(files) > 150
    assert [hit for f in files for hit in _old_imports(f)] == []


PLUGIN = '''
"""A model plugin written against the module paths of egbench-core before 0.1's subpackages."""
from egbench_core.data import read_extxyz  # the old module ``data`` is the package ``data`` now
from egbench_core.graph import AtomicGraph
from egbench_core.plugin_kit import model_plugin
from egbench_core.potential import evaluate
from egbench_core.registry import Registry

from egbench_core.testing.fakes import TOY_PRESETS

spec, register_models = model_plugin(
    "old-paths", build="egbench_core.testing.fakes:build_toy_pair", presets=TOY_PRESETS
)
'''


def test_a_plugin_written_against_the_old_paths_loads_with_a_warning(tmp_path, monkeypatch):
    (tmp_path / "old_paths_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(DeprecationWarning) as record:
        module = importlib.import_module("old_paths_plugin")
    messages = sorted({str(w.message).split(";")[0] for w in record})
    assert messages == [
        "egbench_core.data.read_extxyz moved to egbench_core.data.readers.read_extxyz",
        "egbench_core.graph moved to egbench_core.model.graph",
        "egbench_core.potential moved to egbench_core.model.potential",
        "egbench_core.registry moved to egbench_core.data.registry",
    ]
    # the old path is the module itself, not a second copy of it
    from egbench_core.data.readers import read_extxyz
    from egbench_core.model.graph import AtomicGraph

    assert module.read_extxyz is read_extxyz and module.AtomicGraph is AtomicGraph
    assert sys.modules["egbench_core.graph"] is sys.modules["egbench_core.model.graph"]
    catalog = load_catalog(entry_points=False, extra_plugins=[module])
    assert "old-paths" in catalog.models


def test_an_old_package_path_does_not_run_its_modules_twice():
    with pytest.warns(DeprecationWarning) as record:
        old = importlib.import_module("egbench_core.html.write")
    assert "egbench_core.html.write moved to egbench_core.report.html.write" in str(record[-1].message)
    assert old is importlib.import_module("egbench_core.report.html.write")
    assert old.write_report.__module__ == "egbench_core.report.html.write"


def test_every_moved_module_imports_at_its_new_path():
    for old, new in _moved.MOVED.items():
        module = importlib.import_module(f"egbench_core.{new}")
        assert module.__name__ == f"egbench_core.{new}", old


def test_every_bundled_plugin_pins_the_minor_version_of_core_it_was_written_for():
    """Plugins import core's modules: the paths they use are kept for one minor version only."""
    import tomllib

    major, minor = egbench_core.__version__.split(".")[:2]
    wanted = f"egbench-core>={major}.{minor},<{major}.{int(minor) + 1}"
    projects = sorted((REPO / "plugins").glob("*/pyproject.toml"))
    assert len(projects) >= 18
    for project in projects:
        deps = tomllib.loads(project.read_text())["project"]["dependencies"]
        assert [d for d in deps if d.startswith("egbench-core")] == [wanted], project
