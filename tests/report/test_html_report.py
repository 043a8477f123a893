"""The HTML report's data (leaderboards, OOD pairs, plot series, Pareto front), the folder it
writes, ``report --format json``, and the terminal's summary of cells not run — on the smoke store
of ``report_store`` (conftest.py). The pages in a real browser: test_html_browser.py."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from egbench_core import hookimpl
from egbench_core.cli import app
from egbench_core.report.as_json import CELL_FIELDS, METRIC_FIELDS, records
from egbench_core.report.html.cells import collect
from egbench_core.report.html.figures import colours, figures
from egbench_core.report.html.ood import ood_tables
from egbench_core.report.html.series import CostPoint, dataset_tasks, pareto
from egbench_core.report.html.tables import boards, paper_values
from egbench_core.report.html.write import MARKER, ReportFolderError, write_report
from egbench_core.report.not_run import group_not_run, reason_kind
from egbench_core.report.paper import load_tables
from egbench_core.store import Store

pytestmark = pytest.mark.slow


def _metric(store, model, dataset, task, seed, name, split="test", mode=""):
    (cell,) = [c for c in store.cells("done") if (c.model, c.dataset, c.task, c.seed) == (model, dataset, task, seed)]
    return next(m for m in store.metrics(cell.key) if (m["name"], m["split"], m["mode"]) == (name, split, mode))


def _col(board, header):
    return [c.header for c in board.columns].index(header)


def test_the_store_holds_what_the_tests_expect(report_store):
    got = sorted((c.model, c.dataset, c.task, c.seed, c.status) for c in report_store.cells())
    assert got == [
        ("toy-broken", "acac", "standard", 0, "failed"),
        ("toy-molecular", "synthetic-emt", "standard", 0, "skipped"),
        ("toy-pair", "acac", "ood-temperature", 0, "done"),
        ("toy-pair", "acac", "standard", 0, "done"),
        ("toy-pair", "acac", "standard", 1, "done"),
        ("toy-pair", "synthetic-emt", "ood-temperature", 0, "skipped"),
        ("toy-pair", "synthetic-emt", "standard", 0, "done"),
        ("toy-wide", "acac", "ood-temperature", 0, "done"),
        ("toy-wide", "acac", "standard", 0, "done"),
        ("toy-wide", "synthetic-emt", "ood-temperature", 0, "skipped"),
        ("toy-wide", "synthetic-emt", "standard", 0, "done"),
    ]


def test_leaderboards_values_seeds_best_and_cells_not_run(report_store):
    groups, not_done = collect(report_store)
    bs = {b.key: b for b in boards(groups, not_done, paper_values(report_store))}
    assert list(bs) == ["static", "structure", "dynamics", "stability", "cost"]
    static = bs["static"]
    rows = {(r.model, r.dataset, r.task): r for r in static.rows}
    f = _col(static, "F MAE (meV/Å)")
    # two seeds: mean ± sample std of the stored values, in meV/Å
    seeds = [1e3 * _metric(report_store, "toy-pair", "acac", "standard", s, "force_mae")["value"] for s in (0, 1)]
    pair = rows[("toy-pair", "acac", "standard")]
    assert pair.seeds == "0,1" and pair.status == "done"
    assert pair.cells[f].text == f"{np.mean(seeds):.2f} ± {np.std(seeds, ddof=1):.2f}"
    assert pair.cells[f].number == pytest.approx(np.mean(seeds))
    # best per column among the models of one dataset and task (lower is better for an error)
    wide = rows[("toy-wide", "acac", "standard")]
    assert wide.cells[f].number != pair.cells[f].number
    assert (pair.cells[f].best, wide.cells[f].best) == (
        (True, False) if pair.cells[f].number < wide.cells[f].number else (False, True)
    )
    # a column whose values all tie marks nothing (e.g. every replica stable everywhere)
    stab = bs["stability"]
    for key in {(r.dataset, r.task) for r in stab.rows}:
        same = [r.cells[0] for r in stab.rows if (r.dataset, r.task) == key and r.cells[0].number is not None]
        if len({c.number for c in same}) == 1:
            assert not any(c.best for c in same)
    # cells not run: their status in every column, the reason on hover
    skipped = rows[("toy-molecular", "synthetic-emt", "standard")]
    assert skipped.status == "skipped" and {c.state for c in skipped.cells} == {"skipped"}
    assert all("does not support periodic systems" in c.reason for c in skipped.cells)
    failed = rows[("toy-broken", "acac", "standard")]
    assert failed.status == "failed" and failed.cells[f].reason == "RuntimeError: build exploded on purpose"
    # n/a with its note: acac's DFT oracle is not installed here
    dyn = bs["dynamics"]
    assert [c.header for c in dyn.columns][:3] == [
        "MD F MAE oracle (meV/Å)",
        "F drift (MD/test)",
        "MD E MAE oracle (meV/atom)",
    ]
    assert [c.header for c in dyn.columns][-4:] == [
        "EV oracle (×1e-5)",
        "FV oracle",
        "EV aligned (×1e-5)",
        "FV aligned",
    ]
    acac = next(r for r in dyn.rows if (r.model, r.dataset, r.task) == ("toy-wide", "acac", "standard"))
    assert acac.cells[0].state == "n/a" and "oracle" in acac.cells[0].reason
    emt = next(r for r in dyn.rows if (r.model, r.dataset, r.task) == ("toy-wide", "synthetic-emt", "standard"))
    md_f = _metric(report_store, "toy-wide", "synthetic-emt", "standard", 0, "md_force_mae", "", "oracle")
    assert emt.cells[0].number == pytest.approx(1e3 * md_f["value"])
    # rows: by dataset, the standard task first
    assert [(r.dataset, r.task) for r in static.rows][:3] == [("acac", "standard")] * 3


def _edited_copy(store, folder, sql: str) -> Store:
    shutil.copytree(store.root, folder)
    with sqlite3.connect(folder / "egbench.sqlite") as db:
        db.execute(sql)
    return Store.open_readonly(folder)


def test_paper_values_beside_ours(report_store, tmp_path):
    """Where `report --compare paper` pairs a value: a copy of the store whose toy-pair is called mace."""
    store = _edited_copy(report_store, tmp_path / "as-mace", "UPDATE cells SET model='mace' WHERE model='toy-pair'")
    groups, not_done = collect(store)
    static = boards(groups, not_done, paper_values(store))[0]
    mace = next(r for r in static.rows if (r.model, r.dataset, r.task) == ("mace", "acac", "standard"))
    printed = load_tables()[1].row(dataset="acac", model="mace")
    assert mace.cells[_col(static, "E MAE (meV)")].paper == printed["energy_mae_meV"]
    assert mace.cells[_col(static, "F MAE (meV/Å)")].paper == printed["force_mae_meV_per_A"]
    assert mace.cells[_col(static, "F MAE (meV/Å)")].paper_title == "EGraFFBench Tables 1, 4"
    assert mace.cells[_col(static, "E RMSE (meV)")].paper == ""  # the article has no RMSE
    wide = next(r for r in static.rows if (r.model, r.dataset, r.task) == ("toy-wide", "acac", "standard"))
    assert all(not c.paper for c in wide.cells)


def test_a_truncated_cell_is_marked_with_why(report_store, tmp_path):
    store = _edited_copy(
        report_store,
        tmp_path / "truncated",
        "UPDATE cells SET truncated=1 WHERE model='toy-wide' AND dataset='acac' AND task='standard'",
    )
    groups, not_done = collect(store)
    static = boards(groups, not_done, {})[0]
    row = next(r for r in static.rows if (r.model, r.dataset, r.task) == ("toy-wide", "acac", "standard"))
    assert row.marks == "*" and "truncated" in row.reason and row.cells[0].state == "value"
    index = write_report(store, tmp_path / "html").read_text()
    assert re.search(
        r'<span class="badge b-trunc" title="truncated: the training hit the wall-clock guard[^"]*">'
        r"truncated</span>",
        index,
    )


def test_ood_pairs_300_with_600_kelvin_and_the_ratio(report_store):
    groups, _ = collect(report_store)
    (t,) = ood_tables(groups, ood_tasks={"ood-temperature"})
    assert t.task == "ood-temperature" and {(r.model, r.dataset) for r in t.rows} == {
        ("toy-pair", "acac"),
        ("toy-wide", "acac"),
    }
    r = next(r for r in t.rows if r.model == "toy-pair")
    assert (r.id_label, r.ood_label, r.seeds) == ("test · MD 300 K", "test-600k · MD 600 K", "0")  # the shared seed
    i = [c.header for c in t.columns].index("F MAE (meV/Å)")
    ind, ood, ratio = r.cells[i]
    want_id = 1e3 * _metric(report_store, "toy-pair", "acac", "standard", 0, "force_mae")["value"]
    want_ood = 1e3 * _metric(report_store, "toy-pair", "acac", "ood-temperature", 0, "force_mae", "test-600k")["value"]
    assert (ind.number, ood.number) == (pytest.approx(want_id), pytest.approx(want_ood))
    assert ratio.number == pytest.approx(want_ood / want_id) and ratio.text == f"×{want_ood / want_id:.3g}"
    # columns with no value on either side are left out, with why
    assert "MD F MAE oracle (meV/Å)" not in [c.header for c in t.columns]
    assert any("MD F MAE oracle (meV/Å)" in x and "oracle" in x for x in t.left_out)


def test_the_ood_page_shows_only_tasks_declared_ood(report_store, tmp_path, monkeypatch):
    """A copy of the store where toy-wide's ood-temperature cell is a ``half-timestep`` task (not OOD):
    with the installed tasks' declarations, the page has ood-temperature (toy-pair) and no
    half-timestep; a store task no installed plugin declares OOD is left off too."""
    from egbench_core import plugins
    from egbench_core.interfaces import TaskPlan, TaskSpec

    store = _edited_copy(
        report_store,
        tmp_path / "half",
        "UPDATE cells SET task='half-timestep' WHERE task='ood-temperature' AND model='toy-wide'",
    )
    groups, _ = collect(store)
    assert {k[3] for k in groups} == {"standard", "ood-temperature", "half-timestep"}

    def plan(dataset):
        return TaskPlan("train", "val", ("test",), None)

    class Tasks:
        @hookimpl
        def register_tasks(self, register):
            register(TaskSpec("ood-temperature", plan, family="ood", description="hot", ood=True))
            register(TaskSpec("half-timestep", plan, description="half the time step"))

    monkeypatch.setattr(plugins, "_CATALOG", plugins.load_catalog(extra_plugins=[Tasks()], entry_points=False))
    (t,) = ood_tables(groups)
    assert t.task == "ood-temperature" and [r.model for r in t.rows] == ["toy-pair"]
    write_report(store, tmp_path / "html")
    html = (tmp_path / "html" / "ood.html").read_text()
    assert 'id="ood-ood-temperature"' in html and "half-timestep" not in html
    assert ood_tables(groups, ood_tasks=set()) == []  # nothing declared: no table
    assert [t.task for t in ood_tables(groups, ood_tasks={"half-timestep", "ood-temperature"})] == [
        "half-timestep",
        "ood-temperature",
    ]


def test_plot_series_and_figures(report_store):
    groups, _ = collect(report_store)
    tasks = {}
    for (_model, _preset, dataset, task), g in groups.items():
        tasks.setdefault(dataset, {}).setdefault(task, []).append(g)
    palette = colours([g.label for g in groups.values()])
    (emt,) = dataset_tasks(report_store, tasks["synthetic-emt"], "synthetic-emt")
    figs = {f.key: f for f in figures(emt, palette)}
    assert list(figs) == [
        "rdf",
        "oracle-force",
        "ev",
        "fv",
        "survival",
        "parity-forces",
        "parity-energy",
        "loss",
        "lr",
        "cost",
    ]
    assert all(f.data and not f.empty for f in figs.values()), {k: f.empty for k, f in figs.items()}
    # the parity plot reads the stored predictions (every point when there are fewer than the cap)
    cell = next(c for c in report_store.cells("done") if (c.model, c.dataset) == ("toy-wide", "synthetic-emt"))
    pred = np.load(dict(report_store.artifacts(cell.key))["predictions"])
    trace = next(d for d in figs["parity-energy"].data if d["name"] == "toy-wide [smoke]")
    assert trace["x"] == pytest.approx(list(pred["ref_energy"] / pred["n_atoms"]))
    assert trace["y"] == pytest.approx(list(pred["energy"] / pred["n_atoms"]))
    forces = next(d for d in figs["parity-forces"].data if d["name"] == "toy-wide [smoke]")
    assert len(forces["x"]) == 1500 < pred["forces"].size
    # training curves from the stored history: toy-wide trains 4 epochs
    loss = [d for d in figs["loss"].data if d["legendgroup"] == "toy-wide [smoke]"]
    assert [d["x"] for d in loss] == [[1, 2, 3, 4]] * 2
    assert loss[0]["y"] == [h["train_loss"] for h in cell.info["train"]["history"]]
    # acac has no oracle here: the plot says why instead
    acac = {dt.task: dt for dt in dataset_tasks(report_store, tasks["acac"], "acac")}
    acac_figs = {f.key: f for f in figures(acac["standard"], palette)}
    assert not acac_figs["oracle-force"].data and "pyscf" in acac_figs["oracle-force"].empty
    # two seeds of toy-pair: a curve each, labelled by seed
    assert {s.label for s in acac["standard"].series} == {
        "toy-pair [smoke] seed 0",
        "toy-pair [smoke] seed 1",
        "toy-wide [smoke]",
    }


def test_pareto_front():
    pts = [
        CostPoint("a", 10.0, 1.0),
        CostPoint("b", 5.0, 2.0),
        CostPoint("c", 6.0, 3.0),
        CostPoint("d", 20.0, 0.5),
        CostPoint("e", 5.0, 2.0),
    ]
    assert [p.model for p in pareto(pts)] == ["d", "a", "b", "e"]  # c: b is faster and more accurate


def test_the_folder_is_self_contained_and_refuses_foreign_folders(report_store, tmp_path):
    out = tmp_path / "report"
    index = write_report(report_store, out)
    assert index == out / "index.html"
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == ["dataset-acac.html", "dataset-synthetic-emt.html", "index.html", "ood.html", "provenance.html"]
    for page in out.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"https?://", text), page.name
        for ref in re.findall(r'(?:src|href)="([^"#]+)"', text):
            assert (out / ref).is_file(), (page.name, ref)
    assert (out / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    # a later report into the same folder replaces the earlier one, stale pages included
    write_report(report_store, out, task="ood-temperature")
    assert not (out / "dataset-synthetic-emt.html").exists() and (out / "dataset-acac.html").exists()
    assert "dataset-acac.html" in json.loads((out / MARKER).read_text())["files"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ReportFolderError, match="is not empty and holds no earlier egbench report"):
        write_report(report_store, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_json_records_one_per_cell_and_metric_with_units(report_store):
    recs = records(report_store)
    assert all(list(r) == list(CELL_FIELDS + METRIC_FIELDS) for r in recs)
    f = next(
        r
        for r in recs
        if (r["model"], r["dataset"], r["task"], r["seed"], r["metric"], r["split"])
        == ("toy-pair", "acac", "standard", 1, "force_mae", "test")
    )
    assert f["value"] == _metric(report_store, "toy-pair", "acac", "standard", 1, "force_mae")["value"]
    assert (f["unit"], f["state"], f["status"]) == ("eV/Å", "value", "done")
    ev = next(
        r for r in recs if (r["model"], r["dataset"], r["task"], r["metric"]) == ("toy-wide", "acac", "standard", "ev")
    )
    assert ev["value"] is None and ev["state"] == "n/a" and ev["note"].startswith("not applicable")
    skipped = [r for r in recs if r["status"] == "skipped"]
    assert len(skipped) == 3 and all(r["metric"] is None and r["reason"] for r in skipped)
    done = [c for c in report_store.cells("done")]
    assert len([r for r in recs if r["status"] == "done"]) == sum(len(report_store.metrics(c.key)) for c in done)
    doc = CliRunner().invoke(app, ["report", "--out", str(report_store.root), "--format", "json"])
    assert doc.exit_code == 0, doc.output
    parsed = json.loads(doc.stdout)
    assert (parsed["format"], parsed["version"], len(parsed["records"])) == ("egbench-results", 1, len(recs))


def test_not_run_grouped_by_kind_of_reason(report_store):
    assert (
        reason_kind(
            "dataset synthetic-emt declares no split tagged 'ood-temperature'",
            "toy-pair",
            "synthetic-emt",
            "ood-temperature",
        )
        == "dataset <dataset> declares no split tagged '<task>'"
    )
    offline = (
        "dataset md17-aspirin: 3 file(s) not available offline: a.npz, b.npz (e.g. https://x/md17-aspirin.npz);"
        " run `egbench fetch md17-aspirin` or set EGBENCH_DATA_MIRROR"
    )
    assert reason_kind(offline, "mace", "md17-aspirin", "standard") == (
        "dataset <dataset>: N file(s) not available offline (…); run `egbench fetch <dataset>` or set "
        "EGBENCH_DATA_MIRROR"
    )
    rows = [
        ["a [smoke]", "d1", "t", "skipped", "dataset d1 declares no split tagged 't'"],
        ["b [smoke]", "d2", "t", "skipped", "dataset d2 declares no split tagged 't'"],
        ["b [smoke]", "d2", "u", "failed", "RuntimeError: boom"],
    ]
    groups = group_not_run(rows)
    assert [(g.status, g.count, g.kind) for g in groups] == [
        ("failed", 1, "RuntimeError: boom"),
        ("skipped", 2, "dataset <dataset> declares no split tagged '<task>'"),
    ]
    # the terminal: one line per reason with its count; --skipped lists every cell
    res = CliRunner().invoke(app, ["report", "--out", str(report_store.root)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "cells not run: 1 failed, 3 skipped (`egbench report --skipped` lists them)" in res.stdout
    assert "– 2 skipped: dataset <dataset> declares no split tagged '<task>'" in res.stdout
    assert "– 1 skipped: model <model> does not support periodic systems and <dataset> is periodic" in res.stdout
    assert "– 1 failed: RuntimeError: build exploded on purpose" in res.stdout
    assert "toy-molecular [smoke]" not in res.stdout  # not listed cell by cell
    listed = CliRunner().invoke(app, ["report", "--out", str(report_store.root), "--skipped"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and "toy-molecular [smoke]" in listed.stdout
    assert listed.stdout.count("declares no split tagged 'ood-temperature'") == 2


def test_cli_writes_the_html_report(report_store, tmp_path):
    out = tmp_path / "html"
    args = ["report", "--out", str(report_store.root), "--format", "html", "--out-dir", str(out)]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert f"HTML report: {out / 'index.html'}" in res.stdout and (out / "index.html").is_file()
