"""The Overview page: what the store holds, the cells not run grouped by reason, and one sortable
leaderboard per paper table."""

from __future__ import annotations

from egbench_core.report.compare import ARTICLE
from egbench_core.report.html.render import Site, esc, page, sortable, text_td, value_td
from egbench_core.report.html.tables import Board, Row
from egbench_core.report.leaderboard import MARKS, MODE_TITLES
from egbench_core.report.not_run import NotRunGroup, counts_by_status

LEGEND = (
    (
        "c-v",
        "1.23 ± 0.04",
        "the value; ± the standard deviation over MD replicas or, with several seeds, the mean ± "
        "sample standard deviation over seeds",
    ),
    ("c-v best", "1.23", "best of the models on the same dataset and task (per column)"),
    ("c-na", "n/a", "not applicable (hover for why; docs/metrics.md)"),
    ("c-err", "error", "the metric failed (hover for the error)"),
    ("c-none", "—", "nothing stored (e.g. no MD in this task)"),
    ("c-skipped", "skipped", "the cell was not run (hover for why)"),
    ("c-failed", "failed", "the cell failed (hover for the error)"),
)


def _model_td(row: Row) -> str:
    badges = "".join(
        f'<span class="badge b-trunc" title="{esc(MARKS[m])}">{"truncated" if m == "*" else "altered"}</span>'
        for m in row.marks
    )
    if row.status != "done":
        badges += f'<span class="badge b-{esc(row.status)}" title="{esc(row.reason)}">{esc(row.status)}</span>'
    return (
        f'<td class="model" data-text="{esc(row.model)}">{esc(row.model)} <span class="preset">[{esc(row.preset)}]'
        f"</span>{badges}</td>"
    )


def board_html(b: Board) -> str:
    headers = [
        ("model", "model [preset]"),
        ("training", "; ".join(f"{m}: {t}" for m, t in MODE_TITLES.items())),
        ("dataset", ""),
        ("task", ""),
        ("split", "the evaluation split of the static columns"),
        ("seeds", ""),
    ] + [(c.header, f"{c.metric}{' (' + c.mode + ')' if c.mode else ''}: click to sort") for c in b.columns]
    rows = []
    for r in b.rows:
        cells = (
            _model_td(r)
            + text_td(r.training, cls="key")
            + text_td(r.dataset, cls="key")
            + text_td(r.task, cls="key")
            + text_td(r.split, cls="key")
            + text_td(r.seeds, cls="key")
            + "".join(value_td(c, "num") for c in r.cells)
        )
        rows.append((f"row-{r.status}" + (" row-skipped" if r.status == "skipped" else ""), cells))
    skipped = sum(r.status == "skipped" for r in b.rows)
    toggle = (
        (
            f'<label class="toggle"><input type="checkbox" class="show-skipped" data-table="t-{esc(b.key)}"> '
            f"show {skipped} skipped cell{'s' if skipped != 1 else ''}</label>"
        )
        if skipped
        else ""
    )
    return (
        f'<section class="board" id="board-{esc(b.key)}"><h2>{esc(b.title)} <small>{esc(b.source)}</small></h2>'
        f"{toggle}{sortable(f't-{b.key}', headers, rows)}</section>"
    )


def not_run_html(groups: list[NotRunGroup]) -> str:
    if not groups:
        return "<p>Every cell in the store is done.</p>"
    counts = counts_by_status(groups)
    items = []
    for g in groups:
        cells = "".join(f"<li>{esc(c[0])} × {esc(c[1])} × {esc(c[2])}: {esc(c[4])}</li>" for c in g.cells)
        items.append(
            f'<li><details><summary><span class="badge b-{esc(g.status)}">{g.count} {esc(g.status)}</span> '
            f"{esc(g.kind)}</summary><ul>{cells}</ul></details></li>"
        )
    head = ", ".join(f"{n} {s}" for s, n in counts.items())
    return f'<div class="notrun"><p>Cells not run: {esc(head)}, by reason:</p><ul>{"".join(items)}</ul></div>'


def overview(site: Site, boards: list[Board], groups: list[NotRunGroup], summary: str, notes: list[str]) -> str:
    legend = "".join(
        f'<tr><td class="{cls}">{esc(text)}</td><td>{esc(meaning)}</td></tr>' for cls, text, meaning in LEGEND
    )
    legend += (
        '<tr><td><span class="paper">paper 1.2</span></td><td>the value printed in the EGraFFBench article '
        f"for the same model, dataset and metric ({esc(ARTICLE)}); hover for the table and where the "
        "definitions differ. Only egbench's <code>paper</code> preset is like-for-like.</td></tr>"
    )
    warn = "".join(f'<p class="warning">warning: {esc(n)}</p>' for n in notes)
    body = (
        f'<h1>Leaderboards</h1><p class="lead">{esc(summary)} Click a column header to sort; hover a value '
        f"for its reason.</p>{warn}{not_run_html(groups)}"
        f'<details class="legend"><summary>How to read a value</summary><table>{legend}</table></details>'
        + "".join(board_html(b) for b in boards)
    )
    return page(site, "Overview", "index.html", body)
