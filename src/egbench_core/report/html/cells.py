"""The report's unit: the done cells of one (model, preset, dataset, task), one per seed, with
their metrics, and a column's value over them (mean ± std over seeds, as in ``egbench report``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from egbench_core.report.leaderboard import Column, Value, aggregate, cell_value, first_eval_split, latest_cells
from egbench_core.store import CellRow, Store


@dataclass
class Group:
    model: str
    preset: str
    dataset: str
    task: str
    cells: list[CellRow] = field(default_factory=list)  # by seed
    metrics: list[list[dict[str, Any]]] = field(default_factory=list)  # per cell
    marks: str = ""  # "*" truncated, "!" an artifact missing or altered

    @property
    def label(self) -> str:
        return f"{self.model} [{self.preset}]"

    @property
    def seeds(self) -> list[int]:
        return [c.seed for c in self.cells]

    @property
    def split(self) -> str:
        """The task's first evaluation split (the one the static columns read)."""
        return first_eval_split(self.cells[0], self.metrics[0])

    @property
    def plan(self) -> dict[str, Any]:
        return ((self.cells[0].provenance or {}).get("task") or {}).get("plan") or {}

    def value(self, col: Column) -> Value:
        split = self.split if col.split is None else col.split
        values = [cell_value(ms, c.info, col, split) for ms, c in zip(self.metrics, self.cells)]
        return aggregate(values, col) if len(values) > 1 else values[0]


def collect(
    store: Store, task: str | None = None, verify: bool = True
) -> tuple[dict[tuple[str, str, str, str], Group], list[CellRow]]:
    """Done groups by (model, preset, dataset, task), and the latest cells that are not done
    (of ``task`` only, if given)."""
    cells, _ = latest_cells(store, task)
    groups: dict[tuple[str, str, str, str], Group] = {}
    not_done = []
    for c in cells:
        if c.status != "done":
            not_done.append(c)
            continue
        g = groups.setdefault((c.model, c.preset, c.dataset, c.task), Group(c.model, c.preset, c.dataset, c.task))
        g.cells.append(c)
        g.metrics.append(store.metrics(c.key))
    for g in groups.values():
        order = sorted(range(len(g.cells)), key=lambda i: g.cells[i].seed)
        g.cells, g.metrics = [g.cells[i] for i in order], [g.metrics[i] for i in order]
        if any(c.truncated for c in g.cells):
            g.marks += "*"
        if verify and any(store.verify(c.key) for c in g.cells):
            g.marks += "!"
    return dict(sorted(groups.items())), not_done


def by_dataset(groups: dict[tuple[str, str, str, str], Group]) -> dict[str, dict[str, list[Group]]]:
    """dataset -> task -> groups (standard first, then the other tasks by name)."""
    out: dict[str, dict[str, list[Group]]] = defaultdict(dict)
    for g in groups.values():
        out[g.dataset].setdefault(g.task, []).append(g)
    return {
        d: dict(sorted(tasks.items(), key=lambda kv: (kv[0] != "standard", kv[0]))) for d, tasks in sorted(out.items())
    }


def best_direction(col: Column) -> str:
    """ "min", "max" or "" (no best marked), from the declared direction of the column's value."""
    return {"lower": "min", "higher": "max", "neither": ""}[col.better]
