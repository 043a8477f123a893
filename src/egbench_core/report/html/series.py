"""The arrays behind the per-dataset plots, read from each done cell's artifacts and info:
g(r) (``rdf.json``), EV/FV over time (``dynamics-*.json``), the oracle's force error per frame
(``oracle.json``), survival (``stability.json``), predicted vs reference forces and energies on
the first evaluation split (``predictions-<split>.npz``), the training history (info), and the
(F MAE, MD ms/step) point of each model. A missing or unreadable file leaves its plot out of that
cell (logged), never the page."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from egbench_core.report.html.cells import Group
from egbench_core.report.leaderboard import TABLES
from egbench_core.store import Store

log = logging.getLogger(__name__)
MAX_FORCE_POINTS = 1500  # force components per model in a parity plot (evenly spaced over the split)
MAX_ENERGY_POINTS = 500
F_MAE = next(c for c in TABLES["static"] if c.metric == "force_mae")
MD_COST = next(c for c in TABLES["static"] if c.metric == "md_time_per_step")


@dataclass
class ModelSeries:
    label: str  # legend text: "model [preset]", with the seed when the group has several
    model: str  # "model [preset]": one colour per model on every page
    rdf: dict[str, Any] | None = None  # r, g, g_ref, periodic
    dynamics: list[dict[str, Any]] = field(default_factory=list)  # per mode: {mode, series: [{time_fs, ev, fv}]}
    oracle: list[dict[str, Any]] = field(default_factory=list)  # per replica: time_fs, force_mae (eV/Å)
    survival: dict[str, Any] | None = None  # time_fs, fraction
    parity: dict[str, Any] | None = None  # split, f_ref, f_pred (eV/Å), e_ref, e_pred (eV/atom)
    history: list[dict[str, Any]] = field(default_factory=list)  # epoch, train_loss, val_loss, lr
    oracle_reason: str = ""  # why no oracle labelled the frames


@dataclass
class CostPoint:
    model: str
    force_mae: float  # meV/Å, mean over seeds
    ms_per_step: float


@dataclass
class DatasetTask:
    dataset: str
    task: str
    split: str  # the evaluation split of the parity plots
    series: list[ModelSeries]
    cost: list[CostPoint]


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("HTML report: cannot read %s (%s); its plot is left out", path, exc)
        return None


def _spread(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int)) if n else np.zeros(0, int)


def _parity(path: Path, split: str) -> dict[str, Any] | None:
    try:
        with np.load(path) as z:
            f_ref, f_pred = np.asarray(z["ref_forces"]).ravel(), np.asarray(z["forces"]).ravel()
            n_atoms = np.asarray(z["n_atoms"], dtype=float)
            e_ref, e_pred = np.asarray(z["ref_energy"]) / n_atoms, np.asarray(z["energy"]) / n_atoms
    except (OSError, KeyError, ValueError) as exc:
        log.warning("HTML report: cannot read %s (%s); its parity plot is left out", path, exc)
        return None
    fi, ei = _spread(len(f_ref), MAX_FORCE_POINTS), _spread(len(e_ref), MAX_ENERGY_POINTS)
    keep = lambda a, i: [float(x) for x in a[i]]  # noqa: E731
    return {
        "split": split,
        "f_ref": keep(f_ref, fi),
        "f_pred": keep(f_pred, fi),
        "e_ref": keep(e_ref, ei),
        "e_pred": keep(e_pred, ei),
        "n_forces": int(len(f_ref)),
        "n_frames": int(len(e_ref)),
    }


def _one(store: Store, g: Group, i: int) -> ModelSeries:
    cell = g.cells[i]
    label = g.label + (f" seed {cell.seed}" if len(g.cells) > 1 else "")
    s = ModelSeries(
        label,
        g.label,
        history=list((cell.info.get("train") or {}).get("history") or []),
        oracle_reason=str((cell.info.get("oracle") or {}).get("reason") or ""),
    )
    split = g.split
    for kind, path in store.artifacts(cell.key):
        if kind == "predictions" and path.name == f"predictions-{split}.npz":
            s.parity = _parity(path, split)
        elif path.suffix != ".json" or kind not in ("rdf", "dynamics", "oracle", "stability"):
            continue
        elif (doc := _json(path)) is None:
            continue
        elif kind == "rdf":
            s.rdf = doc
        elif kind == "dynamics":
            s.dynamics.append(doc)
        elif kind == "oracle":
            s.oracle = [r for r in doc.get("replicas", []) if r.get("time_fs")]
        elif kind == "stability" and doc.get("survival"):
            s.survival = doc["survival"]
    return s


def dataset_tasks(store: Store, tasks: dict[str, list[Group]], dataset: str) -> list[DatasetTask]:
    out = []
    for task, groups in tasks.items():
        series = [_one(store, g, i) for g in groups for i in range(len(g.cells))]
        cost = []
        for g in groups:
            f, t = g.value(F_MAE), g.value(MD_COST)
            if f.number is not None and t.number is not None:
                cost.append(CostPoint(g.label, f.number, t.number))
        out.append(DatasetTask(dataset, task, groups[0].split, series, cost))
    return out


def pareto(points: list[CostPoint]) -> list[CostPoint]:
    """The points no other point beats on both F MAE and ms/step (lower is better), by cost."""
    front = [
        p
        for p in points
        if not any(
            q is not p
            and q.force_mae <= p.force_mae
            and q.ms_per_step <= p.ms_per_step
            and (q.force_mae < p.force_mae or q.ms_per_step < p.ms_per_step)
            for q in points
        )
    ]
    return sorted(front, key=lambda p: (p.ms_per_step, p.force_mae))
