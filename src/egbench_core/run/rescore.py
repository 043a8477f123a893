"""``egbench score``: the cells of a store whose metrics are new or changed, re-scored from their
stored stages — no training, no MD.

A done cell's provenance holds the metrics it was scored with and its stages' provenance. Under
the installed metrics its key changes when a metric is added, removed, bumped or edited
(``planning.cell_key``); it can be re-scored here when both its stages are stored intact and the
metrics that watch the MD (observers, which can end a replica and so shape the trajectories) are
the ones its simulation ran with. Otherwise it says why (``egbench run`` recomputes what is needed).
``egbench run`` reaches the same keys by planning, and re-scores the same way (stage reuse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from egbench_core.cell import Cell, plan_from_dict
from egbench_core.interfaces import stable_hash
from egbench_core.run.planning import cell_key, metric_provenance
from egbench_core.stages.keys import LAYOUT
from egbench_core.stages.store import StageStore
from egbench_core.store import CellRow, Store


@dataclass
class Rescoring:
    cells: list[Cell] = field(default_factory=list)  # to re-score
    changed: dict[str, list[str]] = field(default_factory=dict)  # cell label -> metrics new/changed/removed
    blocked: list[tuple[str, str]] = field(default_factory=list)  # (cell label, why it cannot be re-scored)
    current: int = 0  # cells already scored with the installed metrics


def plan_rescoring(catalog, store: Store, rows: list[CellRow]) -> Rescoring:
    """Which of the done cells ``rows`` (the latest of each model × dataset × task × seed) to
    re-score under the installed metrics."""
    out = Rescoring()
    scoring = metric_provenance(catalog)
    observers = scoring.pop("observers")
    stages = StageStore(store)
    for row in rows:
        label = f"{row.model}[{row.preset}] × {row.dataset} × {row.task} (seed {row.seed})"
        prov = row.provenance or {}
        if prov.get("layout") != LAYOUT:
            out.blocked.append((label, "stored before stages: `egbench run` recomputes it"))
            continue
        new = {**prov, **scoring}
        keys = {kind: stable_hash(p) for kind, p in (prov.get("stages") or {}).items()}
        if cell_key(new, keys) == row.key:
            out.current += 1
            continue
        sim = (prov.get("stages") or {}).get("simulate")
        if sim is not None and sim.get("observers") != observers:
            watched = sorted(set(sim.get("observers") or {}) ^ set(observers)) or sorted(observers)
            out.blocked.append(
                (label, f"a metric that watches the MD changed ({', '.join(watched)}): `egbench run` simulates again")
            )
            continue
        missing = [kind for kind, key in keys.items() if stages.done(key) is None]
        if missing:
            out.blocked.append((label, f"its {' and '.join(missing)} stage is not stored: `egbench run` computes it"))
            continue
        out.changed[label] = _changed(prov.get("metrics") or {}, scoring["metrics"], prov, scoring)
        plan = plan_from_dict((prov.get("task") or {}).get("plan"))
        out.cells.append(
            Cell(row.model, row.preset, row.dataset, row.task, row.seed, plan, "", cell_key(new, keys), new, keys)
        )
    return out


def _changed(old: dict[str, Any], new: dict[str, Any], prov: dict[str, Any], scoring: dict[str, Any]) -> list[str]:
    what = [f"{m} (new)" for m in sorted(set(new) - set(old))]
    what += [f"{m} (changed)" for m in sorted(set(new) & set(old)) if new[m] != old[m]]
    what += [f"{m} (removed)" for m in sorted(set(old) - set(new))]
    if prov.get("score_code") != scoring["score_code"]:
        what.append("core's scoring code (changed)")
    return what
