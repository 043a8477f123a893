"""Plan the cross product models × datasets × tasks × seeds, skip with reasons, execute, store.

Every planned combination becomes a cell: either runnable, or skipped with the reason kept in
the store (missing dependency, no such preset, periodic data for a non-periodic model, the task
does not apply to the dataset, data not available offline). A cell's key hashes everything that
can change its numbers (:func:`cell_provenance`): the code of core and of every plugin involved
(distribution, version, source hash), the resolved preset, the data fingerprints, the task plan,
the protocol preset, the metric versions, the seed, device class and precision. A cell already
``done`` under the same key, with intact artifacts, is not recomputed.

Running a cell: claim it in the store (a live claim of another process is skipped: "running in
another process"), renew the claim with a heartbeat while it runs, compute into a private
folder, and only then record ``done``. A failing cell is recorded with its traceback and the
run goes on; SIGINT/SIGTERM record the cell as *interrupted* (recomputed next time) and stop.
"""
from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from .cell import Cell
from .interfaces import SkipCell, stable_hash
from .protocol import protocol
from .provenance import core_code, plugin_code, run_provenance
from .store import HEARTBEAT_S, Store, new_owner

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "2"  # bump when execute.py changes what a cell computes
DEVICE = "cpu"  # device class of every cell (GPU execution: issue 9)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a run (``signal`` names which)."""

    def __init__(self, signal: str = "SIGINT"):
        super().__init__(signal)
        self.signal = signal


def select(kind: str, names: str | Sequence[str] | None, available: dict[str, Any], families: bool = False,
           problems: dict[str, str] | None = None) -> list[str]:
    """``all`` / None → everything; ``a,b`` → those (unknown names are an error naming what exists;
    a broken one is an error with its reason). For tasks a family name (``ood``) selects every
    task of that family."""
    if names is None or names == "all" or names == ["all"]:
        return sorted(available)
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if not wanted:
        raise KeyError(f"no {kind} named: the list is empty; available: {', '.join(sorted(available)) or 'none'}")
    out: list[str] = []
    for n in wanted:
        if n in available:
            out.append(n)
            continue
        fam = [t for t, spec in sorted(available.items()) if families and getattr(spec, "family", "") == n]
        if fam:
            out.extend(fam)
            continue
        why = (problems or {}).get(f"{kind}:{n}")
        if why:
            raise KeyError(f"{kind} {n!r} is broken: {why}")
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


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` → [0, 1, 2]; every seed a non-negative integer (ValueError naming the bad one)."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(f"--seeds {text!r}: {part!r} is not a non-negative integer (e.g. --seeds 0,1,2)")
        seeds.append(int(part))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: a seed is repeated")
    return seeds


def plan_cells(catalog, models=None, datasets=None, tasks=None, preset: str = "quick", seed: int = 0,
               seeds: Sequence[int] | None = None) -> list[Cell]:
    proto = protocol(preset)
    seeds = list(seeds) if seeds is not None else [seed]
    for s in seeds:
        if not isinstance(s, int) or s < 0:
            raise ValueError(f"seed {s!r}: expected a non-negative integer")
    m_names = select("model", models, catalog.models, problems=catalog.problems)
    d_names = select("dataset", datasets, catalog.datasets, problems=catalog.problems)
    t_names = select("task", tasks if tasks is not None else "standard", catalog.tasks, families=True,
                     problems=catalog.problems)
    shared = {"protocol": PROTOCOL_VERSION, "core": core_code(), "protocol_preset": proto.to_dict(),
              "metrics": {m.name: {"version": m.version, "code": _code_ref(catalog, m.plugin)}
                          for m in sorted(catalog.metrics.values(), key=lambda m: m.name)},
              "device": DEVICE}
    data_cache: dict[str, Any] = {}
    cells = []
    for m in m_names:
        spec = catalog.models[m]
        model_prov = {"id": m, "version": spec.version, "code": _model_code(catalog, spec)}
        for d in d_names:
            ds = catalog.datasets[d]
            for t in t_names:
                task = catalog.tasks[t]
                template = Cell(m, preset, d, t, seeds[0])
                template.skip_reason = _skip_reason(catalog, spec, ds, task, template)
                plan = template.plan
                train_name = (plan.train_dataset if plan is not None else None) or d
                data = {name: _data_ref(catalog, name, data_cache) for name in dict.fromkeys([d, train_name])
                        if name in catalog.datasets}
                preset_cfg = spec.presets.get(preset)
                for s in seeds:
                    cell = Cell(m, preset, d, t, s, plan, template.skip_reason)
                    cell.provenance = {
                        **shared, "model": model_prov, "preset": {"name": preset, "resolved": preset_cfg},
                        "data": data, "task": {"id": t, "version": task.version, "code": _code_ref(catalog, task.plugin),
                                               "plan": asdict(plan) if plan else None},
                        "seed": s, "precision": _precision(preset_cfg),
                    }
                    cell.key = stable_hash(cell.provenance)
                    cells.append(cell)
    return cells


def _precision(preset_cfg: dict[str, Any] | None) -> str:
    return str(((preset_cfg or {}).get("train") or {}).get("dtype", "float32"))


def _code_ref(catalog, plugin: str) -> Any:
    """Core's code is in every key already: built-ins say "core"; a plugin gives its own code."""
    info = catalog.plugins.get(plugin)
    if info is None or info.origin == "built-in":
        return "core"
    return plugin_code(info)


def _model_code(catalog, spec) -> Any:
    if spec.environment:
        from .envs import remote_model_code

        return remote_model_code(spec.environment, spec.name)
    return _code_ref(catalog, spec.plugin)


def _data_ref(catalog, name: str, cache: dict[str, Any]) -> Any:
    if name not in cache:
        ds = catalog.datasets[name]
        cache[name] = {"fingerprint": _fingerprint(ds), "code": _code_ref(catalog, ds.plugin)}
    return cache[name]


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
    failed_kept: int = 0  # failed in an earlier run, kept by --no-retry-failed
    skipped: int = 0
    busy: int = 0  # running in another process
    recomputed: list[str] = field(default_factory=list)  # done cells whose artifacts were missing/altered
    interrupted: bool = False


class _Heartbeat:
    """Renews a cell's claim every HEARTBEAT_S seconds from a thread (its own SQLite connection)."""

    def __init__(self, store: Store, key: str, owner: str):
        self.path, self.key, self.owner = store.path, key, owner
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{key[:8]}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)

    def _beat(self) -> None:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            while not self.stop.wait(HEARTBEAT_S):
                try:
                    db.execute("UPDATE cells SET heartbeat=? WHERE key=? AND owner=? AND status='running'",
                               (time.time(), self.key, self.owner))
                except sqlite3.Error as exc:  # a busy database: try again next beat
                    log.debug("heartbeat of %s failed: %s", self.key[:8], exc)
        finally:
            db.close()


def run_cells(cells: Sequence[Cell], catalog, store: Store, argv: list[str] | None = None, progress=None,
              retry_failed: bool = True) -> RunSummary:
    from .execute import NullProgress

    progress = progress or NullProgress()
    owner = new_owner()
    prov = run_provenance(catalog)
    run_id = store.start_run(argv or sys.argv, prov["machine"], prov)
    summary = RunSummary(run_id)
    status = "interrupted"
    try:
        for cell in cells:
            _run_one(cell, catalog, store, run_id, owner, summary, progress, retry_failed)
        status = "finished"
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        store.finish_run(run_id, status)
    return summary


def _run_one(cell: Cell, catalog, store: Store, run_id: int, owner: str, summary: RunSummary, progress,
             retry_failed: bool) -> None:
    from .execute import execute_cell

    if cell.skip_reason:
        store.mark(cell.key, run_id, cell.ident, "skipped", reason=cell.skip_reason, provenance=cell.provenance)
        summary.skipped += 1
        _notify(progress, "cell_skipped", cell)
        return
    prev = store.cell(cell.key)
    replace_done = False
    if prev is not None and prev.status == "done":
        problems = store.verify(cell.key)
        if not problems:
            summary.cached += 1
            _notify(progress, "cell_cached", cell)
            return
        log.warning("cell %s was done but %s: recomputing it", cell.label, "; ".join(problems))
        summary.recomputed.append(f"{cell.label}: {'; '.join(problems)}")
        replace_done = True
    if prev is not None and prev.status == "failed" and not retry_failed:
        summary.failed_kept += 1
        _notify(progress, "cell_cached", cell)
        return
    claim = store.claim(cell.key, run_id, cell.ident, owner, cell.provenance, replace_done=replace_done)
    if claim.state == "done":
        summary.cached += 1
        _notify(progress, "cell_cached", cell)
        return
    if claim.state == "busy":
        summary.busy += 1
        log.info("cell %s: %s", cell.label, claim.reason)
        _notify(progress, "cell_busy", cell, claim.reason)
        return
    store.discard_scratch(cell.key)  # leftovers of a killed attempt
    scratch = store.scratch_dir(cell.key, owner)
    _notify(progress, "cell_started", cell)
    t0 = time.perf_counter()
    try:
        with _Heartbeat(store, cell.key, owner):
            res = execute_cell(cell, catalog, scratch, protocol(cell.preset), progress)
    except KeyboardInterrupt as exc:
        sig = exc.signal if isinstance(exc, Interrupted) else "SIGINT"
        store.mark(cell.key, run_id, cell.ident, "interrupted", reason=f"interrupted by {sig}; recomputed next run",
                   duration_s=time.perf_counter() - t0, owner=owner)
        store.discard_scratch(cell.key)
        _notify(progress, "cell_finished", cell, "interrupted")
        raise
    except Exception as exc:  # noqa: BLE001 - one failing cell never kills the run
        tb = traceback.format_exc()
        log.error("cell %s failed: %s", cell.label, exc)
        store.mark(cell.key, run_id, cell.ident, "failed", reason=f"{type(exc).__name__}: {exc}", error=tb,
                   duration_s=time.perf_counter() - t0, owner=owner)
        store.discard_scratch(cell.key)
        summary.failed += 1
        _notify(progress, "cell_finished", cell, "failed")
        return
    ok = store.finish_cell(cell.key, run_id, owner, scratch, res.metrics, res.artifacts, res.info,
                           time.perf_counter() - t0, truncated=bool(res.info.get("truncated")))
    if not ok:  # the claim was taken over (this process stalled past the lease): the other attempt counts
        summary.busy += 1
        _notify(progress, "cell_busy", cell, "its claim was taken over by another process")
        return
    summary.done += 1
    _notify(progress, "cell_finished", cell, "done")


def _notify(progress, event: str, *args) -> None:
    fn = getattr(progress, event, None)
    if fn is not None:
        fn(*args)
