"""The task and metric plugin kits (egbench_core.testing.task_plugins, metric_plugins) and the
plugin_kit calls they test: each check fails on the mistake it is there for, the kits find the data
mirror from their argument, then EGBENCH_DATA_MIRROR, and the one-call helpers make real specs."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from dataclasses import replace

import pytest

from egbench_core.interfaces import MDPlan, MetricResult, MetricSpec, OracleSpec, Shown, TaskPlan, TaskSpec, ValueSpec
from egbench_core.plugin_kit import Lazy, md_plan, metric_plugin, oracle_plugin, task_plugin
from egbench_core.plugins import load_catalog
from egbench_core.testing.metric_plugins import ScoredCell, applies, check_metric_spec, check_stored
from egbench_core.testing.mirror import find_mirror
from egbench_core.testing.task_plugins import check_task_plan, check_task_spec


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EGBENCH_DATA_DIR", str(tmp_path_factory.mktemp("kits-data")))
        yield load_catalog(entry_points=False)


def _plan(ds, **md) -> TaskPlan:
    return TaskPlan("train", "val", ("test",), replace(md_plan(ds, "test"), **md))


def test_a_valid_plan_passes_and_each_mistake_is_named(catalog):
    ds = catalog.dataset("synthetic-emt")
    check_task_plan(catalog.task("standard").plan(ds), ds, catalog)
    check_task_plan(_plan(ds, timestep_fs=ds.timestep_fs / 2), ds, catalog)
    wrong = {
        "eval split 'nope' is not a split": replace(_plan(ds), eval_splits=("nope",)),
        "trains and selects on the same split": replace(_plan(ds), val_split="train"),
        "md.timestep_fs = 0": _plan(ds, timestep_fs=0.0),
        "md.temperature_K = -1": _plan(ds, temperature_K=-1.0),
        "md.start_split 'x'": _plan(ds, start_split="x"),
        "start_velocities = 'hot'": _plan(ds, start_velocities="hot"),
        "is not a split of synthetic-emt": replace(_plan(ds), train_split="train-600k"),
    }
    for why, plan in wrong.items():
        with pytest.raises(AssertionError, match=why):
            check_task_plan(plan, ds, catalog)
    with pytest.raises(AssertionError, match="expected a TaskPlan"):
        check_task_plan({"train_split": "train"}, ds, catalog)
    with pytest.raises(KeyError, match="no dataset named 'elsewhere'"):
        check_task_plan(replace(_plan(ds), train_dataset="elsewhere"), ds, catalog)


def test_task_spec_check(catalog):
    check_task_spec(catalog.task("standard"))
    with pytest.raises(AssertionError, match="no description"):
        check_task_spec(TaskSpec("bare", lambda d: None))


def test_metric_declarations_beside_the_built_ins(catalog):
    installed = list(catalog.metrics.values())
    ok = ValueSpec("worst_f", "eV/Å", "lower", "worst", per_split=True, shown=(Shown("static", 90, "worst"),))
    check_metric_spec(MetricSpec("worst", lambda o: MetricResult(), (ok,)), installed)
    clash = replace(ok, shown=(Shown("static", 10, "worst"),))  # the built-in E MAE's order
    with pytest.raises(AssertionError, match="order 10 of table 'static', which 'energy_mae' holds"):
        check_metric_spec(MetricSpec("worst", lambda o: MetricResult(), (clash,)), installed)
    other_unit = ValueSpec("force_mae", "meV/Å", "lower", "F MAE in meV")
    with pytest.raises(ValueError, match="'force_mae' is declared as 'eV/Å'/lower"):
        check_metric_spec(MetricSpec("mine", lambda o: MetricResult(), (other_unit,)), installed)


class _Outputs:
    def __init__(self, md: bool):
        self.plan = TaskPlan("train", "val", ("test", "test-600k"), MDPlan("test", "test", 300.0, 1.0))
        self.md = [object()] if md else []


def _scored(rows, md=True, errors=None):
    info = {"metric_errors": errors or {}}
    return ScoredCell(_Outputs(md), {}, rows, type("Row", (), {"info": info})(), None)


def test_stored_values_are_checked_against_the_declarations():
    split = ValueSpec("worst_f", "eV/Å", "lower", "worst", per_split=True)
    md = ValueSpec("md_t", "K", "neither", "T", when="md")
    spec = MetricSpec("worst", lambda o: MetricResult(), (split, md))

    def row(name, value=1.0, split="", unit="eV/Å", note=""):
        return {"name": name, "value": value, "split": split, "unit": unit, "note": note}

    good = [row("worst_f", split="test"), row("worst_f", split="test-600k"), row("md_t", unit="K")]
    check_stored(spec, _scored(good))
    check_stored(spec, _scored(good[:2], md=False))  # md_t: not in a cell without MD
    with pytest.raises(AssertionError, match=r"worst_f stored for splits \['test'\]"):
        check_stored(spec, _scored(good[:1] + good[2:]))
    with pytest.raises(AssertionError, match="md_t stored for splits"):
        check_stored(spec, _scored(good[:2]))
    with pytest.raises(AssertionError, match="stored in 'meV/Å', declared 'eV/Å'"):
        check_stored(spec, _scored([row("worst_f", split="test", unit="meV/Å"), *good[1:]]))
    with pytest.raises(AssertionError, match="is nan without a note"):
        check_stored(spec, _scored([*good[:2], row("md_t", float("nan"), unit="K")]))
    check_stored(spec, _scored([*good[:2], row("md_t", float("nan"), unit="K", note="not applicable: none")]))
    with pytest.raises(AssertionError, match="metric worst failed: boom"):
        check_stored(spec, _scored(good, errors={"worst": "metric worst failed: boom"}))
    assert applies(md, _Outputs(True)) and not applies(md, _Outputs(False))


def test_the_mirror_comes_from_the_argument_then_the_environment(tmp_path, monkeypatch):
    conftest = tmp_path / "repo" / "plugins" / "mine" / "tests" / "conftest.py"
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.delenv("EGBENCH_DATA_MIRROR", raising=False)
    assert find_mirror(near=conftest) == tmp_path / "shared" / "data"  # the last fallback
    assert find_mirror(near=tmp_path / "elsewhere" / "a" / "b" / "c.py") is None
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", str(tmp_path / "env"))
    assert find_mirror(near=conftest) == tmp_path / "env"
    assert find_mirror(tmp_path / "given", near=conftest) == tmp_path / "given"


def test_data_plugin_fixtures_take_the_mirror_given(tmp_path, monkeypatch):
    from egbench_core.testing.data_plugins import dataset_plugin_fixtures

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "SHA256SUMS").write_text("abc123  some/file.xyz\n")
    fixtures = dataset_plugin_fixtures(
        "egbench_data_md17", str(tmp_path / "x" / "tests" / "conftest.py"), mirror=mirror
    )
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", str(tmp_path / "not-this-one"))
    gen = fixtures["data_env"].__wrapped__(type("F", (), {"mktemp": lambda self, n: tmp_path / n})())
    assert next(gen) == mirror

    assert os.environ["EGBENCH_DATA_MIRROR"] == str(mirror) and os.environ["EGBENCH_OFFLINE"] == "1"
    assert fixtures["sha256sums"].__wrapped__(mirror) == {"some/file.xyz": "abc123"}
    next(gen, None)  # the fixture's teardown
    assert os.environ["EGBENCH_DATA_MIRROR"] == str(tmp_path / "not-this-one")


def test_one_call_helpers_register_real_specs(catalog):
    spec, register_tasks = task_plugin("half-step", plan="egbench_core.default_plugins.tasks:plan_standard", ood=False)
    got: list = []
    register_tasks(register=got.append)
    (task,) = got
    assert isinstance(task, TaskSpec) and task.name == "half-step" and task.ood is False
    ds = catalog.dataset("synthetic-emt")
    assert task.plan(ds) == catalog.task("standard").plan(ds)  # the string imported at the first plan
    assert isinstance(task.plan, Lazy) and pickle.loads(pickle.dumps(task)).plan(ds) == task.plan(ds)
    assert spec() == copy.copy(spec()) and spec() is not spec()
    value = ValueSpec("n_eval", "frames", "neither", "frames evaluated", per_split=True)
    _, register_metrics = metric_plugin(
        "n_eval", compute=lambda o: MetricResult([value(1.0, split="test")]), values=[value], version="2"
    )
    register_metrics(register=got.append)
    assert isinstance(got[1], MetricSpec) and got[1].version == "2" and got[1].values == (value,)
    _, register_oracles = oracle_plugin("my-dft", make="ase.calculators.emt:EMT", version="3", licence="MIT")
    register_oracles(register=got.append)
    oracle = got[2]
    assert isinstance(oracle, OracleSpec) and (oracle.version, oracle.licence) == ("3", "MIT")
    assert type(oracle.make()).__name__ == "EMT"
    with pytest.raises(ValueError, match="ood=1, expected True or False"):
        TaskSpec("x", task.plan, ood=1)  # type: ignore[arg-type]


def test_plugin_kit_exports_what_tasks_and_metrics_receive_without_numpy():
    code = (
        "import sys, egbench_core.plugin_kit as k; assert 'numpy' not in sys.modules, 'numpy at import'; "
        "from egbench_core.plugin_kit import CellOutputs, DatasetSpec, ReplicaResult, SplitInfo, SplitPrediction; "
        "from egbench_core import cell, datasets, records; "
        "assert (CellOutputs, SplitPrediction) == (cell.CellOutputs, cell.SplitPrediction); "
        "assert (DatasetSpec, SplitInfo) == (datasets.DatasetSpec, datasets.SplitInfo); "
        "assert ReplicaResult is records.ReplicaResult"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        from egbench_core import plugin_kit

        plugin_kit.Nope  # noqa: B018


def test_oracle_checks():
    from ase.build import molecule
    from ase.calculators.emt import EMT

    from egbench_core.testing.oracle_plugins import check_oracle_spec, finite_difference_forces

    with pytest.raises(AssertionError, match="oracle bare: no description"):
        check_oracle_spec(OracleSpec("bare", lambda p: EMT()))
    check_oracle_spec(OracleSpec("full", lambda p: EMT(), description="d", citation="c", licence="l"))
    atoms = molecule("CH4")
    atoms.rattle(0.05, seed=1)
    atoms.calc = EMT()
    fd = finite_difference_forces(atoms, [(0, 0), (3, 2)])
    assert fd == pytest.approx([atoms.get_forces()[0, 0], atoms.get_forces()[3, 2]], abs=1e-5)
