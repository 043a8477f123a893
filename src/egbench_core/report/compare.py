"""``egbench report --compare paper``: the article's printed value beside egbench's, for the same
model × dataset × metric.

A join layer over the rows of :func:`report.leaderboard` (which computes and formats egbench's
values, as in the plain report) and the article's tables (:mod:`paper`). Each egbench column
shown is followed by a ``paper`` column; a mark on it says where the two definitions differ
(``MARKS``). Which paper table a row pairs with depends on its task (``ROUTES``): ``standard``
rows pair with Tables 1–4 and with the 300 K / LiPS20-train rows of Tables 5–8, which repeat the
same simulations (the article's copies differ slightly; each is shown with its table); the OOD
tasks pair with the 600 K, crystal and test rows of Tables 5–8. egbench rows the article has no
row for (other models, datasets or tasks) are left out and counted in a note.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace

from egbench_core.report.leaderboard import TABLES, Column, Leaderboard, latest_cells, leaderboard
from egbench_core.report.paper import ARTICLE, load_tables
from egbench_core.store import Store

SOURCES = ("paper",)

MARKS = {
    "†": "WF: the paper's WF has no square root (Σ(g − g_ref)² / Σ g_ref², printed ×100 as %); it is paired with "
    "egbench's `wf_nosqrt`, the same un-rooted ratio ×100 (egbench's WF, with the root, is in the report "
    "without --compare)",
    "‡": "JSD: the paper's JSD is not a bounded JSD (values up to 66, where the JSD of two normalised distributions "
    "is at most ln 2 ≈ 0.693 nat): its values compare only within the paper, not with egbench's",
    "§": "EV/FV: the paper's are aligned-mode (each frame compared with the reference trajectory at the same time) "
    "over 1,000 steps, geometric mean over the trajectory, mean (± std) over 5 simulations; paired with "
    "egbench's aligned columns (over the first τ fs, see docs/metrics.md); EV printed ×1e-5 on both sides",
    "¶": "cost: the hardware of the paper's Table 4 is unknown (training hardware not named; inference on an "
    "unnamed CPU, mean of 5 runs of 1,000 steps); egbench's s/epoch and ms/step, measured on the machine that "
    "ran the cell, are converted to min/epoch and min/1000 steps",
}


@dataclass(frozen=True)
class Pair:
    """An egbench column and, when ``kind`` is set, the paper column shown right after it."""

    column: Column  # egbench's, computed by the leaderboard
    kind: str = ""  # the paper tables it pairs with: static | cost | structure | dynamics ("" none)
    value: str = ""  # the paper CSV's column
    std: str = ""  # the paper CSV's std column ("" none)
    mark: str = ""  # key of MARKS


def _col(layout: str, metric: str, mode: str = "") -> Column:
    return next(c for c in TABLES[layout] if c.metric == metric and c.mode == mode)


# ms/step × 1000 steps / 60 000 ms/min = ms/step / 60; s/epoch / 60 = min/epoch
LAYOUTS = {
    "static": (
        Pair(_col("static", "energy_mae"), "static", "energy_mae_meV"),
        Pair(_col("static", "force_mae"), "static", "force_mae_meV_per_A"),
        Pair(
            replace(_col("static", "train_time_per_epoch"), header="train min/epoch", scale=1 / 60, digits=3),
            "cost",
            "train_min_per_epoch",
            mark="¶",
        ),
        Pair(
            replace(_col("static", "md_time_per_step"), header="MD min/1000 steps", scale=1 / 60, digits=3),
            "cost",
            "inference_min_per_1000_steps",
            mark="¶",
        ),
    ),
    "structure": (
        Pair(_col("structure", "jsd"), "structure", "jsd", mark="‡"),
        Pair(_col("structure", "wf_nosqrt"), "structure", "wf", mark="†"),
    ),
    "dynamics": (
        Pair(_col("dynamics", "ev", "aligned"), "dynamics", "ev_x1e5", "ev_std_x1e5", "§"),
        Pair(_col("dynamics", "fv", "aligned"), "dynamics", "fv", "fv_std", "§"),
    ),
    "stability": tuple(Pair(c) for c in TABLES["stability"]),  # the article has no stability table
}
# The paper tables whose rows select the egbench rows shown (stability: those with the paper's MD).
ROW_KINDS = {
    "static": ("static", "cost"),
    "structure": ("structure",),
    "dynamics": ("dynamics",),
    "stability": ("structure", "dynamics"),
}

_LIPS20 = ("lips20", "lips20-glass")  # Tables 7 and 8 have no dataset column: they are LiPS20's
# (egbench task, paper table, fixed key columns, datasets: None = the table's own dataset column)
ROUTES: tuple[tuple[str, int, dict[str, str], tuple[str, ...] | None], ...] = (
    ("standard", 1, {}, None),
    ("standard", 4, {}, None),
    ("standard", 2, {}, None),
    ("standard", 3, {}, None),
    ("standard", 6, {"temperature_K": "300"}, None),
    ("standard", 5, {"temperature_K": "300"}, None),
    ("standard", 8, {"structures": "train"}, ("lips20",)),
    ("standard", 7, {"structures": "train"}, ("lips20",)),
    ("ood-temperature", 6, {"temperature_K": "600"}, None),
    ("ood-temperature", 5, {"temperature_K": "600"}, None),
    ("ood-crystal", 8, {"structures": "crystal"}, ("lips20",)),
    ("ood-crystal", 7, {"structures": "crystal"}, ("lips20",)),
    ("ood-composition", 8, {"structures": "test"}, _LIPS20),
    ("ood-composition", 7, {"structures": "test"}, _LIPS20),
)
# Tables 2 and 3 on acac and 3BPA are the 300 K simulations that Tables 5 and 6 repeat.
_PAPER_MD_K = {(2, "acac"): 300.0, (3, "acac"): 300.0, (2, "3bpa"): 300.0, (3, "3bpa"): 300.0}
_LABEL = re.compile(r"^(?P<model>.+?) \[(?P<preset>[^\]]+)\](?: (?P<marks>\S+))?$")


@dataclass
class Comparison:
    title: str
    headers: list[str]  # table and markdown
    csv_headers: list[str]
    rows: list[list[str]]
    errors: dict[tuple[str, str, str, str], str] = field(
        default_factory=dict
    )  # (model [preset], dataset, task, header)
    legend: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Match:
    table: int
    label: str
    row: dict[str, str]
    md_temperature_K: float | None


def compare(store: Store, source: str, layout: str, task: str | None = None) -> Comparison:
    """egbench's ``layout`` columns for every row that pairs with the article, each followed by
    the article's value."""
    if source not in SOURCES:
        raise ValueError(f"--compare {source!r}: expected {', '.join(SOURCES)}")
    pairs = LAYOUTS[layout]
    lb = leaderboard(store, task, columns=tuple(p.column for p in pairs))
    md_k = _md_temperatures(store, task)
    fixed = ["model", "preset", "dataset", "task", "paper table", "seeds"]
    cmp = Comparison(
        title=f"egbench beside the paper: {layout}",
        headers=fixed + [h for p in pairs for h in _headers(p, for_csv=False)] + ["note"],
        csv_headers=fixed + [h for p in pairs for h in _headers(p, for_csv=True)] + ["note"],
        rows=[],
        errors={(e[0], e[1], e[2], e[3]): e[4] for e in lb.errors},
    )
    unpaired = 0
    for row in lb.rows:
        cells = dict(zip(lb.headers, row))
        label = _LABEL.match(row[0])
        assert label is not None  # leaderboard labels its rows "model [preset]" (+ marks)
        model, preset, marks = label["model"], label["preset"], label["marks"] or ""
        by_kind = _matches(model, cells["dataset"], cells["task"], ROW_KINDS[layout])
        if not by_kind:
            unpaired += 1
            continue
        ours_k = md_k.get((model, preset, cells["dataset"], cells["task"]))
        for group in _groups(by_kind, paired=any(p.kind for p in pairs)):
            out = [
                f"{model} {marks}".strip(),
                preset,
                cells["dataset"],
                cells["task"],
                _source_label(group),
                cells["seeds"],
            ]
            for p in pairs:
                out.append(cells[p.column.header])
                if p.kind:
                    hit = next((m for m in group if load_tables()[m.table].kind == p.kind), None)
                    out.append(_paper_text(hit.row, p) if hit else "—")
            theirs_k = next((m.md_temperature_K for m in group if m.md_temperature_K is not None), None)
            note = ""
            if layout != "static" and ours_k is not None and theirs_k is not None and abs(ours_k - theirs_k) > 0.5:
                note = f"egbench's MD at {ours_k:g} K, the paper's at {theirs_k:g} K"
            cmp.rows.append(out + [note])
    cmp.legend = _legend(pairs, layout, lb)
    if unpaired:
        cmp.notes.append(
            f"{unpaired} egbench row(s) have no counterpart in the paper's tables (model, dataset or task "
            f"not in them) and are not shown: see the report without --compare"
        )
    cmp.notes.extend(lb.notes)
    return cmp


def _headers(p: Pair, for_csv: bool) -> list[str]:
    if not p.kind:
        return [p.column.header]
    paper = f"paper {p.column.header}" if for_csv else "paper"
    return [p.column.header, f"{paper} {p.mark}".strip()]


def _matches(model: str, dataset: str, task: str, kinds: tuple[str, ...]) -> dict[str, list[_Match]]:
    """The article's rows for this model × dataset × task, grouped by the kind of their table."""
    tables = load_tables()
    out: dict[str, list[_Match]] = defaultdict(list)
    for route_task, number, fixed, datasets in ROUTES:
        table = tables[number]
        if route_task != task or table.kind not in kinds or (datasets is not None and dataset not in datasets):
            continue
        key = {**fixed, "model": model, **({"dataset": dataset} if "dataset" in table.keys else {})}
        hit = table.row(**key)
        if hit is None:
            continue
        qualifier = ", ".join(f"{v} K" if k == "temperature_K" else v for k, v in fixed.items())
        k = float(fixed["temperature_K"]) if "temperature_K" in fixed else _PAPER_MD_K.get((number, dataset))
        out[table.kind].append(_Match(number, f"{number}" + (f" ({qualifier})" if qualifier else ""), hit, k))
    return out


def _groups(by_kind: dict[str, list[_Match]], paired: bool) -> list[list[_Match]]:
    """The article's rows shown together on one output row: the i-th match of each kind (so
    Tables 1 and 4 share a row, while Table 3 and its 300 K copy in Table 5 get one each); all of
    them on one row when the layout has no paper columns."""
    if not paired:
        return [[m for ms in by_kind.values() for m in ms]]
    return [[ms[i] for ms in by_kind.values() if i < len(ms)] for i in range(max(map(len, by_kind.values())))]


def _source_label(group: list[_Match]) -> str:
    """``Table 3``, ``Table 6 (600 K)``, ``Tables 1, 4``."""
    return ("Table " if len(group) == 1 else "Tables ") + ", ".join(m.label for m in group)


def _paper_text(row: dict[str, str], p: Pair) -> str:
    """As printed; a value the article printed as "—" is "—"; an empty std is left out."""
    value = row[p.value]
    if not value:
        return "—"
    std = row.get(p.std, "") if p.std else ""
    return f"{value} ± {std}" if std else value


def _md_temperatures(store: Store, task: str | None) -> dict[tuple[str, str, str, str], float]:
    """The MD temperature of each (model, preset, dataset, task), from the task plan in provenance."""
    cells, _ = latest_cells(store, task)
    out: dict[tuple[str, str, str, str], float] = {}
    for c in cells:
        md = (((c.provenance or {}).get("task") or {}).get("plan") or {}).get("md") or {}
        if c.status == "done" and md.get("temperature_K") is not None:
            out.setdefault((c.model, c.preset, c.dataset, c.task), float(md["temperature_K"]))
    return out


def _legend(pairs: tuple[Pair, ...], layout: str, lb: Leaderboard) -> list[str]:
    lines = [
        f"paper: the value printed in the article ({ARTICLE}), transcribed into egbench_core/paper_tables "
        '(see its README.md), not computed by egbench; "—": the article printed no value, or egbench stored '
        "none; a paper value without ± has no readable std in the article; n/a: the metric does not apply to "
        "the egbench cell (docs/metrics.md); error: it failed",
        "preset: only egbench's `paper` preset is like-for-like with the article; `quick` and `smoke` rows "
        "(smaller models, fewer epochs, shorter MD) are not expected to match",
    ]
    for mark in dict.fromkeys(p.mark for p in pairs if p.mark):
        lines.append(f"{mark} {MARKS[mark]}")
    if not any(p.kind for p in pairs):
        lines.append(
            "the article's tables give no stability figures: egbench's columns stand alone; \"paper table\" "
            "names the article's simulations of the same model × dataset"
        )
    else:
        lines.append(
            f"egbench's columns without a counterpart in the article are in `egbench report --table {layout}` "
            "without --compare"
        )
    lines.extend(f"{m} {meaning}" for m, meaning in lb.marks.items())
    return lines


def _with_reason(cmp: Comparison, row: list[str], i: int) -> str:
    """An egbench ``error`` carries its reason (csv and markdown)."""
    if row[i] != "error":
        return row[i]
    label = f"{row[0].split(' ')[0]} [{row[1]}]"
    why = cmp.errors.get((label, row[2], row[3], cmp.headers[i]), "")
    return f"error ({why})" if why else "error"


def table_view(cmp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Headers and rows for the terminal table: the ``note`` column only when a row has a note."""
    if any(r[-1] for r in cmp.rows):
        return cmp.headers, cmp.rows
    return cmp.headers[:-1], [r[:-1] for r in cmp.rows]


def to_markdown(cmp: Comparison) -> str:
    out = io.StringIO()
    out.write("| " + " | ".join(cmp.headers) + " |\n|" + "|".join("---" for _ in cmp.headers) + "|\n")
    for r in cmp.rows:
        out.write("| " + " | ".join(_with_reason(cmp, r, i).replace("|", "\\|") for i in range(len(r))) + " |\n")
    for line in cmp.legend:
        out.write(f"\n{line}\n")
    for note in cmp.notes:
        out.write(f"\nwarning: {note}\n")
    return out.getvalue()


def to_csv(cmp: Comparison) -> str:
    """The rows only (the legend is :attr:`Comparison.legend`; the headers carry its marks)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(cmp.csv_headers)
    for r in cmp.rows:
        w.writerow([_with_reason(cmp, r, i) for i in range(len(r))])
    return out.getvalue()
