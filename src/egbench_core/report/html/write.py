"""Write the report folder: ``index.html`` (Overview), ``ood.html``, ``dataset-<id>.html`` per
dataset, ``provenance.html`` and ``assets/`` (style sheet, page script, plotly.js copied from the
plotly package), so the folder opens from ``file://`` with no network.

A folder that holds anything but an earlier egbench report is refused (:class:`ReportFolderError`);
an earlier report's files (listed in ``MARKER``) are replaced.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import logging
import time
from pathlib import Path

from egbench_core.report.html.cells import by_dataset, collect
from egbench_core.report.html.figures import colours, figures
from egbench_core.report.html.ood import ood_tables
from egbench_core.report.html.page_dataset import dataset_html
from egbench_core.report.html.page_ood import ood_page
from egbench_core.report.html.page_overview import overview
from egbench_core.report.html.provenance import provenance_html
from egbench_core.report.html.render import Site, dataset_page, esc
from egbench_core.report.html.series import dataset_tasks
from egbench_core.report.html.tables import boards, paper_values
from egbench_core.report.leaderboard import TABLES, Column, code_warnings, latest_cells
from egbench_core.report.not_run import group_not_run
from egbench_core.store import Store

log = logging.getLogger(__name__)
MARKER = ".egbench-report.json"
ASSETS = ("report.css", "report.js")


class ReportFolderError(RuntimeError):
    """The output folder cannot take the report (one line for the user)."""


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReportFolderError(f"--out-dir {out} is a file, expected a folder for the HTML report")
    marker = out / MARKER
    if out.is_dir() and any(out.iterdir()) and not marker.is_file():
        raise ReportFolderError(
            f"--out-dir {out} is not empty and holds no earlier egbench report; name a new or empty folder"
        )
    if marker.is_file():
        for name in json.loads(marker.read_text()).get("files", []):
            p = out / name
            if p.is_file() and p.resolve().is_relative_to(out.resolve()):
                p.unlink()
    (out / "assets").mkdir(parents=True, exist_ok=True)


def write_report(
    store: Store, out: Path, task: str | None = None, tables: dict[str, tuple[Column, ...]] = TABLES
) -> Path:
    """Render the store (the cells of ``task`` only, if given) into ``out``; returns the path of
    ``index.html``. ``tables``: the leaderboards' columns, :func:`~egbench_core.report.leaderboard.metric_tables`
    of the installed metrics (``egbench report`` passes them; default: the built-in metrics')."""
    import plotly.offline

    out = Path(out)
    _prepare(out)
    groups, not_done = collect(store, task)
    per_dataset = by_dataset(groups)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z")
    plotly_js = plotly.offline.get_plotlyjs_version()
    footer = (
        f"Rebuilt from the results store <code>{esc(store.root)}</code> on {esc(stamp)} by egbench-core "
        f"{esc(_version('egbench-core'))} with plotly.js {esc(plotly_js)} (inside this folder: it opens "
        "offline)."
    )
    site = Site(tuple(per_dataset), footer)
    files: dict[str, str] = {}

    cells = latest_cells(store, task)[0]
    n = {s: sum(c.status == s for c in cells) for s in ("done", "failed", "skipped")}
    summary = (
        f"{len(cells)} cells: {n['done']} done ({len(groups)} model × dataset × task rows), {n['failed']} "
        f"failed, {n['skipped']} skipped, {len(cells) - sum(n.values())} other."
    )
    not_run = group_not_run([[f"{c.model} [{c.preset}]", c.dataset, c.task, c.status, c.reason] for c in not_done])
    notes = code_warnings([c for g in groups.values() for c in g.cells])
    files["index.html"] = overview(site, boards(groups, not_done, paper_values(store), tables), not_run, summary, notes)
    files["ood.html"] = ood_page(site, ood_tables(groups))
    palette = colours([g.label for g in groups.values()])
    for dataset, tasks in per_dataset.items():
        sections = [(dt, figures(dt, palette)) for dt in dataset_tasks(store, tasks, dataset)]
        files[dataset_page(dataset)] = dataset_html(site, dataset, sections)
    builder = [
        ["egbench-core", _version("egbench-core")],
        ["plotly (Python)", _version("plotly")],
        ["plotly.js (assets/plotly.min.js)", plotly_js],
        ["generated", stamp],
        ["results store", str(store.root)],
    ]
    files["provenance.html"] = provenance_html(site, store, builder)

    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    assets = importlib.resources.files("egbench_core.report.html").joinpath("assets")
    for name in ASSETS:
        (out / "assets" / name).write_text(assets.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
    (out / "assets" / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    written = list(files) + [f"assets/{a}" for a in ASSETS] + ["assets/plotly.min.js"]
    (out / MARKER).write_text(json.dumps({"format": "egbench-html-report", "version": 1, "files": written}, indent=1))
    log.info("wrote the HTML report to %s (%d pages)", out, len(files))
    return out / "index.html"
