"""A metric plugin installed outside the repository, as a third party would (a site folder with its
module and a ``*.dist-info`` whose ``entry_points.txt`` names it in group ``egbench``): its declared
columns (``ValueSpec.shown``) appear in every report format, table, markdown, csv and HTML, after the
built-in columns (by ``Shown.order``); its failing metric shows ``error`` with the reason in each.
Run through the ``egbench`` command in subprocesses, on a real store of a quick run."""

from __future__ import annotations

import csv
import html
import io
import json
import subprocess
import textwrap

import pytest

pytestmark = pytest.mark.slow

PROBE = textwrap.dedent("""
    import numpy as np

    from egbench_core.hookspecs import hookimpl
    from egbench_core.interfaces import MetricResult, MetricSpec, Shown, ValueSpec

    MEAN_F = ValueSpec(
        "probe_mean_force", "eV/Å", "neither", "mean |reference force component| over the split",
        per_split=True, shown=(Shown("static", 90, "probe mean F (meV/Å)", "meV/Å", 1, split=None),),
    )
    NEVER = ValueSpec(
        "probe_never", "eV", "lower", "never stored: its metric raises",
        shown=(Shown("static", 95, "probe broken (meV)", "meV", 2),),
    )


    def mean_force(outputs):
        return MetricResult([
            MEAN_F(float(np.abs(p.reference.forces).mean()), split=split, n=p.reference.forces.size)
            for split, p in outputs.predictions.items()
        ])


    def explode(outputs):
        raise RuntimeError("probe exploded on purpose")


    @hookimpl
    def register_metrics(register):
        register(MetricSpec("probe_mean_force", mean_force, (MEAN_F,), description="a third party's metric"))
        register(MetricSpec("probe_broken", explode, (NEVER,), description="a metric that always fails"))
""")
HEADER, BROKEN = "probe mean F (meV/Å)", "probe broken (meV)"
# the built-in static columns, in their order (report.TABLES["static"]), then the plugin's two
BUILTIN = ["E MAE (meV)", "F MAE (meV/Å)", "E RMSE (meV)", "F RMSE (meV/Å)", "train s/epoch", "epochs", "MD ms/step"]
KEYS = ["model", "dataset", "task", "test split", "seeds", "train frames"]
REASON = "metric probe_broken failed: RuntimeError: probe exploded on purpose"
MODEL = "ase-ase-calculators-emt-emt [smoke]"


@pytest.fixture(scope="module")
def probe_store(tmp_path_factory, emt_data_dir):
    """A site folder holding the distribution ``egbench-metric-probe 1.0`` (entry point ``probe``),
    the environment of an ``egbench`` subprocess that loads it, and a store of one smoke cell
    (ASE's EMT on synthetic-emt, task standard) scored by its metrics."""
    import os
    import sys

    root = tmp_path_factory.mktemp("probe")
    site = root / "site"
    site.mkdir()
    (site / "egbench_metric_probe.py").write_text(PROBE)
    d = site / "egbench_metric_probe-1.0.dist-info"
    d.mkdir()
    (d / "METADATA").write_text("Metadata-Version: 2.1\nName: egbench-metric-probe\nVersion: 1.0\n")
    (d / "entry_points.txt").write_text("[egbench]\nprobe = egbench_metric_probe\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EGBENCH_")}
    env.update(
        PYTHONPATH=str(site),
        EGBENCH_LOAD_PLUGINS="probe",
        EGBENCH_OFFLINE="1",
        EGBENCH_THREADS="1",
        EGBENCH_DATA_DIR=str(emt_data_dir),
        EGBENCH_ENVS_DIR=str(root / "no-envs"),
        COLUMNS="1000",
    )
    out = root / "results"

    def egbench(*args: str) -> subprocess.CompletedProcess:
        res = subprocess.run(
            [sys.executable, "-m", "egbench_core.cli", *args], env=env, capture_output=True, text=True, timeout=600
        )
        assert res.returncode == 0, (args, res.stdout[-3000:], res.stderr[-3000:])
        return res

    egbench(
        "run",
        "--models",
        "ase:ase.calculators.emt:EMT",
        "--datasets",
        "synthetic-emt",
        "--preset",
        "smoke",
        "--out",
        str(out),
    )
    return egbench, out


@pytest.fixture(scope="module")
def stored(probe_store):
    """The probe's value as stored (``--format json``) and as every table prints it (meV/Å, 1 digit)."""
    egbench, out = probe_store
    records = json.loads(egbench("report", "--out", str(out), "--format", "json").stdout)["records"]
    mine = [r for r in records if r["metric"] == "probe_mean_force" and r["split"] == "test"]
    assert len(mine) == 1 and mine[0]["state"] == "value" and mine[0]["unit"] == "eV/Å", mine
    assert mine[0]["value"] > 0.05  # EMT forces of hot copper: tenths of eV/Å
    broken = [r for r in records if r["metric"] == "probe_never"]
    assert [(r["state"], r["note"]) for r in broken] == [("error", REASON)]
    return f"{mine[0]['value'] * 1e3:.1f}"


def _rich_tables(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """The rich tables of ``text`` by title: (headers, the one row of the body), each cell's wrapped
    lines joined without spaces (rich folds long words: the page is 160 columns when not a terminal)."""
    tables, title, part, cols = {}, "", "", [[], []]
    for ln in text.splitlines():
        if ln.startswith("┏"):
            part, cols = "head", [[], []]
        elif ln.startswith("┡"):
            part = "body"
        elif ln.startswith("└"):
            tables[title] = tuple(["".join(c) for c in col] for col in cols)
            part = ""
        elif part and ln[:1] in "┃│":
            fragments = [c.strip() for c in ln[1:-1].replace("┃", "│").split("│")]
            k = 0 if part == "head" else 1
            cols[k] = cols[k] or [[] for _ in fragments]
            for col, f in zip(cols[k], fragments):
                col.append(f.replace(" ", ""))
        elif ln.strip():
            title = ln.strip()
    return tables


def _packed(*xs: str) -> list[str]:
    return [x.replace(" ", "") for x in xs]


def test_table_shows_the_plugin_columns_and_the_failing_metric(probe_store, stored):
    egbench, out = probe_store
    text = egbench("report", "--out", str(out), "--format", "table").stdout
    tables = _rich_tables(text)
    headers, row = tables["egbench leaderboard: static"]
    # the terminal hides the columns n/a in every row (an ASE calculator trains nothing: no epochs) and
    # names them under the table; the key columns with one value in every row go there too when wide
    trained = ("train s/epoch", "epochs")
    assert headers == _packed("model", "dataset", "task", *[c for c in BUILTIN if c not in trained], HEADER, BROKEN)
    assert all(c in " ".join(text.split()) for c in trained)
    assert row[:2] == _packed(MODEL, "synthetic-emt") and row[-2:] == [stored, "error"]
    assert tables["metric errors"] == (
        _packed("model", "dataset", "task", "column", "reason"),
        _packed(MODEL, "synthetic-emt", "standard", BROKEN, REASON),
    )


def test_markdown_shows_the_plugin_columns_and_the_failing_metric(probe_store, stored):
    egbench, out = probe_store
    rows = [
        [c.strip() for c in ln.strip().strip("|").split(" | ")]
        for ln in egbench("report", "--out", str(out), "--format", "markdown").stdout.splitlines()
        if ln.startswith("| ")
    ]
    assert rows[0] == [*KEYS, *BUILTIN, HEADER, BROKEN]
    mine = next(r for r in rows if r[0] == MODEL and r[1] == "synthetic-emt")
    assert mine[-2:] == [stored, f"error ({REASON})"]


def test_csv_shows_the_plugin_columns_and_the_failing_metric(probe_store, stored):
    egbench, out = probe_store
    rows = list(csv.reader(io.StringIO(egbench("report", "--out", str(out), "--format", "csv").stdout)))
    assert rows[0] == [*KEYS, *BUILTIN, HEADER, BROKEN, "training", "status", "reason"]
    mine = next(r for r in rows[1:] if r[0] == MODEL and r[1] == "synthetic-emt")
    assert mine[rows[0].index(HEADER)] == stored
    assert mine[rows[0].index(BROKEN)] == f"error ({REASON})"


def test_html_shows_the_plugin_columns_and_the_failing_metric(probe_store, stored, tmp_path):
    egbench, out = probe_store
    egbench("report", "--out", str(out), "--format", "html", "--out-dir", str(tmp_path / "html"))
    index = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    for header in (HEADER, BROKEN):
        assert f">{html.escape(header)}</th>" in index, header
    assert f">{stored}</td>" in index
    assert f'title="{html.escape(REASON)}">error</td>' in index
