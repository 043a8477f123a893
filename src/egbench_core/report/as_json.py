"""``egbench report --format json``: the store as one record per cell and metric, for pandas.

The layout is stable (``FORMAT``, ``VERSION``; docs/guide.md, "Results as JSON"): a field is
never renamed or given another meaning without a new version. Values are in the unit stored with
the metric (``unit``: eV, eV/Å, fs, ms, …), not the scaled units of the tables. The cells are the
ones the report shows: the most recent result of each (model, preset, dataset, task, seed).

* a done cell gives one record per stored metric, and one per metric that failed without a value
  (``state`` "error", the reason in ``note``);
* a cell that did not finish (failed, interrupted, skipped, running) gives one record whose
  metric fields are null and whose ``reason`` says why;
* ``integrity`` (on every record of a done cell): "ok", or the list of problems
  :meth:`Store.verify` found (altered stored values, altered or missing artifacts) — the rows the
  other formats mark ``!``; null on a cell that is not done.
"""

from __future__ import annotations

import json
import math
from typing import Any

from egbench_core.report.leaderboard import cell_mode, latest_cells
from egbench_core.store import Store

FORMAT = "egbench-results"
VERSION = 1
CELL_FIELDS = (
    "cell_key",
    "run_id",
    "model",
    "preset",
    "dataset",
    "task",
    "seed",
    "status",
    "reason",
    "truncated",
    "finished",
    "training",
    "integrity",
)
METRIC_FIELDS = ("metric", "split", "mode", "value", "std", "unit", "n", "state", "note", "metric_version")


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _state(value: float | None, note: str) -> str:
    if value is not None:
        return "value"
    return "n/a" if note.startswith("not applicable") else "error"


def records(store: Store, task: str | None = None) -> list[dict[str, Any]]:
    cells, _ = latest_cells(store, task)
    out = []
    for c in cells:
        base = {
            "cell_key": c.key,
            "run_id": c.run_id,
            "model": c.model,
            "preset": c.preset,
            "dataset": c.dataset,
            "task": c.task,
            "seed": c.seed,
            "status": c.status,
            "reason": c.reason,
            "truncated": c.truncated,
            "finished": c.finished,
            "training": cell_mode(c.info) if c.status == "done" else None,
            "integrity": (store.verify(c.key) or "ok") if c.status == "done" else None,
        }
        if c.status != "done":
            out.append({**base, **dict.fromkeys(METRIC_FIELDS)})
            continue
        stored = store.metrics(c.key)
        for m in stored:
            value, note = _finite(m["value"]), m.get("note") or ""
            if value is None and m["value"] is not None and not note:
                note = f"the metric gave a non-finite value ({m['value']})"
            out.append(
                {
                    **base,
                    "metric": m["name"],
                    "split": m["split"],
                    "mode": m["mode"],
                    "value": value,
                    "std": _finite(m["std"]),
                    "unit": m["unit"],
                    "n": m["n"],
                    "state": _state(value, note),
                    "note": note,
                    "metric_version": m["version"],
                }
            )
        names = {m["name"] for m in stored}
        for name, why in sorted((c.info.get("metric_errors") or {}).items()):
            if name not in names:
                out.append({**base, **dict.fromkeys(METRIC_FIELDS), "metric": name, "state": "error", "note": why})
    return out


def to_json(store: Store, task: str | None = None) -> str:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "fields": list(CELL_FIELDS + METRIC_FIELDS),
        "records": records(store, task),
    }
    return json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)
