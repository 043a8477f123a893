"""The Overview's leaderboards: one per paper table, models × datasets × tasks, every value with the
number it sorts by, its state (a value, n/a, error, —, or the status of a cell that did not
finish) and the reason behind a state; the best value per column among the models of one dataset
and task; the article's value where ``egbench report --compare paper`` pairs one."""

from __future__ import annotations

from dataclasses import dataclass, field

from egbench_core.default_plugins.declared_metrics import MD_COST, TRAIN_COST
from egbench_core.report.compare import LAYOUTS as COMPARE_LAYOUTS
from egbench_core.report.compare import MARKS as PAPER_MARKS
from egbench_core.report.compare import compare
from egbench_core.report.html.cells import Group, best_direction
from egbench_core.report.leaderboard import MARKS, MODE_ORDER, TABLES, Column, cell_mode
from egbench_core.store import CellRow, Store


def pick_columns(layout: str, *keys: tuple[str, str]) -> tuple[Column, ...]:
    cols = {(c.metric, c.mode): c for c in TABLES[layout]}
    return tuple(cols[k] for k in keys)


@dataclass(frozen=True)
class Layout:
    key: str
    title: str
    source: str  # the article's table it follows
    columns: tuple[Column, ...]


COST_VALUES = frozenset(v.id for v in (*TRAIN_COST, *MD_COST))  # the static table's columns on the Cost board
DYNAMICS = pick_columns(
    "dynamics",
    ("md_force_mae", "oracle"),
    ("md_force_drift", "oracle"),
    ("md_energy_mae_per_atom", "oracle"),
    ("aligned_force_mae", "aligned"),
    ("ev", "oracle"),
    ("fv", "oracle"),
    ("ev", "aligned"),
    ("fv", "aligned"),
)


def layouts(tables: dict[str, tuple[Column, ...]] = TABLES) -> tuple[Layout, ...]:
    """The Overview's boards over ``tables`` (:func:`~egbench_core.report.leaderboard.metric_tables` of the
    installed metrics: built-in and plugin columns), each table's columns by their declared order,
    except: the static table's cost columns (``COST_VALUES``) make the Cost board, its others the
    Static errors board; the built-in dynamics columns follow the article's Table 3, a plugin's
    dynamics columns come after them."""
    static = tables["static"]
    dynamics = DYNAMICS + tuple(c for c in tables["dynamics"] if c not in TABLES["dynamics"])
    return (
        Layout("static", "Static errors", "paper Table 1", tuple(c for c in static if c.metric not in COST_VALUES)),
        Layout("structure", "Structure", "paper Table 2", tables["structure"]),
        Layout("dynamics", "Dynamics", "paper Table 3 (oracle errors first, then EV/FV)", dynamics),
        Layout("stability", "Stability", "no paper table", tables["stability"]),
        Layout(
            "cost",
            "Cost",
            "paper Table 4 (measured on the machine that ran the cell)",
            tuple(c for c in static if c.metric in COST_VALUES),
        ),
    )


LAYOUTS = layouts()  # the built-in metrics' boards
STATE_TEXT = {"n/a": "not applicable", "error": "the metric failed", "—": "nothing stored (e.g. no MD in this task)"}


@dataclass
class Cell:
    text: str
    number: float | None = None
    state: str = "value"  # value | n/a | error | none | failed | skipped | interrupted | running
    reason: str = ""
    best: bool = False
    paper: str = ""  # the article's value as printed (with its unit when it differs from ours)
    paper_title: str = ""  # which table, and the mark's meaning


@dataclass
class Row:
    model: str
    preset: str
    dataset: str
    task: str
    split: str
    seeds: str
    status: str  # done | failed | skipped | interrupted | running
    reason: str = ""
    marks: str = ""
    cells: list[Cell] = field(default_factory=list)
    training: str = ""  # from-scratch | zero-shot | fine-tuned ("" for a cell that did not finish)


@dataclass
class Board:
    key: str
    title: str
    source: str
    columns: tuple[Column, ...]
    rows: list[Row]


def _state(v) -> str:
    if v.number is not None:
        return "value"
    return {"n/a": "n/a", "error": "error"}.get(v.text, "none")


def paper_values(store: Store) -> dict[tuple[str, str, str, str], dict[tuple[str, str], tuple[str, str]]]:
    """(model, preset, dataset, task) -> (metric, mode) -> (the article's value, its source and
    mark), for every value ``egbench report --compare paper`` pairs (its first pairing)."""
    out: dict[tuple[str, str, str, str], dict[tuple[str, str], tuple[str, str]]] = {}
    ours = {(c.metric, c.mode): c for cols in TABLES.values() for c in cols}
    for layout in ("static", "structure", "dynamics"):
        cmp = compare(store, "paper", layout)
        for row in cmp.rows:
            key = (row[0].split(" ")[0], row[1], row[2], row[3])
            i = 6
            for p in COMPARE_LAYOUTS[layout]:
                i += 1
                if not p.kind:
                    continue
                text, i = row[i], i + 1
                if text == "—":
                    continue
                # a value the comparison converts (cost: min/epoch) keeps the paper's unit
                converted = p.column.scale != ours[(p.column.metric, p.column.mode)].scale
                unit = p.column.header.split(" ", 1)[1] if converted else ""
                title = f"EGraFFBench {row[4]}" + (f", in {unit}" if unit else "")
                if p.mark:
                    title += f". {p.mark} {PAPER_MARKS[p.mark]}"
                out.setdefault(key, {}).setdefault(
                    (p.column.metric, p.column.mode),
                    (f"{text} {unit}".strip() + (f" {p.mark}" if p.mark else ""), title),
                )
    return out


def board(
    layout: Layout, groups: dict[tuple[str, str, str, str], Group], not_done: list[CellRow], paper: dict | None = None
) -> Board:
    paper = paper or {}
    rows = []
    for key, g in groups.items():
        row = Row(
            g.model,
            g.preset,
            g.dataset,
            g.task,
            g.split,
            ",".join(map(str, g.seeds)),
            "done",
            reason="; ".join(MARKS[m] for m in g.marks),
            marks=g.marks,
            training=cell_mode(g.cells[0].info),
        )
        theirs = paper.get(key, {})
        for col in layout.columns:
            v = g.value(col)
            state = _state(v)
            cell = Cell(v.text, v.number, state, v.reason or (STATE_TEXT["—"] if state == "none" else ""))
            cell.paper, cell.paper_title = theirs.get((col.metric, col.mode), ("", ""))
            row.cells.append(cell)
        rows.append(row)
    for c in not_done:
        why = c.reason or c.status
        rows.append(
            Row(
                c.model,
                c.preset,
                c.dataset,
                c.task,
                "",
                str(c.seed),
                c.status,
                why,
                cells=[Cell(c.status, None, c.status, why) for _ in layout.columns],
            )
        )
    rows.sort(
        key=lambda r: (
            r.dataset,
            r.task != "standard",
            r.task,
            r.status != "done",
            MODE_ORDER.get(r.training, len(MODE_ORDER)),
            r.model,
            r.preset,
        )
    )
    _mark_best(layout.columns, rows)
    return Board(layout.key, layout.title, layout.source, layout.columns, rows)


def _mark_best(columns: tuple[Column, ...], rows: list[Row]) -> None:
    """Per column and per (dataset, task) with at least two different values: the best one(s)."""
    for i, col in enumerate(columns):
        direction = best_direction(col)
        if not direction:
            continue
        by_group: dict[tuple[str, str], list[Cell]] = {}
        for r in rows:
            c = r.cells[i]
            if c.number is not None:
                by_group.setdefault((r.dataset, r.task), []).append(c)
        for cells in by_group.values():
            if len({c.number for c in cells}) < 2:
                continue
            best = (min if direction == "min" else max)(c.number for c in cells if c.number is not None)
            for c in cells:
                c.best = c.number == best


def boards(groups, not_done, paper, tables: dict[str, tuple[Column, ...]] = TABLES) -> list[Board]:
    """One board per layout of ``tables`` (:func:`layouts`; default: the built-in metrics' columns)."""
    return [board(layout, groups, not_done, paper) for layout in layouts(tables)]
