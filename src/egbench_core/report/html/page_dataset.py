"""A dataset's page: per task, the plots of every model on it (figures.py)."""

from __future__ import annotations

from egbench_core.report.html.figures import Figure
from egbench_core.report.html.render import Site, dataset_page, esc, json_script, page
from egbench_core.report.html.series import DatasetTask


def figure_html(fig_id: str, f: Figure) -> str:
    if not f.data:
        return (
            f'<figure class="fig empty" data-kind="{esc(f.key)}"><h3>{esc(f.title)}</h3>'
            f'<p class="noplot">{esc(f.empty)}</p></figure>'
        )
    spec = json_script(fig_id + "-data", {"data": f.data, "layout": f.layout})
    return (
        f'<figure class="fig" data-kind="{esc(f.key)}"><div class="plot" id="{esc(fig_id)}" '
        f'data-figure="{esc(fig_id)}-data"></div>{spec}<figcaption>{esc(f.caption)}</figcaption></figure>'
    )


def dataset_html(site: Site, dataset: str, sections: list[tuple[DatasetTask, list[Figure]]]) -> str:
    body = [
        f'<h1>{esc(dataset)}</h1><p class="lead">Every model\'s plots on {esc(dataset)}, one section per task. '
        "Hover a curve for its values; drag to zoom, double-click to reset; click a legend entry to hide it.</p>"
    ]
    if len(sections) > 1:
        body.append(
            "<p>Tasks: "
            + ", ".join(f'<a href="#task-{esc(dt.task)}">{esc(dt.task)}</a>' for dt, _ in sections)
            + "</p>"
        )
    for dt, figs in sections:
        models = sorted({s.model for s in dt.series})
        body.append(
            f'<section class="task" id="task-{esc(dt.task)}"><h2>{esc(dt.task)} '
            f"<small>{len(models)} model{'s' if len(models) != 1 else ''}, evaluation split "
            f'{esc(dt.split)}</small></h2><div class="grid">'
        )
        body += [figure_html(f"plot-{dt.task}-{f.key}", f) for f in figs]
        body.append("</div></section>")
    return page(site, dataset, dataset_page(dataset), "".join(body), plots=True)
