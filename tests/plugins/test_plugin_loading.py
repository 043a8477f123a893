"""Plugin loading as pluggy intends: a hook the contract does not know (a misspelt name), or a hook
function without ``@hookimpl``, breaks that plugin alone, naming the nearest hook; ``egbench plugins
--json``; and a test for each hook that ``tests/plugins/test_hooks_tested.py`` asks for (registry files,
tasks, commands)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import egbench_core.console as ui
import egbench_core.plugins as plugins
from egbench_core import cli
from egbench_core.hookspecs import hookimpl
from egbench_core.plugins import hook_problems, load_catalog, make_manager

TYPOS = {  # entry-point name -> the module of the distribution egbench-plugin-typos 0.1.0
    "misspelt": """
        from egbench_core.hookspecs import hookimpl
        from egbench_core.testing.fakes import toy_pair_spec

        @hookimpl
        def register_model(register):  # the hook is register_models
            register(toy_pair_spec("misspelt-model"))

        @hookimpl
        def register_tasks(register):  # a valid hook beside the misspelt one: not called either
            raise AssertionError("a broken plugin's hooks are not called")
    """,
    "unmarked": """
        from egbench_core.testing.fakes import toy_pair_spec

        def register_models(register):  # no @hookimpl: pluggy would never call it
            register(toy_pair_spec("unmarked-model"))
    """,
    "wrongarg": """
        from egbench_core.hookspecs import hookimpl

        @hookimpl
        def register_models(register, preset):  # register_models has no argument preset
            pass
    """,
    "fine": """
        from egbench_core.hookspecs import hookimpl
        from egbench_core.testing.fakes import toy_pair_spec

        @hookimpl
        def register_models(register):
            register(toy_pair_spec())
    """,
}
MISSPELT = "unknown hook 'register_model' (did you mean 'register_models'?)"


@pytest.fixture(scope="module")
def typos_site(tmp_path_factory, pip_install) -> Path:
    """The distribution ``egbench-plugin-typos 0.1.0``, pip-installed into a private site folder: one
    module per entry point of :data:`TYPOS` (``fine`` registers ``toy-pair``)."""
    src = tmp_path_factory.mktemp("typos-src")
    pkg = src / "src" / "egbench_plugin_typos"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, code in TYPOS.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(code))
    eps = "\n".join(f'{name} = "egbench_plugin_typos.{name}"' for name in TYPOS)
    (src / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["hatchling>=1.21"]
        build-backend = "hatchling.build"

        [project]
        name = "egbench-plugin-typos"
        version = "0.1.0"

        [project.entry-points.egbench]
        """)
        + eps
        + '\n\n[tool.hatch.build.targets.wheel]\npackages = ["src/egbench_plugin_typos"]\n'
    )
    return pip_install(src, tmp_path_factory.mktemp("typos-site"))


@pytest.fixture
def typos(typos_site, monkeypatch) -> Path:
    """``typos_site`` on the path, only its plugins selected, its modules imported afresh."""
    monkeypatch.syspath_prepend(str(typos_site))
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", ",".join(TYPOS))
    for mod in [m for m in sys.modules if m.startswith("egbench_plugin_typos")]:
        monkeypatch.delitem(sys.modules, mod)
    return typos_site


def test_a_misspelt_hook_breaks_that_plugin_alone(typos):
    cat = load_catalog()
    misspelt = cat.plugins["misspelt"]
    assert (misspelt.status, misspelt.error) == ("broken", MISSPELT)
    assert misspelt.origin == "egbench-plugin-typos 0.1.0" and misspelt.provides == []
    assert "misspelt-model" not in cat.models
    assert cat.pm is not None and cat.pm.get_plugin("misspelt") is None  # its register_tasks was not called

    unmarked = cat.plugins["unmarked"]
    assert unmarked.status == "broken" and "unmarked-model" not in cat.models
    assert unmarked.error == (
        "register_models is not marked @hookimpl (egbench_core.hookspecs.hookimpl), so it is never called"
    )
    wrongarg = cat.plugins["wrongarg"]
    assert wrongarg.status == "broken" and "\n" not in wrongarg.error
    assert "register_models(register, preset)" in wrongarg.error and "'preset'" in wrongarg.error

    fine = cat.plugins["fine"]  # the other plugins keep loading
    assert fine.status == "ok" and fine.provides == ["model:toy-pair"] and cat.models["toy-pair"].plugin == "fine"
    assert all(p.status == "ok" for n, p in cat.plugins.items() if n.startswith("core."))
    assert {"acac", "synthetic-emt"} <= set(cat.datasets) and "standard" in cat.tasks


def test_unknown_hooks_far_from_any_name_and_optional_ones():
    class Far:
        @hookimpl
        def setup(self):
            pass

    class Optional:  # pluggy's optionalhook: a hook of a newer contract, fine to lack
        @hookimpl(optionalhook=True)
        def register_widgets(self, register):
            pass

    class Two:
        @hookimpl
        def register_metric(self, register):
            pass

        @hookimpl
        def register_dataset(self, register, registry):
            pass

    cat = load_catalog(extra_plugins=[Far(), Optional(), Two()], entry_points=False)
    hooks = (
        "register_commands, register_datasets, register_metrics, register_models, register_oracles, "
        "register_registry_files, register_tasks"
    )
    assert cat.plugins["Far"].error == f"unknown hook 'setup' (the hooks are {hooks})"
    assert cat.plugins["Optional"].status == "ok"
    assert sorted(cat.plugins["Two"].error.split("; ")) == [
        "unknown hook 'register_dataset' (did you mean 'register_datasets'?)",
        "unknown hook 'register_metric' (did you mean 'register_metrics'?)",
    ]
    pm = make_manager()  # the built-ins have no problem of the kind
    for modname in plugins.DEFAULT_PLUGINS:
        module = __import__(modname, fromlist=["_"])
        pm.register(module)
        assert hook_problems(pm, module) == [], modname


def test_cli_shows_the_misspelt_plugin_broken_and_runs_the_others(typos, monkeypatch, tmp_path, emt_env):
    monkeypatch.setattr(ui, "console", Console(width=400, color_system=None))
    runner = CliRunner()
    res = runner.invoke(cli.app, ["plugins"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("│ misspelt"))
    assert "egbench-plugin-typos 0.1.0" in line and "broken" in line and MISSPELT in line
    assert "model:toy-pair" in next(ln for ln in res.output.splitlines() if ln.startswith("│ fine"))

    out = tmp_path / "results"
    res = runner.invoke(
        cli.app, ["run", "--models", "toy-pair", "--datasets", "synthetic-emt", "--preset", "smoke", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    from egbench_core.store import Store

    cells = Store.open_readonly(out).cells()
    assert [(c.model, c.dataset, c.status) for c in cells] == [("toy-pair", "synthetic-emt", "done")]


def test_plugins_json(typos):
    res = CliRunner().invoke(cli.app, ["plugins", "--json"])
    assert res.exit_code == 0, res.output
    assert "plugin misspelt is broken" in res.stderr  # the log's warning; stdout is the document alone
    doc = json.loads(res.stdout)
    assert (doc["format"], doc["version"]) == ("egbench-plugins", 1)
    by_name = {p["name"]: p for p in doc["plugins"]}
    kinds = ["models", "datasets", "oracles", "tasks", "metrics"]
    core = by_name["core.datasets"]
    assert core["origin"] == "built-in" and core["distribution"] is None and core["status"] == "ok"
    assert core["reason"] is None and core["module"] == "egbench_core.default_plugins.datasets"
    assert list(core["registers"]) == kinds and core["registers"]["datasets"] == ["acac", "synthetic-emt"]
    assert by_name["core.tasks"]["registers"]["tasks"] == ["standard"]
    assert {"energy_mae", "force_mae"} <= set(by_name["core.metrics"]["registers"]["metrics"])
    assert by_name["core.oracles"]["registers"]["oracles"] == ["emt"]
    assert by_name["misspelt"] == {
        "name": "misspelt",
        "origin": "egbench-plugin-typos 0.1.0",
        "distribution": "egbench-plugin-typos",
        "version": "0.1.0",
        "module": "egbench_plugin_typos.misspelt",
        "status": "broken",
        "reason": MISSPELT,
        "registers": dict.fromkeys(kinds, []),
    }
    fine = by_name["fine"]
    assert fine["status"] == "ok" and fine["registers"]["models"] == ["toy-pair"]
    assert fine["distribution"] == "egbench-plugin-typos" and fine["version"] == "0.1.0"
    assert doc["broken_entries"] == []


def test_plugins_json_lists_a_broken_entry(toy, monkeypatch):
    from egbench_core.interfaces import BrokenSpec

    class HalfBroken:
        @hookimpl
        def register_models(self, register):
            register(toy.spec("fine-model"))
            register(BrokenSpec("model", "bad-model", "preset 'quick' has epochs = -1"))

    monkeypatch.setattr(plugins, "_CATALOG", load_catalog(extra_plugins=[HalfBroken()], entry_points=False))
    doc = json.loads(CliRunner().invoke(cli.app, ["plugins", "--json"]).stdout)
    assert doc["broken_entries"] == [
        {"kind": "model", "id": "bad-model", "reason": "preset 'quick' has epochs = -1 (plugin HalfBroken)"}
    ]
    half = next(p for p in doc["plugins"] if p["name"] == "HalfBroken")
    assert half["status"] == "ok" and half["registers"]["models"] == ["fine-model"]


# -- a test for each hook the other test files do not name --------------------------------
def test_register_registry_files_merges_before_cores_file(tmp_path):
    core_name = "botnet-datasets/dataset_acac/train_300K.xyz"  # in core's datasets_registry.toml
    toml = tmp_path / "registry.toml"
    toml.write_text(
        textwrap.dedent(f"""
        [files."plugin-files/frames.xyz"]
        url = "https://example.invalid/frames.xyz"
        sha256 = "{"0" * 64}"
        format = "extxyz"

        [files."{core_name}"]
        url = "https://example.invalid/not-acac.xyz"
        sha256 = "{"1" * 64}"
        """)
    )

    class Files:
        @hookimpl
        def register_registry_files(self, register):
            register(toml)

    cat = load_catalog(extra_plugins=[Files()], entry_points=False)
    assert cat.plugins["Files"].status == "ok" and cat.registry is not None
    entry = cat.registry.entry("plugin-files/frames.xyz")
    assert entry.url == "https://example.invalid/frames.xyz" and entry.format == "extxyz"
    assert cat.registry.origins["file:plugin-files/frames.xyz"] == str(toml)
    assert cat.registry.entry(core_name).url != "https://example.invalid/not-acac.xyz"  # core's file overrides
    assert cat.registry.origins[f"file:{core_name}"] != str(toml)


def test_register_tasks_adds_a_task_that_plans_cells(toy):
    from egbench_core.interfaces import TaskPlan, TaskSpec
    from egbench_core.run.planning import plan_cells

    class StaticOnly:
        @hookimpl
        def register_tasks(self, register):
            register(TaskSpec("static-only", lambda ds: TaskPlan("train", "val", ("test",), md=None), version="2"))

    cat = load_catalog(extra_plugins=[toy.Plugin(), StaticOnly()], entry_points=False)
    assert cat.task("static-only").plugin == "StaticOnly" and cat.plugins["StaticOnly"].provides == ["task:static-only"]
    (cell,) = plan_cells(cat, "toy-pair", "synthetic-emt", "static-only", preset="smoke")
    assert cell.task == "static-only" and cell.plan is not None and cell.plan.md is None
    assert cell.plan.eval_splits == ("test",)


def test_register_commands_adds_commands_of_working_plugins_only(monkeypatch, tmp_path, toy):
    said = tmp_path / "said.txt"

    class Hello:
        @hookimpl
        def register_commands(self, app):
            @app.command("hello")
            def hello(name: str = typer.Option("world")) -> None:
                said.write_text(f"hello {name}")

    class BrokenWithCommand:
        @hookimpl
        def register_models(self, register):
            raise RuntimeError("no models today")

        @hookimpl
        def register_commands(self, app):
            @app.command("boom")
            def boom() -> None:
                said.write_text("boom")

    cat = load_catalog(extra_plugins=[Hello(), BrokenWithCommand()], entry_points=False)
    assert cat.plugins["BrokenWithCommand"].status == "broken"
    monkeypatch.setattr(plugins, "_CATALOG", cat)
    monkeypatch.setattr(cli.app, "registered_commands", list(cli.app.registered_commands))  # restored after
    monkeypatch.setattr(sys, "argv", ["egbench", "hello", "--name", "plugin"])
    assert cli._start_and_dispatch() == 0
    assert said.read_text() == "hello plugin"
    names = {c.name for c in cli.app.registered_commands}
    assert "hello" in names and "boom" not in names
