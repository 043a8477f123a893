"""Provenance: what a cell key hashes, what the store records per run, and the report's warnings
when rows come from different code."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from egbench_core.cli import app
from egbench_core.interfaces import stable_hash
from egbench_core.plugins import load_catalog
from egbench_core.report.leaderboard import leaderboard
from egbench_core.run.provenance import source_hash
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.stages import code_paths
from egbench_core.store import Store

PLUGIN_SOURCE = textwrap.dedent("""
    from egbench_core.testing.fakes import FakeModelPlugin

    register_models = FakeModelPlugin().register_models
""")


@pytest.fixture
def edited_plugin(tmp_path, monkeypatch):
    """An in-process plugin module on disk (``provtoy_plugin``) and ``load()`` → a fresh catalog."""
    folder = tmp_path / "plugin-src"
    folder.mkdir()
    path = folder / "provtoy_plugin.py"
    path.write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "provtoy_plugin", raising=False)

    def load():
        sys.modules.pop("provtoy_plugin", None)
        return load_catalog(extra_plugins=[importlib.import_module("provtoy_plugin")], entry_points=False)

    yield path, load
    sys.modules.pop("provtoy_plugin", None)


def test_cell_key_hashes_every_input_that_changes_numbers(edited_plugin):
    path, load = edited_plugin
    (cell,) = plan_cells(load(), "toy-pair", "acac", preset="smoke", seed=3)
    p = cell.provenance
    assert cell.key == stable_hash({**p, "stage_keys": cell.stages})
    assert cell.stages == {kind: stable_hash(prov) for kind, prov in p["stages"].items()}
    assert set(cell.stages) == {"train", "evaluate:test", "simulate"}
    # core's code by path (stages.md): the scoring path in the cell's key, training and MD in the stages'
    assert p["score_code"] == {**code_paths.stage_code("score"), "path": "score"} and "core" not in p
    train, sim = p["stages"]["train"], p["stages"]["simulate"]
    assert train["code"]["train"]["source"] == code_paths.code_hash("train")
    assert (
        sim["code"]["simulate"]["source"] == code_paths.code_hash("simulate") and sim["train"] == cell.stages["train"]
    )
    assert train["model"]["code"]["source"] == source_hash(path) and (train["seed"], train["precision"]) == (
        3,
        "float32",
    )
    assert p["model"]["code"]["source"] == source_hash(path) and p["model"]["version"] == "1"
    assert p["preset"]["resolved"]["train"]["epochs"] == 3  # the resolved preset, not just its name
    fp = p["data"]["acac"]["fingerprint"]
    assert any("units=energy=eV" in v and "format=extxyz" in v for v in fp.values())
    assert p["task"]["id"] == "standard" and p["task"]["plan"]["train_split"] == "train"
    assert p["metrics"]["energy_mae"]["version"] == "1"
    stability = p["metrics"]["stability"]["code"]  # a built-in metric: the closure of its module
    assert stability == {"module": stability["module"], "source": code_paths.module_code(stability["module"])}
    assert sim["observers"]["stability"] == p["metrics"]["stability"]  # it watches the MD: in simulate's key
    assert (p["seed"], p["device"], p["precision"]) == (3, "cpu", "float32")
    assert p["protocol_preset"]["name"] == "smoke"


@pytest.mark.slow
def test_editing_a_plugins_source_recomputes_its_cell_and_the_report_warns(edited_plugin, tmp_path):
    path, load = edited_plugin
    cat = load()
    before = plan_cells(cat, "toy-pair", "acac", preset="smoke")
    store = Store(tmp_path / "out")
    assert run_cells(before, cat, store).done == 1
    assert run_cells(plan_cells(load(), "toy-pair", "acac", preset="smoke"), cat, store).cached == 1
    path.write_text(PLUGIN_SOURCE + "# a comment changes no number, but it is other code\n")
    cat2 = load()
    after = plan_cells(cat2, "toy-pair", "acac", preset="smoke")
    assert after[0].key != before[0].key
    again = run_cells(after, cat2, store)
    assert (again.done, again.cached) == (1, 0)
    lb = leaderboard(store)
    assert len(lb.rows) == 1 and any("1 older result" in n for n in lb.notes)  # the newest result is shown
    # a second dataset computed by the edited plugin, the first row by... the same: no code warning
    assert not [n for n in lb.notes if "different code" in n]
    path.write_text(PLUGIN_SOURCE + "# edited again\n")
    cat3 = load()
    assert run_cells(plan_cells(cat3, "toy-pair", "synthetic-emt", preset="smoke"), cat3, store).done == 1
    warn = [n for n in leaderboard(store).notes if "different code" in n]
    assert len(warn) == 1 and "toy-pair" in warn[0]


def test_bumping_a_distribution_version_changes_the_key(toy_site, monkeypatch):
    monkeypatch.syspath_prepend(str(toy_site.path))
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "toy")
    monkeypatch.delitem(sys.modules, "toy_egbench_plugin", raising=False)
    cat = load_catalog(entry_points=True)
    info = cat.plugins["toy"]
    assert (info.dist, info.version) == ("toy-egbench-plugin", "1.0")
    (cell,) = plan_cells(cat, "toy-pair", "acac", preset="smoke")
    assert cell.provenance["model"]["code"]["dist"] == "toy-egbench-plugin"
    meta = toy_site.path / "toy_egbench_plugin-1.0.dist-info" / "METADATA"
    meta.write_text(meta.read_text().replace("Version: 1.0", "Version: 1.1"))
    sys.modules.pop("toy_egbench_plugin", None)
    cat2 = load_catalog(entry_points=True)
    (cell2,) = plan_cells(cat2, "toy-pair", "acac", preset="smoke")
    assert cell2.provenance["model"]["code"]["version"] == "1.1" and cell2.key != cell.key


@pytest.mark.slow
def test_run_records_code_libraries_and_machine_and_report_shows_them(toy_site, tmp_path):
    import subprocess

    out = tmp_path / "out"
    run = subprocess.run(
        toy_site.egbench + ["run", "--models", "toy-pair", "--preset", "smoke", "--out", str(out)],
        env=toy_site.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"egbench report --out {out} --format html" in run.stdout  # where the HTML report is
    store = Store.open_readonly(out)
    (r,) = store.runs()
    prov = r["provenance"]
    assert prov["core"]["dist"] == "egbench-core" and len(prov["core"]["source"]) == 64
    assert prov["plugins"]["toy"]["dist"] == "toy-egbench-plugin" and prov["plugins"]["toy"]["version"] == "1.0"
    assert {"torch", "numpy", "ase", "vesin"} <= set(prov["libraries"])
    assert prov["machine"]["cores"] and prov["machine"]["cpu"]
    (cell,) = store.cells("done")
    assert cell.provenance["model"]["code"]["dist"] == "toy-egbench-plugin"
    assert cell.info["hardware"]["torch_threads"] == 1 and "torch" in cell.info["hardware"]["libraries"]
    shown = CliRunner().invoke(app, ["report", "--out", str(out), "--provenance"], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    for text in (
        "toy-egbench-plugin",
        "egbench-core",
        prov["core"]["source"][:16],
        "torch",
        prov["libraries"]["torch"],
        "model code and libraries per cell",
    ):
        assert text in shown.output
