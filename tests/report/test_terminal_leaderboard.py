"""The terminal leaderboard (``egbench run`` / ``egbench report``): metric columns that are ``n/a``
or ``—`` in every row are hidden and named in the caption, each row stays on one line at 120
columns (constant key columns move to the caption, then the columns split over several tables),
and markdown/csv keep every column."""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

import egbench_core.console as ui
from egbench_core.cli import app
from egbench_core.report.leaderboard import (
    EMPTY,
    TABLES,
    Leaderboard,
    leaderboard,
    table_width,
    terminal_layout,
    to_csv,
    to_markdown,
)

WIDTH = 120
# what `egbench run` shows under "forward MD" (cli._show_run): stability, JSD and WF, dynamics
FORWARD_MD = TABLES["stability"] + TABLES["structure"][:2] + TABLES["dynamics"]
NO_ORACLE = [  # acac at the smoke preset runs no oracle, so no aligned trajectories either
    "MD F MAE oracle (meV/Å)",
    "F drift (MD/test)",
    "MD E MAE oracle (meV/atom)",
    "EV oracle (×1e-5)",
    "FV oracle",
    "aligned F MAE (meV/Å)",
    "EV aligned (×1e-5)",
    "FV aligned",
]


@pytest.fixture
def page(monkeypatch):
    """The console the CLI prints to, 120 columns wide; returns the buffer it writes."""
    buf = io.StringIO()
    monkeypatch.setattr(ui, "console", Console(file=buf, width=WIDTH, color_system=None))
    return buf


def _tables(text: str) -> list[list[str]]:
    """The body lines (``│ … │``) of each table drawn in ``text``."""
    out: list[list[str]] = []
    for ln in text.splitlines():
        if ln.startswith("┏"):
            out.append([])
        elif ln.startswith("│"):
            out[-1].append(ln)
    return out


def _shown_anywhere(lb: Leaderboard) -> set[int]:
    return {i for i in range(lb.key_columns, len(lb.headers)) if any(r[i] not in EMPTY for r in lb.rows)}


# -- a real smoke store ---------------------------------------------------------------------------
def test_a_newcomers_run_hides_what_did_not_run_and_fits_one_table(report_store, page):
    """One model on acac, task standard (what `make run` computes, at the smoke preset): the eight
    oracle and aligned columns are n/a or — and hidden, the row is one line of one table."""
    lb = leaderboard(report_store, "standard", columns=FORWARD_MD)
    keep = [k for k, r in enumerate(lb.rows) if r[0] == "toy-wide [smoke]" and r[1] == "acac"]
    lb = dataclasses.replace(lb, rows=[lb.rows[k] for k in keep], groups=[lb.groups[k] for k in keep])
    assert len(lb.rows) == 1
    layout = terminal_layout(lb, WIDTH)
    assert layout.hidden == NO_ORACLE
    assert [lb.headers[i] for i in layout.parts[0]] == [
        "model",
        "dataset",
        "task",
        "test split",
        "seeds",
        "stable fraction",
        "time stable (fs)",
        "JSD (nat)",
        "WF (%)",
    ]
    assert len(layout.parts) == 1 and not layout.folded
    ui.leaderboard("egbench leaderboard: forward MD", lb, "legend")
    text = page.getvalue()
    assert max(len(ln) for ln in text.splitlines()) <= WIDTH
    assert _tables(text) == [[ln for ln in text.splitlines() if ln.startswith("│ toy-wide [smoke] │ acac")]]
    caption = " ".join(ln.strip() for ln in text.split("hidden (n/a or — in every row", 1)[1].splitlines())
    assert all(h in caption for h in NO_ORACLE)
    for value in lb.rows[0][: lb.key_columns] + [lb.rows[0][i] for i in layout.parts[0][lb.key_columns :]]:
        assert value in text


@pytest.mark.parametrize("table", ["static", "structure", "dynamics", "stability"])
def test_report_tables_fit_120_columns_one_line_a_row(report_store, page, table):
    """`egbench report --table X` of a store with several models, datasets, tasks and seeds: no line
    is wider than 120, each row is one line in every table it is split over, and every column with
    a value in any row is shown (the synthetic-emt rows have oracle values: those columns stay)."""
    res = CliRunner().invoke(app, ["report", "--out", str(report_store.root), "--table", table])
    assert res.exit_code == 0, res.output
    text = page.getvalue()
    assert max(len(ln) for ln in text.splitlines()) <= WIDTH, text
    lb = leaderboard(report_store, columns=TABLES[table], train_frames=table == "static")
    layout = terminal_layout(lb, WIDTH)
    leaderboard_tables = _tables(text)[: len(layout.parts)]
    assert [len(body) for body in leaderboard_tables] == [len(lb.rows)] * len(layout.parts)
    shown = {i for part in layout.parts for i in part}
    assert _shown_anywhere(lb) <= shown
    for i in _shown_anywhere(lb):
        for r in lb.rows:
            assert r[i] in text
    if table == "dynamics":  # acac rows n/a, synthetic-emt rows with oracle values: nothing hidden
        assert layout.hidden == [] and "hidden (" not in text
        assert len(layout.parts) > 1  # eight wide columns do not fit beside the keys at 120


def test_markdown_and_csv_keep_every_column(report_store):
    lb = leaderboard(report_store, "standard", columns=FORWARD_MD)
    lb = dataclasses.replace(
        lb,
        rows=[r for r in lb.rows if r[1] == "acac"],
        groups=[g for r, g in zip(lb.rows, lb.groups) if r[1] == "acac"],
    )
    assert terminal_layout(lb, WIDTH).hidden == NO_ORACLE
    assert to_markdown(lb).splitlines()[0] == "| " + " | ".join(lb.headers) + " |"
    assert to_csv(lb).splitlines()[0].split(",")[: len(lb.headers)] == lb.headers


# -- the layout rules, on hand-made rows -----------------------------------------------------------
def _lb(headers: list[str], *rows: list[str], key_columns: int = 5) -> Leaderboard:
    return Leaderboard(headers=headers, rows=[list(r) for r in rows], key_columns=key_columns)


KEYS = ["model", "dataset", "task", "test split", "seeds"]


def test_only_columns_empty_in_every_row_are_hidden():
    lb = _lb(
        KEYS + ["all n/a", "n/a and —", "one value", "one error", "key-like —"],
        ["m [smoke]", "acac", "standard", "test", "0", "n/a", "n/a", "n/a", "n/a", "—"],
        ["m [smoke]", "3bpa", "standard", "test", "0", "n/a", "—", "1.5", "error", "—"],
    )
    layout = terminal_layout(lb, WIDTH)
    assert layout.hidden == ["all n/a", "n/a and —", "key-like —"]
    shown = [lb.headers[i] for part in layout.parts for i in part]
    assert "one value" in shown and "one error" in shown
    # a key column is never hidden, even when it is — in every row
    assert "dataset" in shown
    lb.key_columns = 6
    assert "seeds" in [lb.headers[i] for part in terminal_layout(lb, WIDTH).parts for i in part]


def test_no_rows_hide_nothing():
    assert terminal_layout(_lb(KEYS + ["x"]), WIDTH).hidden == []


def _wide(n: int) -> Leaderboard:
    row = ["model-with-a-long-name [quick]", "acac", "standard", "test", "0"] + [f"{k}.000 ± 0.000" for k in range(n)]
    other = ["model-with-a-long-name [quick]", "acac", "ood-temperature", "test-600k", "0,1"] + ["1.0"] * n
    return _lb(KEYS + [f"metric number {k} (meV/Å)" for k in range(n)], row, other)


def test_too_wide_splits_in_order_repeating_the_row_name(page):
    lb = _wide(12)
    layout = terminal_layout(lb, WIDTH)
    assert len(layout.parts) > 1 and not layout.folded  # test split and seeds differ between the rows
    assert layout.parts[0][:5] == [0, 1, 2, 3, 4]
    assert all(part[:3] == [0, 1, 2] and len(part) > 3 for part in layout.parts[1:])
    metrics = [i for part in layout.parts for i in part if i >= 5]
    assert metrics == list(range(5, 17))  # each once, in order
    for part in layout.parts:
        assert table_width(layout.widths[i] for i in part) <= WIDTH
        for i in part:  # a row's cell fits its column: the row is one line
            assert all(len(r[i]) <= layout.widths[i] for r in lb.rows)
    # the same through rich: every line within 120, each row one line in each table
    ui.leaderboard("t", lb, "legend")
    text = page.getvalue()
    assert max(len(ln) for ln in text.splitlines()) <= WIDTH
    assert [len(body) for body in _tables(text)] == [2] * len(layout.parts)
    assert f"t (1 of {len(layout.parts)})" in text


def test_constant_key_columns_move_to_the_caption_only_when_too_wide(page):
    row = ["model-with-a-long-name [quick]", "acac", "standard", "test", "0", "400 of 450 #543a9853"]
    headers = KEYS + ["train frames"] + [f"m{k} (meV)" for k in range(4)]
    lb = _lb(headers, row + ["12.34 ± 0.56"] * 4, key_columns=6)
    layout = terminal_layout(lb, WIDTH)
    assert layout.folded == [("test split", "test"), ("seeds", "0"), ("train frames", "400 of 450 #543a9853")]
    assert len(layout.parts) == 1 and [lb.headers[i] for i in layout.parts[0][:3]] == ["model", "dataset", "task"]
    ui.leaderboard("t", lb, "legend")
    assert "every row: test split test; seeds 0; train frames 400 of 450 #543a9853" in page.getvalue()
    assert terminal_layout(lb, 250).folded == []  # wide enough: nothing moves


def test_headers_wrap_over_as_few_lines_as_fit():
    lb = _lb(KEYS + ["a rather long header (meV/Å)"], ["m", "d", "t", "test", "0", "1.0"])
    assert terminal_layout(lb, WIDTH).widths[5] == len("a rather long header (meV/Å)")  # one line
    narrow = terminal_layout(lb, 45)
    assert narrow.widths[5] < len("a rather long header (meV/Å)")
    assert table_width(narrow.widths[i] for i in narrow.parts[0]) <= 45
