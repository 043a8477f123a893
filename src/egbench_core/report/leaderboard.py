"""Leaderboards from the store (reads only the store): one row per model × dataset × task.

Columns come from the metrics' declarations (``ValueSpec.shown``: table, order, header, unit
printed, digits, mode, split; the scale follows from the stored and printed units) and carry the
value's direction (``better``) and meaning. ``TABLES`` holds those of the built-in metrics
(``default_plugins/declared_metrics.py``); :func:`metric_tables` builds them from every installed
metric, built-in and plugin (``catalog.metrics``): what ``egbench report`` shows in every format.
Rendering to markdown and csv lives here; the rich table is drawn by ``console.py``, in the
layout :func:`terminal_layout` chooses (columns ``n/a`` in every row hidden, rows kept on one line).

What a cell of a table says:

* a number (``mean ± std``: over replicas, or over seeds when the row aggregates several);
* ``n/a``: the metric does not apply (its stored note starts with "not applicable");
* ``error``: the metric failed or gave a non-finite value (csv/markdown add the reason);
* ``—``: nothing stored (e.g. no MD in this task).

Marks after the model: ``*`` the training hit the wall-clock guard (*truncated*: not the preset's
result); ``!`` the cell's stored values (metrics, info) or one of its artifacts were altered, or an
artifact is missing, since it was stored (:meth:`Store.verify`; each problem is also a note).

A ``running`` cell's reason says whether its owner is alive ("in progress (host, pid …)") or
"stale: owner process gone (host, pid …)" (a killed run; the next ``egbench run`` takes it over).

Only the most recent result of each (model, preset, dataset, task, seed) is shown; results of
the same cell computed by other code are counted in a note. ``notes`` also warn when the rows
shown come from different code (core or a model plugin).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from egbench_core import modes
from egbench_core.default_plugins.declared_metrics import BUILTIN_VALUES, FORCE_MAE
from egbench_core.interfaces import REPORT_TABLES, MetricSpec, ValueSpec, unit_scale
from egbench_core.report.not_run import counts_by_status, group_not_run
from egbench_core.store import LEASE_S, CellRow, Store, owner_alive

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    header: str
    metric: str  # the declared value id it shows
    split: str | None  # None: the task's first evaluation split; "" not split-specific
    scale: float = 1.0
    digits: int = 1
    mode: str = ""  # e.g. "oracle" / "aligned" for dynamics metrics
    better: str = "lower"  # lower | higher | neither (the value's declaration)
    description: str = ""  # the value's declaration
    unit: str = ""  # the unit printed


def report_tables(values: Iterable[ValueSpec], strict: bool = True) -> dict[str, tuple[Column, ...]]:
    """The leaderboard tables (REPORT_TABLES) of the columns that ``values`` declare, each table in
    the declared order. Two columns of one table may not share an order: ``strict`` raises
    ValueError; otherwise the later one is placed after the earlier, with a warning."""
    placed: dict[str, list[tuple[int, Column]]] = {t: [] for t in REPORT_TABLES}
    for v in values:
        for s in v.shown:
            shown = s.unit or v.unit
            col = Column(
                s.header, v.id, s.split, unit_scale(v.unit, shown), s.digits, s.mode, v.better, v.description, shown
            )
            taken = next((c for o, c in placed[s.table] if o == s.order), None)
            if taken is not None:
                if strict:
                    raise ValueError(f"table {s.table!r}: two columns at order {s.order} ({s.header!r})")
                log.warning(
                    "report table %s: columns %r (value %s) and %r (value %s) are both declared at order %d; "
                    "%r is shown after %r",
                    s.table,
                    taken.header,
                    taken.metric,
                    s.header,
                    v.id,
                    s.order,
                    s.header,
                    taken.header,
                )
            placed[s.table].append((s.order, col))
    # a stable sort: columns sharing an order stay in the order they were declared
    return {t: tuple(c for _, c in sorted(cols, key=lambda oc: oc[0])) for t, cols in placed.items()}


def metric_tables(metrics: Iterable[MetricSpec]) -> dict[str, tuple[Column, ...]]:
    """The leaderboard tables of ``metrics`` (every installed metric: ``catalog.metrics.values()``,
    built-in and plugin), each column from a declared value's ``Shown``, ordered by ``Shown.order``.
    A value id that several metrics declare is shown once: by the first declaration with columns
    (``ev``: dynamics' columns, not oracle's undisplayed one); another declaration with different
    columns is named in a warning and not shown. A column at an order another column of its table
    already holds comes after it, with a warning. For the built-in metrics this is ``TABLES``."""
    values: dict[str, tuple[str, ValueSpec]] = {}  # value id -> (metric, declaration)
    for m in metrics:
        for v in m.values:
            seen = values.get(v.id)
            if seen is None or (v.shown and not seen[1].shown):
                values[v.id] = (m.name, v)
            elif v.shown and v.shown != seen[1].shown:
                log.warning(
                    "metric %s declares value %s, which metric %s declares with other report columns; "
                    "the report shows %s's columns of it",
                    m.name,
                    v.id,
                    seen[0],
                    seen[0],
                )
    return report_tables((v for _, v in values.values()), strict=False)


# Layouts of the paper's tables: 1 (static errors, with cost), 2 (structure), 3 (dynamics), + stability.
TABLES = report_tables(BUILTIN_VALUES)
COLUMNS = TABLES["static"]
RANK_METRIC = (FORCE_MAE.id, "F MAE")  # what "ranking" means in the seed-stability table
SPLIT_VALUES = frozenset(v.id for v in BUILTIN_VALUES if v.per_split)  # stored once per evaluation split
MARKS = {
    "*": "truncated: the training hit the wall-clock guard, not the preset's result",
    "!": "the cell's stored values or artifacts were altered, or an artifact is missing, since it was stored"
    " (re-run to recompute)",
}


@dataclass
class Leaderboard:
    headers: list[str]
    rows: list[list[str]]
    not_run: list[list[str]] = field(default_factory=list)  # model, dataset, task, status, reason
    errors: list[list[str]] = field(default_factory=list)  # model, dataset, task, column, reason
    notes: list[str] = field(default_factory=list)  # warnings about what is shown
    marks: dict[str, str] = field(default_factory=dict)  # marks used in the rows -> meaning
    # how each row's model met the dataset (a mode's id, egbench_core.modes.IDS), parallel
    # to ``rows``, which are grouped in that order
    groups: list[str] = field(default_factory=list)
    key_columns: int = 5  # the leading columns that name a row (model … seeds, train frames): not metrics


@dataclass
class Value:
    """One shown cell: its text, the number behind it (None for n/a, error, —) and why it is not a number."""

    text: str
    number: float | None = None
    reason: str = ""


def cell_value(ms: list[dict], info: dict[str, Any], col: Column, split: str) -> Value:
    hit = next(
        (
            m
            for m in ms
            if m["name"] == col.metric
            and m["split"] == split
            and (m["mode"] == col.mode or (not col.mode and m["mode"] == ""))
        ),
        None,
    )
    if hit is None and col.mode:  # "not applicable" rows carry no mode
        hit = next((m for m in ms if m["name"] == col.metric and m["split"] == split and m["mode"] == ""), None)
    if hit is None:
        why = (info.get("metric_errors") or {}).get(col.metric)
        return Value("error", None, why) if why else Value("—")
    v, std, note = hit["value"], hit["std"], hit.get("note") or ""
    if v is None or not math.isfinite(v):
        if note.startswith("not applicable"):
            return Value("n/a", None, note)
        return Value("error", None, note or f"the metric gave a non-finite value ({'NaN' if v is None else v})")
    s = _number(v * col.scale, col.digits)
    spread = _number(std * col.scale, col.digits) if std is not None and math.isfinite(std) else ""
    if spread and float(spread) != 0.0:  # a std that rounds to zero is not printed
        s += f" ± {spread}"
    return Value(s, v * col.scale)


def _number(x: float, digits: int) -> str:
    """``digits`` decimals; a non-zero value that would print as 0 gets three significant digits
    (EV on a molecule of ~10⁴ eV total energy is ~10⁻⁶ × 10⁻⁵, not zero)."""
    if x != 0.0 and abs(x) < 0.5 * 10.0**-digits:
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


MODE_ORDER = {mode: i for i, mode in enumerate(modes.IDS)}  # the groups of rows, in this order
MODE_TITLES = modes.TITLES


def cell_mode(info: dict[str, Any] | None) -> str:
    """How a done cell's model met its dataset (a mode's id): ``info["model"]["mode"]``, or for
    cells stored before modes existed, read from its energy label ("trained" -> from-scratch)."""
    model = (info or {}).get("model") or {}
    if model.get("mode") in MODE_ORDER:
        return model["mode"]
    energy = str(model.get("energy", ""))
    return next((i for i in modes.IDS if energy.startswith(i)), modes.FROM_SCRATCH.id)


def latest_cells(store: Store, task: str | None = None) -> tuple[list[CellRow], int]:
    """The most recent row of each (model, preset, dataset, task, seed), and how many older rows
    of the same cells (other code, or earlier attempts) are not shown."""
    groups: dict[tuple, list[CellRow]] = defaultdict(list)
    for c in store.cells():
        if task is None or c.task == task:
            groups[(c.model, c.preset, c.dataset, c.task, c.seed)].append(c)
    latest, hidden = [], 0
    for rows in groups.values():
        rows.sort(key=lambda c: (c.finished or c.started or "", c.run_id or 0))
        latest.append(rows[-1])
        if rows[-1].status == "running":
            rows[-1].reason = running_reason(rows[-1])
        hidden += sum(1 for c in rows[:-1] if c.status == "done")
    latest.sort(key=lambda c: (c.model, c.dataset, c.task, c.seed))
    return latest, hidden


def running_reason(cell: CellRow, now: float | None = None) -> str:
    """Whether a ``running`` cell's owner is alive (:func:`~egbench_core.store.owner_alive`): "in
    progress (host, pid N, heartbeat S s ago)" or "stale: owner process gone (host, pid N)"."""
    now = time.time() if now is None else now
    host, _, rest = (cell.owner or "").partition(":")
    who = f"{host}, pid {rest.partition(':')[0]}" if host else "owner not recorded"
    age = now - cell.heartbeat if cell.heartbeat is not None else None
    if owner_alive(cell.owner, cell.heartbeat, now):
        return f"in progress ({who}, heartbeat {age:.0f} s ago)"
    if age is not None and age > LEASE_S:
        who += f"; no heartbeat for {age:.0f} s"
    return f"stale: owner process gone ({who}); the next `egbench run` recomputes it"


def leaderboard(
    store: Store,
    task: str | None = None,
    columns: tuple[Column, ...] = COLUMNS,
    verify: bool = True,
    train_frames: bool | None = None,
) -> Leaderboard:
    """One row per model × dataset × task showing ``columns`` (a table of :func:`metric_tables`, or
    ``TABLES``). ``train_frames``: add the "train frames" column after the key columns (the static
    table's; default: when ``columns`` is the built-in ``TABLES["static"]``)."""
    if train_frames is None:
        train_frames = columns is TABLES["static"]
    cells, hidden = latest_cells(store, task)
    lb = Leaderboard(
        headers=["model", "dataset", "task", "test split", "seeds"]
        + (["train frames"] if train_frames else [])
        + [c.header for c in columns],
        rows=[],
        key_columns=6 if train_frames else 5,
    )
    done: dict[tuple, list[CellRow]] = defaultdict(list)
    for c in cells:
        if c.status == "done":
            done[(c.model, c.preset, c.dataset, c.task)].append(c)
        else:
            lb.not_run.append([f"{c.model} [{c.preset}]", c.dataset, c.task, c.status, c.reason])
    for ident, group in done.items():
        group.sort(key=lambda c: c.seed)
        _add_row(lb, store, ident, group, columns, verify, train_frames)
    order = sorted(range(len(lb.rows)), key=lambda i: MODE_ORDER[lb.groups[i]])  # stable: model order within
    lb.rows, lb.groups = [lb.rows[i] for i in order], [lb.groups[i] for i in order]
    if hidden:
        lb.notes.append(f"{hidden} older result(s) of the same cells (other code or earlier runs) are not shown")
    lb.notes.extend(code_warnings([c for g in done.values() for c in g]))
    return lb


def _add_row(
    lb: Leaderboard,
    store: Store,
    ident: tuple[str, str, str, str],
    group: list[CellRow],
    columns: tuple[Column, ...],
    verify: bool,
    train_frames: bool,
) -> None:
    """The row of one model × preset × dataset × task (``group``: its cells, one per seed), with its
    marks, the problems :meth:`Store.verify` finds (``verify``) and the metric errors, into ``lb``."""
    model, preset, dataset, task_ = ident
    label = f"{model} [{preset}]"
    marks = ""
    if any(c.truncated for c in group):
        marks += "*"
    problems = [(c, p) for c in group for p in store.verify(c.key)] if verify else []
    if problems:
        marks += "!"
    for c, p in problems:
        lb.notes.append(f"cell {c.key[:16]} ({model}, preset {preset}, {dataset}, {task_}, seed {c.seed}): {p}")
    for m in marks:
        lb.marks[m] = MARKS[m]
    metrics = [store.metrics(c.key) for c in group]
    first = first_eval_split(group[0], metrics[0])
    row = [label + (f" {marks}" if marks else ""), dataset, task_, first, ",".join(str(c.seed) for c in group)]
    if train_frames:
        row.append(_train_frames(group[0].info))
    for col in columns:
        split = first if col.split is None else col.split
        values = [cell_value(ms, c.info, col, split) for ms, c in zip(metrics, group)]
        shown = aggregate(values, col) if len(values) > 1 else values[0]
        row.append(shown.text)
        if shown.text == "error":
            lb.errors.append([label, dataset, task_, col.header, shown.reason])
    lb.rows.append(row)
    lb.groups.append(cell_mode(group[0].info))


def first_eval_split(cell: CellRow, metrics: list[dict]) -> str:
    """The task's first evaluation split (from the plan in the cell's provenance; for rows without
    provenance, the first split any static metric was stored for)."""
    plan = ((cell.provenance or {}).get("task") or {}).get("plan") or {}
    if plan.get("eval_splits"):
        return plan["eval_splits"][0]
    splits = [m["split"] for m in metrics if m["name"] in SPLIT_VALUES]
    return splits[0] if splits else ""


def aggregate(values: list[Value], col: Column) -> Value:
    """Mean ± sample std over seeds; any error or n/a among them is shown as such."""
    for kind in ("error", "n/a", "—"):
        hit = next((v for v in values if v.text == kind), None)
        if hit is not None:
            return hit
    x = np.array([v.number for v in values], dtype=float)
    return Value(f"{x.mean():.{col.digits}f} ± {x.std(ddof=1):.{col.digits}f}", float(x.mean()))


def _train_frames(info: dict[str, Any]) -> str:
    n = (info.get("n_frames") or {}).get("train")
    sub = (info.get("subsets") or {}).get("train")
    if sub:
        return f"{sub['frames']} of {sub['of']} #{sub['indices_sha256'][:8]}"
    return str(n) if n is not None else "—"


def _code_id(code: Any) -> str:
    if not isinstance(code, dict):
        return str(code)
    return f"{code.get('dist', '?')} {code.get('version', '')} (source {str(code.get('source', '?'))[:10]})".strip()


def code_warnings(cells: list[CellRow]) -> list[str]:
    """Warnings when the rows shown were computed by different code."""
    out = []
    cores = {_code_id((c.provenance or {}).get("core")) for c in cells if c.provenance}
    if len(cores) > 1:
        out.append(f"rows come from {len(cores)} versions of egbench core: {'; '.join(sorted(cores))}")
    by_model: dict[str, set[str]] = defaultdict(set)
    for c in cells:
        if c.provenance and "model" in c.provenance:
            by_model[c.model].add(_code_id(c.provenance["model"].get("code")))
    for model, codes in sorted(by_model.items()):
        if len(codes) > 1:
            out.append(f"rows of model {model} come from different code: {'; '.join(sorted(codes))}")
    if any(c.provenance is None for c in cells):
        out.append("some rows have no recorded provenance (computed by an egbench older than schema 2)")
    return out


def rank_stability(store: Store, task: str | None = None) -> tuple[list[str], list[list[str]]]:
    """How stable the model ranking (by force MAE on the first evaluation split) is across seeds:
    per dataset × task × preset, each model's rank under each seed, and the share of seeds in
    which it keeps its most common rank. Needs ≥ 2 models and ≥ 2 seeds they share."""
    cells, _ = latest_cells(store, task)
    values: dict[tuple, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for c in cells:
        if c.status != "done":
            continue
        ms = store.metrics(c.key)
        split = first_eval_split(c, ms)
        v = next((m["value"] for m in ms if m["name"] == RANK_METRIC[0] and m["split"] == split), None)
        if v is not None and math.isfinite(v):
            values[(c.dataset, c.task, c.preset)][c.model][c.seed] = v
    headers = ["dataset", "task", "preset", "model", f"rank by {RANK_METRIC[1]} per seed", "keeps its rank"]
    rows = []
    for (dataset, task_, preset), per_model in sorted(values.items()):
        seeds = sorted(set.intersection(*(set(d) for d in per_model.values())))
        if len(per_model) < 2 or len(seeds) < 2:
            continue
        models = sorted(per_model)
        ranks: dict[str, list[int]] = {m: [] for m in models}
        for s in seeds:
            order = sorted(models, key=lambda m: (per_model[m][s], m))
            for r, m in enumerate(order, 1):
                ranks[m].append(r)
        for m in sorted(models, key=lambda m: (np.mean(ranks[m]), m)):
            common = max(set(ranks[m]), key=lambda r: (ranks[m].count(r), -r))
            kept = ranks[m].count(common)
            rows.append(
                [
                    dataset,
                    task_,
                    preset,
                    m,
                    " / ".join(f"{r} (seed {s})" for r, s in zip(ranks[m], seeds)),
                    f"{kept} of {len(seeds)} seeds at rank {common}",
                ]
            )
    return headers, rows


def oracle_calibrations(store: Store) -> tuple[list[str], list[list[str]]]:
    """The calibration of every oracle the stored cells used (docs/metrics.md, "Errors where the model goes")."""
    # the table's column headers, in order: a list of names, kept as one (not one a line)
    # fmt: off
    headers = [
        "dataset", "oracle", "level of theory", "frames", "force MAE vs labels (meV/Å)", "max (meV/Å)",
        "energy offset (meV)", "used",
    ]
    # fmt: on
    seen: dict[tuple, list[str]] = {}
    for c in store.cells("done"):
        o = c.info.get("oracle") or {}
        cal = o.get("calibration")
        if not cal:
            continue
        seen[(cal["dataset"], cal["oracle"])] = [
            cal["dataset"],
            cal["oracle"],
            (o.get("oracle") or {}).get("level", ""),
            str(len(cal["frames"])),
            f"{cal['force_mae'] * 1e3:.2f}",
            f"{cal['force_max'] * 1e3:.2f}",
            f"{cal['energy_offset_mean'] * 1e3:+.2f} ± {cal['energy_offset_std'] * 1e3:.2f}",
            "yes" if cal["accepted"] else f"refused (> {cal['max_force_mae'] * 1e3:g} meV/Å)",
        ]
    return headers, [seen[k] for k in sorted(seen)]


def stage_rows(store: Store) -> list[list[str]]:
    """One row per stage of each done cell (``report --provenance``)."""
    from egbench_core.stages.store import StageStore

    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "cell_stages" not in tables:  # a store of the layout before stages
        return []
    stages, rows = StageStore(store), []
    for c in store.cells("done"):
        for st in stages.of_cell(c.key):
            prov = st.get("provenance") or {}
            code = " ".join(f"{k} {v.get('source', '')[:12]}" for k, v in sorted((prov.get("code") or {}).items()))
            md = prov.get("md") or {}
            inputs = (
                ", ".join(f"{k}: {v}" for k, v in sorted((prov.get("splits") or {}).items()))
                or prov.get("split")
                or (f"MD from {md.get('start_split')} at {md.get('temperature_K')} K" if md else "")
            )
            took = st.get("duration_s")
            rows.append(
                [
                    f"{c.model} [{c.preset}]",
                    c.dataset,
                    c.task,
                    str(c.seed),
                    st["kind"],
                    st["stage_key"][:16],
                    "reused" if st["reused"] else "computed",
                    f"{took:.1f}" if took is not None else "",
                    code,
                    inputs,
                ]
            )
    return rows


def provenance_tables(store: Store) -> list[tuple[str, list[str], list[list[str]]]]:
    """For ``egbench report --provenance``: per run, the code, the libraries and the machine."""
    runs_rows, code_rows, lib_rows = [], [], []
    for r in store.runs():
        prov = r.get("provenance") or {}
        env = r.get("environment") or {}
        machine = prov.get("machine") or env
        runs_rows.append(
            [
                str(r["id"]),
                r["started"] or "",
                r.get("status") or ("finished" if r["finished"] else "?"),
                " ".join(r["argv"] or [])[:120],
                f"{machine.get('cpu', '?')} × {machine.get('cores', '?')}",
                str(machine.get("hostname", "")),
            ]
        )
        core = prov.get("core")
        if core:
            code_rows.append(
                [str(r["id"]), "egbench-core", core.get("version", ""), core.get("source", "")[:16], "core"]
            )
        for name, p in sorted((prov.get("plugins") or {}).items()):
            code_rows.append(
                [
                    str(r["id"]),
                    p.get("dist") or name,
                    p.get("version", ""),
                    str(p.get("source", ""))[:16],
                    ", ".join(p.get("provides", [])),
                ]
            )
        for lib, v in sorted((prov.get("libraries") or {}).items()):
            lib_rows.append([str(r["id"]), lib, v])
    cell_rows = []
    for c in store.cells("done"):
        code = (c.provenance or {}).get("model", {}).get("code")
        libs = (c.info.get("hardware") or {}).get("libraries") or {}
        cell_rows.append(
            [
                f"{c.model} [{c.preset}]",
                c.dataset,
                c.task,
                str(c.seed),
                str(c.run_id),
                _code_id(code),
                ", ".join(f"{k} {v}" for k, v in sorted(libs.items())),
            ]
        )
    return [
        ("runs", ["run", "started", "status", "command", "machine", "host"], runs_rows),
        (
            "model code and libraries per cell (where the model ran)",
            ["model", "dataset", "task", "seed", "run", "model code", "libraries"],
            cell_rows,
        ),
        ("code per run", ["run", "distribution", "version", "source sha256", "provides"], code_rows),
        ("libraries per run", ["run", "library", "version"], lib_rows),
        (
            "stages per cell: key, computed or reused, seconds, core code on the stage's path, inputs",
            ["model", "dataset", "task", "seed", "stage", "key", "", "s", "code", "inputs"],
            stage_rows(store),
        ),
    ]


def tasks_in(store: Store) -> list[str]:
    return sorted({c.task for c in store.cells()})


def rank_markdown(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return ""
    out = "\nRanking stability across seeds:\n\n| " + " | ".join(headers) + " |\n|" + "|".join("---" for _ in headers)
    return out + "|\n" + "".join("| " + " | ".join(_md_escape(x) for x in r) + " |\n" for r in rows)


def grouped_rows(lb: Leaderboard) -> list[tuple[str, list[list[str]]]]:
    """``[(mode, rows)]`` in MODE_ORDER, for the modes present."""
    return [(mode, [r for r, g in zip(lb.rows, lb.groups) if g == mode]) for mode in MODE_ORDER if mode in lb.groups]


def to_markdown(lb: Leaderboard) -> str:
    out = io.StringIO()
    sections = grouped_rows(lb)
    for mode, rows in sections if len(sections) > 1 else [("", lb.rows)]:
        if mode:
            out.write(f"\n**{mode}**: {MODE_TITLES[mode]}\n\n")
        out.write("| " + " | ".join(lb.headers) + " |\n")
        out.write("|" + "|".join("---" for _ in lb.headers) + "|\n")
        for r in rows:
            out.write("| " + " | ".join(_error_with_reason(lb, r, i) for i in range(len(r))) + " |\n")
    for m, meaning in lb.marks.items():
        out.write(f"\n{m} {meaning}\n")
    for note in lb.notes:
        out.write(f"\nwarning: {note}\n")
    if lb.not_run:  # one line per kind of reason, as in the terminal (`egbench report --skipped` lists them)
        groups = group_not_run(lb.not_run)
        counts = ", ".join(f"{n} {s}" for s, n in counts_by_status(groups).items())
        out.write(f"\nCells not run: {counts} (`egbench report --skipped` lists them)\n\n")
        for g in groups:
            out.write(f"- {g.count} {g.status}: {_md_escape(g.kind)}\n")
    return out.getvalue()


def _md_escape(x: str) -> str:
    return x.replace("|", "\\|").replace("\n", " ")


def _error_with_reason(lb: Leaderboard, row: list[str], i: int) -> str:
    """In csv/markdown an ``error`` carries its reason."""
    if row[i] != "error":
        return _md_escape(row[i])
    label = row[0].split(" [")[0]
    header = lb.headers[i]
    why = next(
        (
            e[4]
            for e in lb.errors
            if e[0].split(" [")[0] == label and e[1] == row[1] and e[2] == row[2] and e[3] == header
        ),
        "",
    )
    return _md_escape(f"error ({why})" if why else "error")


# -- the terminal's layout (console.py draws it; markdown, csv, json and html keep every column) --
EMPTY = ("n/a", "—")  # a metric column holding only these in every row is hidden in the terminal
ROW_NAME = 3  # model, dataset, task: repeated in each table when the columns are split over several


@dataclass(frozen=True)
class TerminalLayout:
    """How the terminal shows a leaderboard: ``parts``, the columns (indices into ``headers``) of
    each table, one after the other; ``widths``, each shown column's width without padding (a row's
    cells always fit on one line, a header wraps between its words); ``hidden``, the headers of
    the metric columns that are ``n/a`` or ``—`` in every row; ``folded``, (header, value) of the
    key columns after model, dataset and task that hold one value in every row, moved to the
    caption because the table was too wide with them."""

    parts: list[list[int]]
    widths: dict[int, int]
    hidden: list[str]
    folded: list[tuple[str, str]] = field(default_factory=list)


def hidden_columns(lb: Leaderboard) -> list[int]:
    """The metric columns whose every row is ``n/a`` (not applicable) or ``—`` (nothing stored); a
    column with an ``error`` or a number in any row is never among them. None when there are no rows."""
    if not lb.rows:
        return []
    return [i for i in range(lb.key_columns, len(lb.headers)) if all(r[i] in EMPTY for r in lb.rows)]


def table_width(widths: Iterable[int]) -> int:
    """The width of a rich table (heavy-head box with edges, one space of padding each side) with
    columns of these content widths."""
    ws = list(widths)
    return sum(ws) + 3 * len(ws) + 1


def terminal_layout(lb: Leaderboard, width: int, titles: Iterable[str] = ()) -> TerminalLayout:
    """The layout of ``lb`` on a terminal ``width`` columns wide (``titles``: the section titles
    shown in the first column), in three steps:

    1. metric columns ``n/a`` or ``—`` in every row are hidden (:func:`hidden_columns`);
    2. each column is as wide as its widest cell or its header's longest word, so that a row is one
       line; if the table is wider than ``width``, the key columns after model, dataset and task
       (test split, seeds, train frames) that hold one value in every row move to the caption;
    3. if it is still too wide, the metric columns are split in order over several tables, the
       first with the key columns, the others repeating model, dataset and task, each taking as
       many columns as fit.

    The spare width of each table goes to its headers, so that they wrap over as few lines as
    possible."""
    hidden = hidden_columns(lb)
    shown = [i for i in range(len(lb.headers)) if i not in hidden]
    titles = list(titles)
    need = {}
    for i in shown:
        cells = [r[i] for r in lb.rows] + (titles if i == 0 else [])
        need[i] = max([len(x) for x in cells] + [len(w) for w in lb.headers[i].split()] + [1])
    folded: list[tuple[str, str]] = []
    if lb.rows and table_width(need[i] for i in shown) > width:
        same = [i for i in shown[ROW_NAME:] if i < lb.key_columns and len({r[i] for r in lb.rows}) == 1]
        folded = [(lb.headers[i], lb.rows[0][i]) for i in same]
        shown = [i for i in shown if i not in same]
    keys = [i for i in shown if i < lb.key_columns]
    parts: list[list[int]] = [list(keys)]
    for i in shown[len(keys) :]:
        part = parts[-1]
        base = keys if len(parts) == 1 else keys[:ROW_NAME]
        if len(part) > len(base) and table_width(need[j] for j in part + [i]) > width:
            parts.append(keys[:ROW_NAME] + [i])
        else:
            part.append(i)
    widths: dict[int, int] = {}
    for part in parts:
        widths.update(_fit_headers([lb.headers[i] for i in part], [need[i] for i in part], part, width))
    return TerminalLayout(parts, widths, [lb.headers[i] for i in hidden], folded)


def _fit_headers(headers: list[str], need: list[int], columns: list[int], width: int) -> dict[int, int]:
    """Widths (at least ``need``) that wrap the headers over the fewest lines within ``width``."""
    for lines in range(1, max(len(h.split()) for h in headers) + 1):
        ws = [max(n, _wrapped_width(h, lines)) for h, n in zip(headers, need)]
        if table_width(ws) <= width:
            return dict(zip(columns, ws))
    return dict(zip(columns, need))


def _wrapped_width(header: str, lines: int) -> int:
    """The narrowest width at which ``header``, wrapped between words, takes at most ``lines`` lines."""
    words = header.split()
    for w in range(max(len(x) for x in words), len(header) + 1):
        n, used = 1, -1
        for x in words:
            if used + 1 + len(x) > w:
                n, used = n + 1, len(x)
            else:
                used += 1 + len(x)
        if n <= lines:
            return w
    return len(header)


def to_csv(lb: Leaderboard) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(lb.headers + ["training", "status", "reason"])
    for r, mode in zip(lb.rows, lb.groups):
        reason = "; ".join(lb.marks[m] for m in lb.marks if r[0].endswith(m) or f" {m}" in r[0])
        w.writerow(
            [_error_with_reason(lb, r, i).replace("\\|", "|") for i in range(len(r))]
            + [mode, "truncated" if "*" in r[0].split("]")[-1] else "done", reason]
        )
    for m, d, t, status, reason in lb.not_run:
        w.writerow([m, d, t] + [""] * (len(lb.headers) - 3) + ["", status, reason])
    return out.getvalue()
