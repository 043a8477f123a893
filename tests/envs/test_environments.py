"""Models in another environment run through the worker protocol, with one store; a crashing
worker is a failed cell, not a failed run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import egbench_core
from egbench_core.envs.client import describe_environment
from egbench_core.envs.manage import Environment, list_envs
from egbench_core.plugins import load_catalog
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store

TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template"


def _fake_env(root: Path, name: str, script: str) -> Environment:
    """An environment whose 'python' is a launcher script (standing in for its own venv)."""
    env = Environment(name, root / name)
    python = env.python
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n" + script)
    python.chmod(0o755)
    return env


def _worker_path(monkeypatch, site: Path) -> None:
    """The worker sees ``site`` and the core this process imported (its protocol), whatever is installed."""
    core = Path(egbench_core.__file__).resolve().parents[1]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(core)]))


@pytest.fixture(scope="module")
def template_site(tmp_path_factory, pip_install):
    return pip_install(TEMPLATE, tmp_path_factory.mktemp("site"))


def test_worker_runs_a_cell_and_a_crash_is_a_failed_cell(template_site, tmp_path, monkeypatch):
    envs = tmp_path / "envs"
    monkeypatch.setenv("EGBENCH_ENVS_DIR", str(envs))
    # the "example" plugin is installed only where the worker runs, not in this process
    _worker_path(monkeypatch, template_site)
    # the worker loads only "example" of whatever the machine has installed; this process only the environments
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "example,env:other,env:crashy")
    good = _fake_env(envs, "other", f'exec "{sys.executable}" "$@"\n')
    good.models = describe_environment(good.python)  # the real protocol's describe
    assert [m["name"] for m in good.models] == ["example"]
    good.save()
    crashy = _fake_env(envs, "crashy", 'echo "boom: the upstream library segfaulted" >&2\nexit 3\n')
    crashy.models = [dict(good.models[0], name="crashy-model")]
    crashy.save()
    assert {e.name for e in list_envs()} == {"other", "crashy"}

    cat = load_catalog(entry_points=False)
    assert cat.models["example"].environment == "other" and cat.models["example"].plugin == "env:other"
    cells = plan_cells(cat, "example,crashy-model", "acac", "standard", "smoke", 0)
    assert [c.skip_reason for c in cells] == ["", ""]
    store = Store(tmp_path / "res")
    summary = run_cells(cells, cat, store)
    assert (summary.done, summary.failed) == (1, 1)

    done = next(c for c in cells if c.model == "example")
    m = {(x["name"], x["split"]): x for x in store.metrics(done.key)}
    assert np.isfinite(m[("force_mae", "test")]["value"]) and m[("force_mae", "test")]["n"] == 50 * 15 * 3
    assert m[("stable_fraction", "")]["n"] == 2  # observers ran in the worker, scored here
    kinds = {k for k, _ in store.artifacts(done.key)}
    assert {"checkpoint", "trajectory", "predictions", "md-summary"} <= kinds
    out = json.loads((store.final_dir(done.key) / "outputs.json").read_text())
    assert out["train"]["epochs_run"] == 3

    failed = store.cell(next(c for c in cells if c.model == "crashy-model").key)
    assert failed.status == "failed"
    assert "exited with code 3" in failed.reason and "boom: the upstream library segfaulted" in failed.reason


def test_a_model_changed_since_its_environment_was_described_fails_its_cell_in_one_line(
    template_site, tmp_path, monkeypatch
):
    """``env.json`` says one thing, the environment now holds another (a preset edited since
    ``egbench env create``): the worker refuses the cell, which was planned and keyed with the old."""
    envs = tmp_path / "envs"
    monkeypatch.setenv("EGBENCH_ENVS_DIR", str(envs))
    _worker_path(monkeypatch, template_site)
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "example,env:other")
    env = _fake_env(envs, "other", f'exec "{sys.executable}" "$@"\n')
    env.models = describe_environment(env.python)
    env.models[0]["presets"]["smoke"]["cutoff"] += 0.5
    env.save()
    cat = load_catalog(entry_points=False)
    cells = plan_cells(cat, "example", "acac", "standard", "smoke", 0)
    store = Store(tmp_path / "res")
    assert run_cells(cells, cat, store).failed == 1
    assert store.cell(cells[0].key).reason == (
        "WorkerError: the worker in environment 'other' refused the cell: model 'example' in this environment "
        "differs from its description in env.json (presets), which the cell was planned with: make the environment "
        "again (`egbench env create`)"
    )


def test_missing_environment_is_a_skip_reason(tmp_path, monkeypatch):
    envs = tmp_path / "envs"
    monkeypatch.setenv("EGBENCH_ENVS_DIR", str(envs))
    gone = Environment("gone", envs / "gone", models=[{"name": "ghost", "presets": {"smoke": {"cutoff": 4.0}}}])
    gone.path.mkdir(parents=True)
    gone.save()  # env.json without a venv: e.g. a deleted folder
    cat = load_catalog(entry_points=False)
    cell = plan_cells(cat, "ghost", "acac", "standard", "smoke", 0)[0]
    assert "has no Python" in cell.skip_reason and "egbench env create gone" in cell.skip_reason


def test_a_calculator_backed_model_in_an_environment_is_planned_as_one(tmp_path, monkeypatch):
    """The environment's description says the model is calculator-backed and which elements it
    covers: this process plans its cells for the ase MD engine and skips datasets it does not cover."""
    envs = tmp_path / "envs"
    monkeypatch.setenv("EGBENCH_ENVS_DIR", str(envs))
    env = _fake_env(envs, "calc", f'exec "{sys.executable}" "$@"\n')
    env.models = [
        {
            "name": "calc-model",
            "presets": {p: {"cutoff": 5.0} for p in ("smoke", "quick", "paper")},
            "capabilities": {"trainable": False, "stress": False, "elements": [1, 6, 8]},
            "calculator_backed": True,
        }
    ]
    env.save()
    cat = load_catalog(entry_points=False)
    spec = cat.models["calc-model"]
    assert spec.calculator_backed and spec.capabilities.elements == (1, 6, 8)
    with pytest.raises(Exception, match="runs in its worker"):
        spec.calculator()
    acac, emt = plan_cells(cat, "calc-model", "acac,synthetic-emt", "standard", "smoke", 0)
    assert acac.skip_reason == "" and acac.provenance["md_engine"] == "ase"
    assert acac.provenance["precision"] == "calculator"
    assert emt.skip_reason.startswith("model calc-model does not cover elements")
