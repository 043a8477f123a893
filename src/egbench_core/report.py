"""Leaderboards from the store (reads only the store): one row per model × dataset × task.

Columns are declared once in ``COLUMNS`` (metric name, split, unit shown, scale from the stored
unit). Rendering to markdown and csv lives here; the rich table is drawn by ``console.py``.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from .store import Store


@dataclass(frozen=True)
class Column:
    header: str
    metric: str
    split: str | None  # None: the task's first evaluation split; "" not split-specific
    scale: float = 1.0
    digits: int = 1
    mode: str = ""  # e.g. "oracle" / "aligned" for dynamics metrics


# Layouts of the paper's tables: 1 (static errors, with cost), 2 (structure), 3 (dynamics), + stability.
TABLES = {
    "static": (
        Column("E MAE (meV)", "energy_mae", None, 1e3, 2),
        Column("F MAE (meV/Å)", "force_mae", None, 1e3, 2),
        Column("E RMSE (meV)", "energy_rmse", None, 1e3, 2),
        Column("F RMSE (meV/Å)", "force_rmse", None, 1e3, 2),
        Column("train s/epoch", "train_time_per_epoch", "", 1.0, 2),
        Column("epochs", "epochs", "", 1.0, 0),
        Column("MD ms/step", "md_time_per_step", "", 1.0, 2),
    ),
    "structure": (
        Column("JSD (nat)", "jsd", "", 1.0, 4),
        Column("WF (%)", "wf", "", 1.0, 2),
        Column("WF no sqrt (%)", "wf_nosqrt", "", 1.0, 2),
    ),
    "dynamics": (
        Column("EV oracle (×1e-5)", "ev", "", 1.0, 2, "oracle"),
        Column("FV oracle", "fv", "", 1.0, 3, "oracle"),
        Column("EV aligned (×1e-5)", "ev", "", 1.0, 2, "aligned"),
        Column("FV aligned", "fv", "", 1.0, 3, "aligned"),
    ),
    "stability": (
        Column("stable fraction", "stable_fraction", "", 1.0, 2),
        Column("time stable (fs)", "time_to_failure", "", 1.0, 1),
    ),
}
COLUMNS = TABLES["static"]


@dataclass
class Leaderboard:
    headers: list[str]
    rows: list[list[str]]
    not_run: list[list[str]] = field(default_factory=list)  # model, dataset, task, status, reason


def _fmt(v: float | None, std: float | None, col: Column) -> str:
    if v is None or v != v:  # NULL / NaN: the metric was not applicable
        return "n/a"
    s = f"{v * col.scale:.{col.digits}f}"
    if std is not None and std > 0:
        s += f" ± {std * col.scale:.{col.digits}f}"
    return s


def leaderboard(store: Store, task: str | None = None, columns=COLUMNS) -> Leaderboard:
    cells = [c for c in store.cells() if task is None or c.task == task]
    lb = Leaderboard(headers=["model", "dataset", "task", "test split"] + [c.header for c in columns], rows=[])
    for c in cells:
        if c.status != "done":
            status = "interrupted" if c.status == "running" else c.status
            lb.not_run.append([f"{c.model} [{c.preset}]", c.dataset, c.task, status, c.reason])
            continue
        ms = store.metrics(c.key)
        splits = [m["split"] for m in ms if m["name"] == "energy_mae"]
        first = splits[0] if splits else ""
        row = [f"{c.model} [{c.preset}]", c.dataset, c.task, first]
        for col in columns:
            split = first if col.split is None else col.split
            hit = next((m for m in ms if m["name"] == col.metric and m["split"] == split
                        and (m["mode"] == col.mode or (not col.mode and m["mode"] == ""))), None)
            if hit is None and col.mode:  # "not applicable" rows carry no mode
                hit = next((m for m in ms if m["name"] == col.metric and m["split"] == split and m["mode"] == ""), None)
            row.append(_fmt(hit["value"], hit["std"], col) if hit else "—")
        lb.rows.append(row)
    return lb


def to_markdown(lb: Leaderboard) -> str:
    out = io.StringIO()
    out.write("| " + " | ".join(lb.headers) + " |\n")
    out.write("|" + "|".join("---" for _ in lb.headers) + "|\n")
    for r in lb.rows:
        out.write("| " + " | ".join(r) + " |\n")
    if lb.not_run:
        out.write("\nCells not run:\n\n| model | dataset | task | status | reason |\n|---|---|---|---|---|\n")
        for r in lb.not_run:
            out.write("| " + " | ".join(x.replace("|", "\\|").replace("\n", " ") for x in r) + " |\n")
    return out.getvalue()


def to_csv(lb: Leaderboard) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(lb.headers + ["status", "reason"])
    for r in lb.rows:
        w.writerow(r + ["done", ""])
    for m, d, t, status, reason in lb.not_run:
        w.writerow([m, d, t, ""] + [""] * (len(lb.headers) - 4) + [status, reason])
    return out.getvalue()


def cell_details(store: Store, key_prefix: str) -> dict[str, Any]:
    matches = [c for c in store.cells() if c.key.startswith(key_prefix)]
    if len(matches) != 1:
        raise KeyError(f"{len(matches)} cells match key prefix {key_prefix!r}")
    c = matches[0]
    return {"cell": c, "metrics": store.metrics(c.key), "artifacts": store.artifacts(c.key)}
