"""The OOD page: per task declared out-of-distribution (``TaskSpec.ood``), each model's
in-distribution and out-of-distribution values side by side with their ratio (the paper's
Tables 5–8)."""

from __future__ import annotations

from egbench_core.report.html.ood import OodTable
from egbench_core.report.html.render import Site, esc, page, sortable, text_td, value_td


def ood_table_html(t: OodTable) -> str:
    fixed = [
        ("model", "model [preset]"),
        ("dataset", ""),
        ("seeds", "seeds shared by both sides"),
        ("in-distribution", "the standard task on the dataset the task trains on"),
        ("out-of-distribution", "this task"),
    ]
    leaves = list(fixed)
    groups = f'<th colspan="{len(fixed)}" class="group"></th>'
    for col in t.columns:
        groups += f'<th colspan="3" class="group">{esc(col.header)}</th>'
        leaves += [
            ("ID", f"{col.header}, in distribution"),
            ("OOD", f"{col.header}, out of distribution"),
            ("OOD/ID", f"{col.header}: out-of-distribution / in-distribution"),
        ]
    rows = []
    for r in t.rows:
        cells = (
            f'<td class="model">{esc(r.model)} <span class="preset">[{esc(r.preset)}]</span></td>'
            + text_td(r.dataset, cls="key")
            + text_td(r.seeds, cls="key")
            + text_td(r.id_label, cls="cond")
            + text_td(r.ood_label, cls="cond")
        )
        for a, b, ratio in r.cells:
            cells += value_td(a, "num id") + value_td(b, "num ood") + value_td(ratio, "num ratio")
        rows.append(("row-done", cells))
    left = (
        f'<p class="note">Left out, without any value for this task: {esc("; ".join(t.left_out))}</p>'
        if t.left_out
        else ""
    )
    return (
        f'<section class="board" id="ood-{esc(t.task)}"><h2>{esc(t.task)}</h2>'
        f"{sortable(f't-ood-{t.task}', leaves, rows, head_rows=f'<tr>{groups}</tr>')}{left}</section>"
    )


def ood_page(site: Site, tables: list[OodTable]) -> str:
    intro = (
        '<h1>Out of distribution</h1><p class="lead">For each task its plugin declares out of distribution, '
        "each model's value in distribution (its "
        "<code>standard</code> cell on the dataset the task trains on, same preset and seeds) beside its value "
        "out of distribution, and the ratio OOD / ID (above 1: the error grew; for the stable fraction, below "
        "1: fewer replicas survived). Like the paper's Tables 5–8.</p>"
    )
    if not tables:
        body = intro + (
            "<p>No task declared out of distribution in this store: <code>egbench run --tasks ood</code> runs them.</p>"
        )
    else:
        body = intro + "".join(ood_table_html(t) for t in tables)
    return page(site, "OOD", "ood.html", body)
