"""Plan the cross product models × datasets × tasks, skip with reasons, execute, store.

Every planned combination becomes a cell: either runnable, or skipped with the reason kept in
the store (missing dependency, no such preset, periodic data for a non-periodic model, the task
does not apply to the dataset, data not available offline). A cell's key hashes the model
(name, version, preset), the data (file checksums), the task (name, version, plan), the protocol
preset, every metric's version and the seed; a cell already ``done`` under the same key is not
recomputed. A failing cell is recorded with its traceback and the run goes on.
"""
from __future__ import annotations

import logging
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .interfaces import SkipCell, TaskPlan, stable_hash
from .protocol import ProtocolPreset, protocol
from .store import Store

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "1"  # bump when execute.py changes what a cell computes


@dataclass
class Cell:
    model: str
    preset: str
    dataset: str
    task: str
    seed: int
    plan: TaskPlan | None = None
    skip_reason: str = ""
    key: str = ""

    @property
    def label(self) -> str:
        return f"{self.model}[{self.preset}] × {self.dataset} × {self.task} (seed {self.seed})"

    @property
    def ident(self) -> dict[str, Any]:
        return {"model": self.model, "preset": self.preset, "dataset": self.dataset, "task": self.task, "seed": self.seed}


def select(kind: str, names: str | Sequence[str] | None, available: dict[str, Any], families: bool = False) -> list[str]:
    """``all`` / None → everything; ``a,b`` → those (unknown names are an error naming what exists).
    For tasks a family name (``ood``) selects every task of that family."""
    if names is None or names == "all" or names == ["all"]:
        return sorted(available)
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    out: list[str] = []
    for n in wanted:
        if n in available:
            out.append(n)
            continue
        fam = [t for t, spec in sorted(available.items()) if families and getattr(spec, "family", "") == n]
        if fam:
            out.extend(fam)
            continue
        raise KeyError(f"no {kind} named {n!r}; available: {', '.join(sorted(available)) or 'none'}")
    return list(dict.fromkeys(out))


def missing_requirements(requires: Iterable[str]) -> list[str]:
    import importlib.metadata as md

    from packaging.requirements import Requirement

    missing = []
    for r in requires:
        req = Requirement(r)
        try:
            version = md.version(req.name)
        except md.PackageNotFoundError:
            missing.append(f"{r} (not installed)")
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            missing.append(f"{r} (installed {version})")
    return missing


def plan_cells(catalog, models=None, datasets=None, tasks=None, preset: str = "quick", seed: int = 0) -> list[Cell]:
    proto = protocol(preset)
    m_names = select("model", models, catalog.models)
    d_names = select("dataset", datasets, catalog.datasets)
    t_names = select("task", tasks if tasks is not None else "standard", catalog.tasks, families=True)
    metric_versions = {m.name: m.version for m in catalog.metrics.values()}
    cells = []
    for m in m_names:
        spec = catalog.models[m]
        for d in d_names:
            ds = catalog.datasets[d]
            for t in t_names:
                cell = Cell(m, preset, d, t, seed)
                cell.skip_reason = _skip_reason(catalog, spec, ds, catalog.tasks[t], cell)
                cell.key = stable_hash({
                    "protocol": PROTOCOL_VERSION, "model": m, "model_version": spec.version,
                    "preset": spec.preset_hash(preset) if preset in spec.presets else preset,
                    "data": _fingerprint(ds), "task": t, "task_version": catalog.tasks[t].version,
                    "plan": asdict(cell.plan) if cell.plan else None, "proto": proto.to_dict(),
                    "metrics": metric_versions, "seed": seed,
                })
                cells.append(cell)
    return cells


def _fingerprint(ds) -> dict[str, str]:
    try:
        return ds.fingerprint()
    except Exception as exc:  # noqa: BLE001
        return {"error": str(exc)}


def _skip_reason(catalog, spec, ds, task, cell: Cell) -> str:
    if cell.preset not in spec.presets:
        return f"model {spec.name} has no preset {cell.preset!r} (it has {', '.join(sorted(spec.presets))})"
    if spec.environment:  # its requirements live in that environment, which pip resolved
        from .envs import EnvironmentError_, get_env

        try:
            get_env(spec.environment)
        except EnvironmentError_ as exc:
            return str(exc)
    else:
        missing = missing_requirements(spec.requires)
        if missing:
            return f"missing dependency: {'; '.join(missing)}"
    if ds.periodic and not spec.capabilities.periodic:
        return f"model {spec.name} does not support periodic systems and {ds.name} is periodic"
    try:
        cell.plan = task.plan(ds)
    except SkipCell as exc:
        return str(exc)
    if spec.capabilities.max_elements is not None and len(ds.elements) > spec.capabilities.max_elements:
        return f"{ds.name} has {len(ds.elements)} elements; model {spec.name} supports at most {spec.capabilities.max_elements}"
    train_ds = catalog.datasets.get(cell.plan.train_dataset or ds.name)
    if train_ds is None:
        return f"task {task.name} trains on dataset {cell.plan.train_dataset!r}, which is not installed"
    unseen = sorted(set(ds.elements) - set(train_ds.elements))
    if unseen:
        return f"elements {', '.join(unseen)} of {ds.name} never occur in the training data ({train_ds.name})"
    plan = cell.plan
    needed = {train_ds.name: {plan.train_split, plan.val_split}}
    needed.setdefault(ds.name, set()).update(plan.eval_splits)
    if plan.md is not None:
        needed[ds.name].update({plan.md.start_split, plan.md.reference_split})
    for d, splits in needed.items():
        why = catalog.datasets[d].unavailable_reason(sorted(splits))
        if why:
            return f"dataset {d}: {why}; run `egbench fetch {d}` or set EGBENCH_DATA_MIRROR"
    return ""


@dataclass
class RunSummary:
    run_id: int
    done: int = 0
    cached: int = 0
    failed: int = 0
    skipped: int = 0


def run_cells(cells: Sequence[Cell], catalog, store: Store, argv: list[str] | None = None, progress=None,
              retry_failed: bool = True) -> RunSummary:
    from .environment import hardware
    from .execute import NullProgress, execute_cell

    progress = progress or NullProgress()
    run_id = store.start_run(argv or sys.argv, hardware())
    summary = RunSummary(run_id)
    try:
        for cell in cells:
            if cell.skip_reason:
                store.mark(cell.key, run_id, cell.ident, "skipped", reason=cell.skip_reason)
                summary.skipped += 1
                _notify(progress, "cell_skipped", cell)
                continue
            prev = store.cell(cell.key)
            if prev is not None and (prev.status == "done" or (prev.status == "failed" and not retry_failed)):
                summary.cached += 1
                _notify(progress, "cell_cached", cell)
                continue
            _notify(progress, "cell_started", cell)
            store.mark(cell.key, run_id, cell.ident, "running")
            t0 = time.perf_counter()
            try:
                res = execute_cell(cell, catalog, store.root, store.artifacts_dir(cell.key), protocol(cell.preset), progress)
            except KeyboardInterrupt:
                store.mark(cell.key, run_id, cell.ident, "failed", error="interrupted by the user (KeyboardInterrupt)",
                           duration_s=time.perf_counter() - t0)
                raise
            except Exception as exc:  # noqa: BLE001 - one failing cell never kills the run
                tb = traceback.format_exc()
                log.error("cell %s failed: %s", cell.label, exc)
                store.mark(cell.key, run_id, cell.ident, "failed", reason=f"{type(exc).__name__}: {exc}", error=tb,
                           duration_s=time.perf_counter() - t0)
                summary.failed += 1
                _notify(progress, "cell_finished", cell, "failed")
                continue
            store.finish_cell(cell.key, run_id, cell.ident, res.metrics, res.artifacts, res.info, time.perf_counter() - t0)
            summary.done += 1
            _notify(progress, "cell_finished", cell, "done")
    finally:
        store.finish_run(run_id)
    return summary


def _notify(progress, event: str, *args) -> None:
    fn = getattr(progress, event, None)
    if fn is not None:
        fn(*args)


def results_dir(out: str | Path | None) -> Path:
    return Path(out) if out else Path("egbench-results")
