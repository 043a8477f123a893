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
from egbench_core.data.datasets import GeneratedDataset, SplitInfo
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
        register(
            GeneratedDataset(
                name="acac",
                generate=dict,
                params={},
                splits={"train": SplitInfo("train")},
                elements=["H"],
                periodic=False,
                temperature_K=300.0,
                timestep_fs=0.5,
            )
        )


def test_fake_plugin_model_appears_in_catalog(toy):
    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    spec = cat.model("toy-pair")
    assert spec.plugin == "ToyPlugin" and cat.get("models", "toy-pair") is spec
    assert cat.plugins["ToyPlugin"].status == "ok"
    assert cat.plugins["ToyPlugin"].origin == "in-process"
    assert cat.plugins["ToyPlugin"].provides == ["model:toy-pair"]
    assert BUILTIN_DATASETS <= set(cat.datasets)
    assert "standard" in cat.tasks and "energy_mae" in cat.metrics
    assert {"core.datasets", "core.tasks", "core.metrics"} <= set(cat.plugins)
    with pytest.raises(KeyError, match="toy-pair"):
        cat.model("not-a-model")


def test_typed_getters_return_each_kind(toy):
    from egbench_core.data.datasets import DatasetSpec
    from egbench_core.interfaces import MetricSpec, ModelSpec, OracleSpec, TaskSpec

    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    assert isinstance(cat.model("toy-pair"), ModelSpec)
    assert isinstance(cat.dataset("acac"), DatasetSpec) and cat.dataset("acac") is cat.datasets["acac"]
    assert isinstance(cat.task("standard"), TaskSpec)
    assert isinstance(cat.metric("energy_mae"), MetricSpec)
    oracle = next(iter(cat.oracles))
    assert isinstance(cat.oracle(oracle), OracleSpec)
    assert list(cat.tables()) == ["models", "datasets", "oracles", "tasks", "metrics"]
    for getter, what in ((cat.dataset, "dataset"), (cat.task, "task"), (cat.metric, "metric"), (cat.oracle, "oracle")):
        with pytest.raises(KeyError, match=f"no {what} named 'nothing'; installed: "):
            getter("nothing")
    with pytest.raises(KeyError, match="no kind 'model'"):
        cat.get("model", "toy-pair")


def test_duplicate_model_name_breaks_both_plugins_never_a_silent_winner(toy):
    for order in ([FirstModels(toy.spec), SecondModels(toy.spec)], [SecondModels(toy.spec), FirstModels(toy.spec)]):
        cat = load_catalog(extra_plugins=order, entry_points=False)
        for name in ("FirstModels", "SecondModels"):
            info = cat.plugins[name]
            assert info.status == "broken" and info.provides == []
            assert "shared-name" in info.error and "FirstModels" in info.error and "SecondModels" in info.error
            assert "EGBENCH_LOAD_PLUGINS" in info.error
        assert not {"shared-name", "first-only", "second-only"} & set(cat.models)
        assert BUILTIN_DATASETS <= set(cat.datasets)


def test_one_broken_entry_is_listed_while_the_plugin_works(toy):
    from egbench_core.interfaces import BrokenSpec

    class HalfBroken:
        @hookimpl
        def register_models(self, register):
            register(toy.spec("fine-model"))
            register(BrokenSpec("model", "bad-model", "preset 'quick' has epochs = -1; expected a positive integer"))

    cat = load_catalog(extra_plugins=[HalfBroken()], entry_points=False)
    assert "fine-model" in cat.models and "bad-model" not in cat.models
    assert cat.plugins["HalfBroken"].status == "ok"
    assert cat.problems["model:bad-model"].startswith("preset 'quick' has epochs = -1")
    with pytest.raises(KeyError, match="model 'bad-model' is broken: preset 'quick'"):
        cat.model("bad-model")
    from egbench_core.run.runner import plan_cells

    with pytest.raises(KeyError, match="model 'bad-model' is broken"):
        plan_cells(cat, "bad-model", "acac", preset="smoke")


def test_plugin_cannot_displace_a_builtin_dataset():
    cat = load_catalog(extra_plugins=[AcacAgain()], entry_points=False)
    assert cat.plugins["core.datasets"].status == "ok"
    assert cat.plugins["AcacAgain"].status == "broken"
    assert BUILTIN_DATASETS <= set(cat.datasets)


def test_raising_plugin_is_broken_and_withdrawn_others_work(toy):
    cat = load_catalog(
        extra_plugins=[toy.Plugin(), RaisingModels(toy.spec), RaisingDatasets(toy.spec)], entry_points=False
    )
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
    cat = load_catalog(
        extra_plugins=[toy.Plugin(toy.spec("model-one")), toy.Plugin(toy.spec("model-two"))], entry_points=False
    )
    assert {"model-one", "model-two"} <= set(cat.models)


# -- entry points -----------------------------------------------------------------------
@pytest.fixture
def fake_dists(tmp_path, monkeypatch):
    """Two installed distributions on sys.path: ``broken`` (raises at import) and ``good``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "broken_plugin.py").write_text('raise RuntimeError("broken plugin refuses to import")\n')
    (site / "good_egbench_plugin.py").write_text(
        textwrap.dedent("""
        from egbench_core.hookspecs import hookimpl
        from egbench_core.interfaces import ModelSpec

        def _build(species, cutoff, params, stats):
            raise NotImplementedError

        @hookimpl
        def register_models(register):
            register(ModelSpec(name="ep-model", build=_build, presets={"smoke": {"cutoff": 3.0}}))
    """)
    )
    for dist, version, eps in (
        ("broken_egbench_plugin", "0.1", "broken = broken_plugin"),
        ("good_egbench_plugin", "0.2", "good = good_egbench_plugin"),
    ):
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


def test_two_distributions_claiming_one_plugin_id_are_both_broken(fake_dists, monkeypatch):
    d = fake_dists / "other_egbench_plugin-0.3.dist-info"
    d.mkdir()
    (d / "METADATA").write_text("Metadata-Version: 2.1\nName: other-egbench-plugin\nVersion: 0.3\n")
    (d / "entry_points.txt").write_text("[egbench]\ngood = good_egbench_plugin\n")
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "good")
    cat = load_catalog(entry_points=True)
    claims = {n: p for n, p in cat.plugins.items() if n.startswith("good")}
    assert set(claims) == {"good (good-egbench-plugin 0.2)", "good (other-egbench-plugin 0.3)"}
    for info in claims.values():
        assert info.status == "broken"
        assert "good-egbench-plugin 0.2" in info.error and "other-egbench-plugin 0.3" in info.error
    assert "ep-model" not in cat.models and "good_egbench_plugin" not in sys.modules  # never imported


def test_two_distributions_registering_one_model_id_until_one_is_chosen(fake_dists, monkeypatch):
    """Two distributions (different plugin ids) register model ``ep-model``: both are broken, naming
    both distributions; EGBENCH_LOAD_PLUGINS choosing one makes it work."""
    (fake_dists / "twin_egbench_plugin.py").write_text((fake_dists / "good_egbench_plugin.py").read_text())
    d = fake_dists / "twin_egbench_plugin-1.0.dist-info"
    d.mkdir()
    (d / "METADATA").write_text("Metadata-Version: 2.1\nName: twin-egbench-plugin\nVersion: 1.0\n")
    (d / "entry_points.txt").write_text("[egbench]\ntwin = twin_egbench_plugin\n")
    monkeypatch.delitem(sys.modules, "twin_egbench_plugin", raising=False)
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "good,twin")
    cat = load_catalog(entry_points=True)
    for name in ("good", "twin"):
        info = cat.plugins[name]
        assert info.status == "broken", name
        assert "ep-model" in info.error and "good-egbench-plugin 0.2" in info.error
        assert "twin-egbench-plugin 1.0" in info.error
    assert "ep-model" not in cat.models
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "twin")
    chosen = load_catalog(entry_points=True)
    assert chosen.plugins["twin"].status == "ok" and chosen.models["ep-model"].plugin == "twin"
    assert chosen.plugins["twin"].dist == "twin-egbench-plugin" and chosen.plugins["twin"].version == "1.0"


def test_load_plugins_empty_loads_no_entry_points(fake_dists, monkeypatch, toy):
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "")
    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=True)
    assert "broken" not in cat.plugins and "good" not in cat.plugins
    assert "ep-model" not in cat.models
    assert set(cat.plugins) == {
        "core.datasets",
        "core.tasks",
        "core.metrics",
        "core.md_metrics",
        "core.oracles",
        "core.oracle_metrics",
        "ToyPlugin",
    }
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
