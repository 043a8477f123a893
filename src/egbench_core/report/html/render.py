"""What every page shares: the page shell (navigation, scripts from ``assets/`` only), escaping,
value cells with their state and reason on hover, and sortable tables."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from egbench_core.report.html.tables import Cell

STATE_CLASS = {
    "value": "v",
    "n/a": "na",
    "error": "err",
    "none": "none",
    "failed": "failed",
    "skipped": "skipped",
    "interrupted": "failed",
    "running": "running",
}


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


@dataclass(frozen=True)
class Site:
    """What the navigation and the footer need."""

    datasets: tuple[str, ...]
    footer: str


def dataset_page(dataset: str) -> str:
    return f"dataset-{dataset}.html"


def page(site: Site, title: str, current: str, body: str, plots: bool = False) -> str:
    links = [("index.html", "Overview"), ("ood.html", "OOD")]
    links += [(dataset_page(d), d) for d in site.datasets]
    links.append(("provenance.html", "Provenance"))
    here = ' aria-current="page"'
    nav = "".join(f'<a href="{esc(href)}"{here if href == current else ""}>{esc(text)}</a>' for href, text in links)
    scripts = (
        '<script src="assets/plotly.min.js"></script>\n' if plots else ""
    ) + '<script src="assets/report.js"></script>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · egbench report</title>
<link rel="stylesheet" href="assets/report.css">
{scripts}
</head>
<body>
<header class="top"><span class="brand">egbench report</span><nav>{nav}</nav></header>
<main>
{body}
</main>
<footer>{site.footer}</footer>
</body>
</html>
"""


def value_td(cell: Cell, extra_class: str = "") -> str:
    """A value cell: ``data-sort`` holds the number it sorts by; the reason of an n/a, error,
    skipped or failed cell is its title (shown on hover)."""
    cls = (
        f"c-{STATE_CLASS.get(cell.state, 'none')}"
        + (" best" if cell.best else "")
        + (f" {extra_class}" if extra_class else "")
    )
    attrs = f' class="{cls}"'
    if cell.number is not None and math.isfinite(cell.number):
        attrs += f' data-sort="{cell.number!r}"'
    title = cell.reason
    if cell.best:
        title = "best of the models on this dataset and task" + (f"; {title}" if title else "")
    if title:
        attrs += f' title="{esc(title)}"'
    paper = f'<span class="paper" title="{esc(cell.paper_title)}">paper {esc(cell.paper)}</span>' if cell.paper else ""
    return f"<td{attrs}>{esc(cell.text)}{paper}</td>"


def text_td(text: str, title: str = "", cls: str = "") -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' title="{esc(title)}"' if title else "")
    return f"<td{attrs}>{esc(text)}</td>"


def sortable(
    table_id: str, headers: Iterable[tuple[str, str]], rows: Iterable[tuple[str, str]], head_rows: str = ""
) -> str:
    """``headers``: (text, title) of the clickable header row; ``rows``: (tr class, cells html).
    ``head_rows``: header rows above the clickable one (e.g. column groups)."""
    ths = "".join(
        f'<th data-col="{i}" title="{esc(title or "click to sort")}" tabindex="0">{esc(text)}</th>'
        for i, (text, title) in enumerate(headers)
    )
    body = "".join(f'<tr class="{cls}">{cells}</tr>\n' for cls, cells in rows)
    return (
        f'<div class="scroll"><table class="sortable" id="{esc(table_id)}">'
        f"<thead>{head_rows}<tr>{ths}</tr></thead><tbody>\n{body}</tbody></table></div>"
    )


def plain_table(headers: list[str], rows: list[list[str]], table_id: str = "") -> str:
    return sortable(
        table_id or "t-" + "-".join(h.split()[0].lower() for h in headers[:2]),
        [(h, "") for h in headers],
        [("", "".join(text_td(str(x)) for x in r)) for r in rows],
    )


def json_script(element_id: str, value: Any) -> str:
    """A JSON island that the page script reads (every ``<`` escaped, so no text in the data can
    end or open a tag)."""
    text = json.dumps(_finite(value), separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def _finite(x: Any) -> Any:
    """NaN and infinities become null (a gap in a plotted line)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x
