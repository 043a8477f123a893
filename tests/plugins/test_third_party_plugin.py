"""A model plugin written against the documented hooks (plugins/_template) installs with pip and runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from egbench_core.plugins import load_catalog
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store

TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template"


def _catalog_selecting(plugin: str, dist: str, site: Path, monkeypatch, extra_plugins=()):
    """The catalog with ``site`` on the path and only ``plugin`` selected: it loads, from ``dist``
    (``extra_plugins``: in-process plugins beside it)."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", plugin)
    cat = load_catalog(extra_plugins=extra_plugins, entry_points=True)
    assert cat.plugins[plugin].status == "ok", cat.plugins[plugin].error
    assert dist in cat.plugins[plugin].origin
    return cat


@pytest.fixture(scope="module")
def installed(tmp_path_factory, pip_install):
    target = pip_install(TEMPLATE, tmp_path_factory.mktemp("site"))
    assert (target / "egbench_model_example").is_dir()
    return target


def test_template_plugin_is_discovered_and_runs(installed, monkeypatch, tmp_path):
    cat = _catalog_selecting("example", "egbench-model-example", installed, monkeypatch)
    spec = cat.models["example"]
    assert spec.plugin == "example" and set(spec.presets) == {"smoke", "quick", "paper"}
    cells = plan_cells(cat, "example", "acac", "standard", "smoke", 0)
    store = Store(tmp_path / "res")
    summary = run_cells(cells, cat, store)
    assert summary.done == 1, store.cell(cells[0].key).error
    m = {(x["name"], x["split"]): x["value"] for x in store.metrics(cells[0].key)}
    assert np.isfinite(m[("force_mae", "test")]) and m[("force_mae", "test")] > 0
    assert m[("md_time_per_step", "")] > 0


DATA_TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template_data"


def test_data_template_installs_with_its_files_and_loads_offline(tmp_path, monkeypatch, pip_install):
    """plugins/_template_data: the wheel carries registry.toml and the data files (package data),
    the entry point is found, and the dataset loads from the embedded copy with no network."""
    target = pip_install(DATA_TEMPLATE, tmp_path / "site")
    pkg = target / "egbench_data_example"
    assert (pkg / "registry.toml").is_file() and len(list((pkg / "data").glob("*.xyz"))) == 3
    cat = _catalog_selecting("example-data", "egbench-data-example", target, monkeypatch)
    ds = cat.datasets["example-cu13"]
    assert ds.plugin == "example-data" and ds.unavailable_reason() is None
    test = ds.load("test")
    assert len(test) == 10 and test.elements == [29]
    assert test.energy[0] == np.float64(9.915145530438586)


TASK_TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template_task"
METRIC_TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template_metric"


def _listed(cat, monkeypatch, what: str) -> str:
    """``egbench list <what>`` over ``cat`` (the CLI's process-wide catalog), as printed."""
    from typer.testing import CliRunner

    from egbench_core import plugins
    from egbench_core.cli import app

    monkeypatch.setattr(plugins, "_CATALOG", cat)
    result = CliRunner().invoke(app, ["list", what], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def test_task_template_installs_is_listed_and_runs(tmp_path, monkeypatch, pip_install):
    """plugins/_template_task installed with pip: `egbench list tasks` shows half-timestep from its
    entry point, and a smoke cell of it simulates at half acac's time step."""
    from egbench_core.testing import FakeModelPlugin  # toy-pair: the fast model of core's tests

    target = pip_install(TASK_TEMPLATE, tmp_path / "site")
    assert (target / "egbench_task_example" / "plan.py").is_file()
    cat = _catalog_selecting("example-task", "egbench-task-example", target, monkeypatch, [FakeModelPlugin()])
    task = cat.tasks["half-timestep"]
    assert task.plugin == "example-task" and task.ood is False
    listed = _listed(cat, monkeypatch, "tasks")
    assert re.search(r"half-timestep .*example-task", listed), listed
    monkeypatch.setenv("EGBENCH_OFFLINE", "1")
    (cell,) = plan_cells(cat, "toy-pair", "acac", "half-timestep", "smoke", 0)
    assert cell.plan.md.timestep_fs == cat.datasets["acac"].timestep_fs / 2
    store = Store(tmp_path / "res")
    assert run_cells([cell], cat, store).done == 1, store.cell(cell.key).error
    m = {(x["name"], x["split"]): x["value"] for x in store.metrics(cell.key)}
    assert m[("force_mae", "test")] > 0 and m[("md_time_per_step", "")] > 0
    assert store.cell(cell.key).provenance["task"]["plan"]["md"]["timestep_fs"] == cell.plan.md.timestep_fs


def test_metric_template_installs_is_listed_and_scores(tmp_path, monkeypatch, pip_install):
    """plugins/_template_metric installed with pip: `egbench list metrics` shows its two values, and a
    smoke cell stores them beside the built-in ones."""
    from egbench_core.testing import FakeModelPlugin

    target = pip_install(METRIC_TEMPLATE, tmp_path / "site")
    assert (target / "egbench_metric_example" / "compute.py").is_file()
    cat = _catalog_selecting("example-metric", "egbench-metric-example", target, monkeypatch, [FakeModelPlugin()])
    assert cat.metrics["force_extremes"].plugin == "example-metric"
    listed = _listed(cat, monkeypatch, "metrics")
    for value in ("max_force_error", "md_mean_temperature"):
        assert re.search(rf"force_extremes .*{value}", listed), listed
    monkeypatch.setenv("EGBENCH_OFFLINE", "1")
    cells = plan_cells(cat, "toy-pair", "acac", "standard", "smoke", 0)
    store = Store(tmp_path / "res")
    assert run_cells(cells, cat, store).done == 1, store.cell(cells[0].key).error
    m = {(x["name"], x["split"]): x for x in store.metrics(cells[0].key)}
    worst, mae = m[("max_force_error", "test")], m[("force_mae", "test")]
    assert worst["unit"] == "eV/Å" and worst["value"] >= mae["value"] > 0
    assert m[("md_mean_temperature", "")]["unit"] == "K" and m[("md_mean_temperature", "")]["value"] > 0


ORACLE_TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template_oracle"


def test_oracle_template_installs_and_labels_a_frame(tmp_path, monkeypatch, pip_install):
    """plugins/_template_oracle installed with pip: its entry point registers gfn2-xtb, and the
    calculator it makes labels an acac test frame (forces following the DFT labels)."""
    target = pip_install(ORACLE_TEMPLATE, tmp_path / "site")
    assert (target / "egbench_oracle_example" / "calculator.py").is_file()
    cat = _catalog_selecting("example-oracle", "egbench-oracle-example", target, monkeypatch)
    spec = cat.oracles["gfn2-xtb"]
    assert spec.plugin == "example-oracle" and spec.requires == ["tblite>=0.4"]
    test = cat.datasets["acac"].load("test")
    atoms = test.to_atoms(0)
    atoms.calc = spec.make({"accuracy": 1.0})
    forces, ref = atoms.get_forces(), test.forces[test.atoms_slice(0)]
    assert np.corrcoef(forces.ravel(), ref.ravel())[0, 1] > 0.8
