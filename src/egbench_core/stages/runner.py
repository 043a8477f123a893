"""A run's stages: which a cell reuses, which it computes, and which it must wait for.

Before a cell is submitted, :meth:`RunStages.take` looks at its ``train`` stage: done (and intact)
→ reused; being computed by a cell of this run, or claimed by another live process → the cell
waits (it is submitted once the training is stored, and then reuses it: one training for acac
``standard`` and ``ood-temperature``); else this cell claims it and trains. Its ``simulate`` stage
is reused when done (a cell recomputed for a new or changed metric re-scores only). When the cell
is done, :meth:`RunStages.finished` registers the stages it computed from its folder. The runner
(``run/runner.py``) is the only caller; the store (``stages/store.py``) holds the rows and files.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from egbench_core.cell import Cell
from egbench_core.stages.store import StageStore
from egbench_core.store import Store

log = logging.getLogger(__name__)


class RunStages:
    def __init__(self, store: Store, run_id: int, owner: str, claims: Any):
        self.stages = StageStore(store)
        self.run_id, self.owner, self.claims = run_id, owner, claims
        self.training: dict[str, str] = {}  # train key -> label of the cell of this run computing it
        self.early: dict[str, str] = {}  # cell key -> train key it registered before the cell finished
        self.owned: dict[str, dict[str, str]] = defaultdict(dict)  # cell key -> kind -> stage key it claimed
        self.reuse: dict[str, dict[str, str]] = {}  # cell key -> kind -> folder of the done stage it reads
        self.counts: dict[str, Counter] = defaultdict(Counter)  # kind -> computed / reused
        self.scratch: dict[str, Path] = {}  # cell key -> its attempt folder
        self._trained: set[str] = set()  # cells whose training is written (told from any thread)
        self._lock = threading.Lock()

    def trained(self, cell: Cell) -> None:
        """``cell`` has written its training (its progress moved on to evaluation): the stage can be
        registered before the cell's MD, so the cells that wait for it start now. Called from any
        thread (a Dask client's event thread); :meth:`register_trained` does the writing."""
        if "train" in self.owned.get(cell.key, {}):
            with self._lock:
                self._trained.add(cell.key)

    def register_trained(self) -> None:
        """Register the trainings told by :meth:`trained` (in the runner's thread)."""
        with self._lock:
            told, self._trained = self._trained, set()
        for cell_key in told:
            key = self.owned.get(cell_key, {}).pop("train", None)
            if key is None or cell_key not in self.scratch:
                continue
            folder = self.scratch[cell_key]
            info = _train_info(folder)
            took = (info.get("train") or {}).get("total_time_s")
            ok = self.stages.finish(key, "train", self.owner, folder, info, took)
            self.claims.remove(key)
            self.training.pop(key, None)
            self.early[cell_key] = key if ok else ""

    def wait_reason(self, cell: Cell) -> str:
        """Why ``cell`` cannot start yet (its training is being computed elsewhere), or ``""``."""
        key = cell.stages.get("train")
        if cell.skip_reason or not key:
            return ""
        if key in self.training:
            return f"waits for the training of {self.training[key]}"
        return self.stages.busy(key, self.owner)

    def take(self, cell: Cell) -> bool:
        """Claim the training ``cell`` will compute (unless it is done); False if another process
        took it meanwhile (the cell waits)."""
        key = cell.stages.get("train")
        if cell.skip_reason or not key or self.stages.done(key) is not None:
            return True
        claim = self.stages.claim(key, "train", self.run_id, self.owner, self._provenance(cell, "train"))
        if claim.state == "busy":
            return False
        if claim.state == "claimed":
            self.owned[cell.key]["train"] = key
            self.training[key] = cell.label
            self.claims.add(key)
        return True

    def plan(self, cell: Cell) -> dict[str, str]:
        """The folders of the done stages ``cell`` reuses (after its own claim); claims the
        ``evaluate`` and ``simulate`` stages it computes. Stages downstream of a training are reused
        only with that training (their files sit beside its checkpoint in the cell's folder)."""
        reuse: dict[str, str] = {}
        train = cell.stages.get("train")
        train_dir = self.stages.done(train) if train and "train" not in self.owned[cell.key] else None
        if train_dir is not None:
            reuse["train"] = str(train_dir)
        for kind, key in cell.stages.items():
            if kind == "train":
                continue
            done = self.stages.done(key) if train_dir is not None else None
            if done is not None:
                reuse[kind] = str(done)
                continue
            claim = self.stages.claim(key, kind, self.run_id, self.owner, self._provenance(cell, kind))
            if claim.state == "claimed":
                self.owned[cell.key][kind] = key
                self.claims.add(key)
        self.reuse[cell.key] = reuse
        return reuse

    def release(self, cell: Cell) -> None:
        """The cell did not finish (skipped, cached, failed, interrupted): drop the stages it claimed
        (a training it registered already stays: it was complete)."""
        self.scratch.pop(cell.key, None)
        self.early.pop(cell.key, None)
        with self._lock:
            self._trained.discard(cell.key)
        for key in self.owned.pop(cell.key, {}).values():
            self.stages.release(key, self.owner)
            self.claims.remove(key)
            self.training.pop(key, None)
        self.reuse.pop(cell.key, None)

    def cached(self, cell: Cell) -> None:
        self.release(cell)
        if cell.stages:
            for kind in (*cell.stages, "score"):
                self.counts[kind.partition(":")[0]]["reused"] += 1

    def finished(self, cell: Cell, folder: Path, info: dict[str, Any]) -> None:
        """Register the stages ``cell`` computed (from its done folder) and what it read."""
        if cell.key in self.scratch:
            self.scratch[cell.key] = folder  # its attempt folder has moved into place
        self.register_trained()
        owned = self.owned.pop(cell.key, {})
        reuse = self.reuse.pop(cell.key, {})
        self.early.pop(cell.key, None)
        self.scratch.pop(cell.key, None)
        for kind, key in owned.items():
            stage_info = _train_info(folder) if kind == "train" else _stage_info(kind, info)
            ok = self.stages.finish(key, kind, self.owner, folder, stage_info, _duration(kind, info, folder))
            self.claims.remove(key)
            self.training.pop(key, None)
            if not ok:
                log.info("%s stage of %s not stored (its claim was lost or a file is missing)", kind, cell.label)
        for kind in cell.stages:
            self.counts[kind.partition(":")[0]]["reused" if kind in reuse else "computed"] += 1
        if cell.stages:
            self.counts["score"]["computed"] += 1
            self.stages.link_cell(cell.key, cell.stages, {k: k in reuse for k in cell.stages})

    def _provenance(self, cell: Cell, kind: str) -> dict[str, Any]:
        return dict((cell.provenance.get("stages") or {}).get(kind) or {})


def _train_info(folder: Path) -> dict[str, Any]:
    """A training's record (``train.json``: the training record, statistics, how the energies came
    about, the precision)."""
    try:
        return json.loads((folder / "train.json").read_text())
    except (OSError, ValueError):
        return {}


def _stage_info(kind: str, info: dict[str, Any]) -> dict[str, Any]:
    hardware = info.get("hardware") or {}
    return {"hardware": hardware, "md_failures": info.get("md_failures"), "n_frames": info.get("n_frames")}


def _duration(kind: str, info: dict[str, Any], folder: Path) -> float | None:
    """Seconds the stage took: the training's total time; the MD's (Σ over replicas of steps ×
    measured time per step; None without MD)."""
    if kind == "train":
        return (info.get("train") or {}).get("total_time_s")
    if kind != "simulate":
        return None
    try:
        replicas = json.loads((folder / "md" / "replicas.json").read_text())
    except (OSError, ValueError):
        return None
    per_replica = [float(r.get("time_per_step_ms") or 0.0) * int(r.get("steps_done") or 0) for r in replicas]
    return sum(x for x in per_replica if math.isfinite(x)) / 1000


def summary_line(counts: dict[str, Counter]) -> str:
    """``train: 2 computed, 2 reused · evaluate: 4 computed · simulate: 4 computed · score: 4 computed``."""
    parts = []
    for kind in ("train", "evaluate", "simulate", "score"):
        c = counts.get(kind)
        if not c:
            continue
        bits = [f"{c[w]} {w}" for w in ("computed", "reused") if c[w]]
        parts.append(f"{kind}: {', '.join(bits)}")
    return " · ".join(parts)
