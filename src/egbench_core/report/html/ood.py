"""The OOD page: for every task its plugin declares out-of-distribution (``TaskSpec.ood``), each
model's in-distribution value (its ``standard`` cell on the dataset the task trains on, same preset
and seeds) beside its out-of-distribution value, and the ratio OOD / ID — the paper's Tables 5–8
(e.g. acac at 300 K beside 600 K). A task that is not declared OOD (another time step, another
thermostat) is not on the page."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

from egbench_core.report.html.cells import Group
from egbench_core.report.html.tables import STATE_TEXT, Cell, pick_columns
from egbench_core.report.leaderboard import TABLES, Column

COLUMNS = (
    *pick_columns("static", ("force_mae", ""), ("energy_mae", "")),
    *pick_columns(
        "dynamics", ("md_force_mae", "oracle"), ("ev", "oracle"), ("fv", "oracle"), ("ev", "aligned"), ("fv", "aligned")
    ),
    *pick_columns("structure", ("jsd", ""), ("wf", "")),
    TABLES["stability"][0],
)


@dataclass
class OodRow:
    model: str
    preset: str
    dataset: str
    seeds: str
    id_label: str  # the standard cell's split and MD temperature, e.g. "test · MD 300 K"
    ood_label: str
    cells: list[tuple[Cell, Cell, Cell]] = field(default_factory=list)  # ID, OOD, ratio per column


@dataclass
class OodTable:
    task: str
    columns: tuple[Column, ...]
    rows: list[OodRow]
    left_out: list[str] = field(default_factory=list)  # "headers (why)" of the columns without any value


def _conditions(g: Group, dataset: str) -> str:
    """``split · MD T K``, with the dataset when it is not the row's (e.g. zero-shot's training set)."""
    md = g.plan.get("md") or {}
    parts = ([g.dataset] if g.dataset != dataset else []) + [g.split]
    if md.get("temperature_K") is not None:
        parts.append(f"MD {md['temperature_K']:g} K")
    return " · ".join(parts)


def _restrict(g: Group, seeds: set[int]) -> Group:
    keep = [i for i, c in enumerate(g.cells) if c.seed in seeds]
    return replace(g, cells=[g.cells[i] for i in keep], metrics=[g.metrics[i] for i in keep])


def _cell(g: Group | None, col: Column, missing: str) -> Cell:
    if g is None or not g.cells:
        return Cell("—", None, "none", missing)
    v = g.value(col)
    state = "value" if v.number is not None else {"n/a": "n/a", "error": "error"}.get(v.text, "none")
    return Cell(v.text, v.number, state, v.reason or (STATE_TEXT["—"] if state == "none" else ""))


def _ratio(a: Cell, b: Cell) -> Cell:
    if a.number is None or b.number is None or a.number == 0:
        return Cell("—", None, "none", "needs a value on both sides")
    r = b.number / a.number
    return Cell(f"×{r:.3g}", r, "value", "out-of-distribution / in-distribution")


def declared_ood() -> set[str]:
    """The ids of the installed tasks that are declared out-of-distribution (``TaskSpec.ood``)."""
    from egbench_core.plugins import catalog

    return {name for name, spec in catalog().tasks.items() if spec.ood}


def ood_tables(
    groups: dict[tuple[str, str, str, str], Group], ood_tasks: Collection[str] | None = None
) -> list[OodTable]:
    """One table per task of ``groups`` in ``ood_tasks`` (default: :func:`declared_ood`, the installed
    tasks declared out-of-distribution)."""
    declared = set(declared_ood() if ood_tasks is None else ood_tasks) - {"standard"}
    tables = []
    for task in sorted({k[3] for k in groups} & declared):
        rows = []
        for (model, preset, dataset, t), g in groups.items():
            if t != task:
                continue
            train = g.plan.get("train_dataset") or dataset
            ref = groups.get((model, preset, train, "standard"))
            common = set(g.seeds) & set(ref.seeds) if ref else set()
            ood, ind = (
                _restrict(g, common) if common else g,
                _restrict(ref, common) if common and ref is not None else None,
            )
            missing = (
                f"no standard-task cell of {model} [{preset}] on {train} with seed(s) "
                f"{', '.join(map(str, g.seeds))} in the store"
            )
            row = OodRow(
                model,
                preset,
                dataset,
                ",".join(map(str, sorted(common or g.seeds))),
                _conditions(ind, dataset) if ind else f"{train} · standard: not in the store",
                _conditions(ood, dataset),
            )
            for col in COLUMNS:
                a, b = _cell(ind, col, missing), _cell(ood, col, missing)
                row.cells.append((a, b, _ratio(a, b)))
            rows.append(row)
        rows.sort(key=lambda r: (r.dataset, r.model, r.preset))
        keep = [
            i
            for i in range(len(COLUMNS))
            if any(r.cells[i][0].number is not None or r.cells[i][1].number is not None for r in rows)
        ]
        by_reason: dict[str, list[str]] = {}
        for i in range(len(COLUMNS)):
            if i not in keep:
                why = next((c.reason for r in rows for c in r.cells[i][:2] if c.reason), "no value")
                by_reason.setdefault(why, []).append(COLUMNS[i].header)
        left_out = [f"{', '.join(headers)} ({why})" for why, headers in by_reason.items()]
        for r in rows:
            r.cells = [r.cells[i] for i in keep]
        tables.append(OodTable(task, tuple(COLUMNS[i] for i in keep), rows, left_out))
    return tables
