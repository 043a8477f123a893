"""Plugin manager: registration, duplicate names, broken plugins (hook errors, import errors),
EGBENCH_LOAD_PLUGINS, and the CLI's view of it all."""
from __future__ import annotations

import sys
import textwrap

import pytest
from rich.console import Console
from typer.testing import CliRunner

import egbench_core.console as ui
import egbench_core.plugins as plugins
from egbench_core.cli import app
from egbench_core.datasets import GeneratedDataset, SplitInfo
from egbench_core.hookspecs import hookimpl
from egbench_core.plugins import load_catalog

BUILTIN_DATASETS = {"acac", "synthetic-emt"}


class _WithSpecs:
    def __init__(self, make_spec):
        self.make_spec = make_spec  # conftest's toy.spec


class FirstModels(_WithSpecs):
    @hookimpl
    def register_models(self, register):
        register(self.make_spec("first-only"))
        register(self.make_spec("shared-name"))


class SecondModels(_WithSpecs):
    @hookimpl
    def register_models(self, register):
        register(self.make_spec("second-only"))
        register(self.make_spec("shared-name"))


class RaisingModels(_WithSpecs):
    @hookimpl
    def register_models(self, register):
        register(self.make_spec("raising-model"))  # registered, then withdrawn when the hook fails
        raise RuntimeError("register_models exploded on purpose")


class RaisingDatasets(_WithSpecs):
    @hookimpl
    def register_datasets(self, register, registry):
        raise KeyError("no such table")

    @hookimpl
    def register_models(self, register):
        register(self.make_spec("never-registered"))


class AcacAgain:
    @hookimpl
    def register_datasets(self, register, registry):
        register(GeneratedDataset(name="acac", generate=dict, params={}, splits={"train": SplitInfo("train")},
                                  elements=["H"], periodic=False, temperature_K=300.0, timestep_fs=0.5))


def test_fake_plugin_model_appears_in_catalog(toy):
    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    spec = cat.get("models", "toy-pair")
    assert spec.plugin == "ToyPlugin"
    assert cat.plugins["ToyPlugin"].status == "ok"
    assert cat.plugins["ToyPlugin"].origin == "in-process"
    assert cat.plugins["ToyPlugin"].provides == ["model:toy-pair"]
    assert BUILTIN_DATASETS <= set(cat.datasets)
    assert "standard" in cat.tasks and "energy_mae" in cat.metrics
    assert {"core.datasets", "core.tasks", "core.metrics"} <= set(cat.plugins)
    with pytest.raises(KeyError, match="toy-pair"):
        cat.get("models", "not-a-model")


def test_duplicate_model_name_breaks_exactly_one_plugin(toy):
    cat = load_catalog(extra_plugins=[FirstModels(toy.spec), SecondModels(toy.spec)], entry_points=False)
    status = {p: cat.plugins[p].status for p in ("FirstModels", "SecondModels")}
    assert sorted(status.values()) == ["broken", "ok"]
    loser = next(p for p, s in status.items() if s == "broken")
    winner = next(p for p, s in status.items() if s == "ok")
    err = cat.plugins[loser].error
    assert "shared-name" in err and winner in err and "already registered" in err
    assert cat.models["shared-name"].plugin == winner
    # everything of the broken plugin is withdrawn, everything of the other kept
    own = {"FirstModels": "first-only", "SecondModels": "second-only"}
    assert own[winner] in cat.models and own[loser] not in cat.models
    assert cat.plugins[loser].provides == []
    assert sorted(cat.plugins[winner].provides) == sorted([f"model:{own[winner]}", "model:shared-name"])


def test_duplicate_model_name_second_plugin_is_broken(toy):
    cat = load_catalog(extra_plugins=[FirstModels(toy.spec), SecondModels(toy.spec)], entry_points=False)
    assert cat.plugins["FirstModels"].status == "ok"
    assert cat.plugins["SecondModels"].status == "broken"
    err = cat.plugins["SecondModels"].error
    assert "shared-name" in err and "FirstModels" in err
    assert cat.models["shared-name"].plugin == "FirstModels" and "first-only" in cat.models


def test_plugin_cannot_displace_a_builtin_dataset():
    cat = load_catalog(extra_plugins=[AcacAgain()], entry_points=False)
    assert cat.plugins["core.datasets"].status == "ok"
    assert cat.plugins["AcacAgain"].status == "broken"
    assert BUILTIN_DATASETS <= set(cat.datasets)


def test_raising_plugin_is_broken_and_withdrawn_others_work(toy):
    cat = load_catalog(extra_plugins=[toy.Plugin(), RaisingModels(toy.spec), RaisingDatasets(toy.spec)], entry_points=False)
    info = cat.plugins["RaisingModels"]
    assert info.status == "broken"
    assert info.error.startswith("register_models: RuntimeError: register_models exploded on purpose")
    assert "test_plugins.py" in info.error  # where it raised
    assert "raising-model" not in cat.models and info.provides == []
    # broken in an earlier hook: its later hooks are not called at all
    info2 = cat.plugins["RaisingDatasets"]
    assert info2.status == "broken" and info2.error.startswith("register_datasets: KeyError")
    assert "never-registered" not in cat.models
    # the others keep working
    assert cat.plugins["ToyPlugin"].status == "ok" and "toy-pair" in cat.models
    assert BUILTIN_DATASETS <= set(cat.datasets)
    assert all(cat.plugins[p].status == "ok" for p in ("core.datasets", "core.tasks", "core.metrics"))


def test_two_instances_of_one_plugin_class(toy):
    cat = load_catalog(extra_plugins=[toy.Plugin(toy.spec("model-one")), toy.Plugin(toy.spec("model-two"))],
                       entry_points=False)
    assert {"model-one", "model-two"} <= set(cat.models)


# -- entry points -----------------------------------------------------------------------
@pytest.fixture
def fake_dists(tmp_path, monkeypatch):
    """Two installed distributions on sys.path: ``broken`` (raises at import) and ``good``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "broken_plugin.py").write_text('raise RuntimeError("broken plugin refuses to import")\n')
    (site / "good_egbench_plugin.py").write_text(textwrap.dedent("""
        from egbench_core.hookspecs import hookimpl
        from egbench_core.interfaces import ModelSpec

        def _build(species, cutoff, params, stats):
            raise NotImplementedError

        @hookimpl
        def register_models(register):
            register(ModelSpec(name="ep-model", build=_build, presets={"smoke": {"cutoff": 3.0}}))
    """))
    for dist, version, eps in (("broken_egbench_plugin", "0.1", "broken = broken_plugin"),
                               ("good_egbench_plugin", "0.2", "good = good_egbench_plugin")):
        d = site / f"{dist}-{version}.dist-info"
        d.mkdir()
        (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: {version}\n")
        (d / "entry_points.txt").write_text(f"[egbench]\n{eps}\n")
    for mod in ("broken_plugin", "good_egbench_plugin"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for mod in ("broken_plugin", "good_egbench_plugin"):
        sys.modules.pop(mod, None)


def test_entry_point_plugin_raising_on_import_is_broken(fake_dists, monkeypatch, toy):
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "broken,good")  # hermetic: ignore really installed plugins
    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=True)
    broken = cat.plugins["broken"]
    assert broken.status == "broken"
    assert "RuntimeError: broken plugin refuses to import" in broken.error
    assert "broken_plugin.py" in broken.error
    assert broken.origin == "broken-egbench-plugin 0.1"
    good = cat.plugins["good"]
    assert good.status == "ok" and good.origin == "good-egbench-plugin 0.2" and good.provides == ["model:ep-model"]
    assert cat.models["ep-model"].plugin == "good"
    assert "toy-pair" in cat.models and BUILTIN_DATASETS <= set(cat.datasets)
    assert "broken_plugin" not in sys.modules


def test_two_distributions_claiming_one_plugin_id_are_reported(fake_dists, monkeypatch):
    d = fake_dists / "other_egbench_plugin-0.3.dist-info"
    d.mkdir()
    (d / "METADATA").write_text("Metadata-Version: 2.1\nName: other-egbench-plugin\nVersion: 0.3\n")
    (d / "entry_points.txt").write_text("[egbench]\ngood = good_egbench_plugin\n")
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "good")
    cat = load_catalog(entry_points=True)
    claims = {n: p for n, p in cat.plugins.items() if n.startswith("good")}
    assert len(claims) == 2 and cat.plugins["good"].status == "ok"
    (dup,) = [p for n, p in claims.items() if n != "good"]
    assert dup.status == "broken" and "entry point name 'good' is already used by" in dup.error


def test_load_plugins_empty_loads_no_entry_points(fake_dists, monkeypatch, toy):
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "")
    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=True)
    assert "broken" not in cat.plugins and "good" not in cat.plugins
    assert "ep-model" not in cat.models
    assert set(cat.plugins) == {"core.datasets", "core.tasks", "core.metrics", "core.md_metrics", "ToyPlugin"}
    assert "toy-pair" in cat.models


def test_load_plugins_selects_and_reports_uninstalled(fake_dists, monkeypatch):
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", " good , no-such-plugin ")
    cat = load_catalog(entry_points=True)
    assert "broken" not in cat.plugins  # not selected: never imported
    assert cat.plugins["good"].status == "ok" and "ep-model" in cat.models
    missing = cat.plugins["no-such-plugin"]
    assert missing.status == "broken" and missing.origin == "not installed"
    assert "EGBENCH_LOAD_PLUGINS" in missing.error and "no-such-plugin" in missing.error


# -- CLI --------------------------------------------------------------------------------
def test_cli_plugins_shows_broken_and_list_models_works(fake_dists, monkeypatch, toy):
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "broken,good")
    cat = load_catalog(extra_plugins=[toy.Plugin(), RaisingModels(toy.spec)], entry_points=True)
    monkeypatch.setattr(plugins, "_CATALOG", cat)
    monkeypatch.setattr(ui, "console", Console(width=400, color_system=None))
    runner = CliRunner()
    res = runner.invoke(app, ["plugins"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    broken_line = next(ln for ln in lines if "broken-egbench-plugin" in ln)
    assert "broken" in broken_line and "RuntimeError: broken plugin refuses to import" in broken_line
    raising_line = next(ln for ln in lines if "RaisingModels" in ln)
    assert "broken" in raising_line and "register_models exploded on purpose" in raising_line
    toy_line = next(ln for ln in lines if "ToyPlugin" in ln)
    assert "ok" in toy_line and "model:toy-pair" in toy_line

    res = runner.invoke(app, ["list", "models"])
    assert res.exit_code == 0, res.output
    assert "toy-pair" in res.output and "ep-model" in res.output
    assert "raising-model" not in res.output

    res = runner.invoke(app, ["list", "datasets"])
    assert res.exit_code == 0, res.output
    assert "acac" in res.output and "synthetic-emt" in res.output
