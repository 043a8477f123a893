"""Stages in the results store: ``stages`` (key, kind, status, the claim, timings, info,
provenance), ``stage_artifacts`` (files under ``stages/<kind>/<key[:16]>/`` with their sha256) and
``cell_stages`` (which stages each cell read, and whether it reused them).

A stage is claimed like a cell (:meth:`StageStore.claim`: a live claim of another process is
never taken, a stale one is), so two runs that need the same training train once: the second
waits for the first. A stage is registered from the folder of the cell that computed it, once that
cell is done (:meth:`StageStore.finish`): its files are hard-linked (never copied twice) into the
stage's folder and recorded with their checksums, which :meth:`StageStore.verify` checks before a
stage is reused.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egbench_core.store import Claim, Store, _now, file_sha256, owner_alive

log = logging.getLogger(__name__)

# the files of a cell's folder that make up each stage (glob patterns relative to the folder;
# {split}: an evaluate stage's split)
FILES = {
    "train": ("model.pt", "model.json", "train.json"),
    "evaluate": ("predictions-{split}.npz", "evaluate-{split}.json"),
    "simulate": ("md/**/*", "md.json"),
}


@dataclass
class StageRow:
    key: str
    kind: str
    status: str
    owner: str
    heartbeat: float | None
    duration_s: float | None
    info: dict[str, Any]
    provenance: dict[str, Any]
    reason: str


class StageStore:
    """The stages of one store (the same connection: the runner is the only writer)."""

    def __init__(self, store: Store):
        self.store = store
        self.root = store.root
        self.db = store.db
        self._intact: set[str] = set()  # stages whose files this process has verified already

    def folder(self, kind: str, key: str) -> Path:
        return self.root / "stages" / kind.partition(":")[0] / key[:16]

    def get(self, key: str) -> StageRow | None:
        r = self.db.execute("SELECT * FROM stages WHERE key=?", (key,)).fetchone()
        if r is None:
            return None
        d = dict(r)
        return StageRow(
            key=d["key"],
            kind=d["kind"],
            status=d["status"],
            owner=d.get("owner") or "",
            heartbeat=d.get("heartbeat"),
            duration_s=d.get("duration_s"),
            info=json.loads(d.get("info") or "{}"),
            provenance=json.loads(d.get("provenance") or "{}"),
            reason=d.get("reason") or "",
        )

    def done(self, key: str) -> Path | None:
        """The folder of the done, intact stage ``key``, or None (an altered one is forgotten)."""
        row = self.get(key)
        if row is None or row.status != "done":
            return None
        problems = [] if key in self._intact else self.verify(key)
        if not problems:
            self._intact.add(key)
        else:
            log.warning("%s stage %s: %s; it is computed again", row.kind, key[:16], "; ".join(problems))
            self.forget(key)
            return None
        return self.folder(row.kind, key)

    def busy(self, key: str, owner: str) -> str:
        """Why another live process holds the stage (it is being computed there), or ``""``."""
        row = self.get(key)
        if row is None or row.status != "running" or row.owner == owner:
            return ""
        if not owner_alive(row.owner, row.heartbeat):
            return ""
        return f"its {row.kind} stage is being computed by another process ({row.owner})"

    def claim(self, key: str, kind: str, run_id: int, owner: str, provenance: dict[str, Any]) -> Claim:
        with self.store.transaction() as db:
            prev = db.execute("SELECT status, owner, heartbeat FROM stages WHERE key=?", (key,)).fetchone()
            if prev is not None:
                if prev["status"] == "done":
                    return Claim("done")
                if (
                    prev["owner"] != owner
                    and prev["status"] == "running"
                    and owner_alive(prev["owner"], prev["heartbeat"])
                ):
                    return Claim("busy", f"being computed by another process ({prev['owner']})")
            db.execute("DELETE FROM stage_artifacts WHERE stage_key=?", (key,))
            db.execute(
                "INSERT OR REPLACE INTO stages(key, kind, status, run_id, owner, heartbeat, started, finished,"
                " duration_s, info, provenance, reason) VALUES(?,?,'running',?,?,?,?,NULL,NULL,'{}',?,'')",
                (key, kind, run_id, owner, time.time(), _now(), json.dumps(provenance, default=str)),
            )
        return Claim("claimed")

    def release(self, key: str, owner: str) -> None:
        """Drop ``owner``'s claim of a stage it did not finish (the cell failed or was interrupted).
        A store that cannot be written (a full disk) keeps the claim: it goes stale with this
        process and is taken over then."""
        try:
            with self.store.transaction() as db:
                db.execute("DELETE FROM stages WHERE key=? AND owner=? AND status='running'", (key, owner))
        except sqlite3.Error as exc:
            log.warning("stage %s: its claim is left to go stale (%s)", key[:16], exc)

    def forget(self, key: str) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM stages WHERE key=?", (key,))
            db.execute("DELETE FROM stage_artifacts WHERE stage_key=?", (key,))

    def finish(
        self, key: str, kind: str, owner: str, cell_dir: Path, info: dict[str, Any], duration_s: float | None
    ) -> bool:
        """Register the stage ``key`` that ``owner`` computed in the done cell's folder ``cell_dir``:
        its files linked into the stage's folder, recorded with checksums, ``done``. False (nothing
        registered) if the claim was lost or a file of the stage is missing (e.g. written by an
        environment worker of an older egbench)."""
        files = stage_files(kind, cell_dir)
        if not files or (kind == "train" and not (cell_dir / "train.json").exists()):
            self.release(key, owner)
            return False
        final = self.folder(kind, key)
        tmp = final.with_name(f".tmp-{final.name}-{owner.rsplit(':', 1)[-1]}")
        shutil.rmtree(tmp, ignore_errors=True)
        rows = []
        for rel in files:
            src, dst = cell_dir / rel, tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            rows.append((rel, str((final / rel).relative_to(self.root)), file_sha256(dst), dst.stat().st_size))
        with self.store.transaction() as db:
            prev = db.execute("SELECT owner, status FROM stages WHERE key=?", (key,)).fetchone()
            if prev is None or prev["owner"] != owner or prev["status"] != "running":
                shutil.rmtree(tmp, ignore_errors=True)
                return False
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(final)
            for rel, path, sha, size in rows:
                db.execute(
                    "INSERT OR REPLACE INTO stage_artifacts VALUES(?,?,?,?,?)", (key, file_kind(rel), path, sha, size)
                )
            db.execute(
                "UPDATE stages SET status='done', finished=?, duration_s=?, info=?, owner=NULL, heartbeat=NULL"
                " WHERE key=?",
                (_now(), duration_s, json.dumps(info, default=str), key),
            )
        return True

    def verify(self, key: str) -> list[str]:
        problems = []
        for r in self.db.execute("SELECT path, sha256, size FROM stage_artifacts WHERE stage_key=?", (key,)):
            p = self.root / r["path"]
            if not p.is_file():
                problems.append(f"{r['path']} is missing")
            elif p.stat().st_size != r["size"] or file_sha256(p) != r["sha256"]:
                problems.append(f"{r['path']} was altered (sha256 differs from the one recorded)")
        return problems

    def link_cell(self, cell_key: str, stages: dict[str, str], reused: dict[str, bool]) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM cell_stages WHERE cell_key=?", (cell_key,))
            for kind, key in stages.items():
                db.execute(
                    "INSERT INTO cell_stages VALUES(?,?,?,?)", (cell_key, kind, key, int(bool(reused.get(kind))))
                )

    def of_cell(self, cell_key: str) -> list[dict[str, Any]]:
        """The stages a cell read: kind, key, reused, and the stage's status, duration and provenance."""
        out = []
        for r in self.db.execute(
            "SELECT cs.kind, cs.stage_key, cs.reused, s.status, s.duration_s, s.provenance FROM cell_stages cs"
            " LEFT JOIN stages s ON s.key = cs.stage_key WHERE cs.cell_key=? ORDER BY cs.kind",
            (cell_key,),
        ):
            d = dict(r)
            d["provenance"] = json.loads(d.get("provenance") or "null")
            out.append(d)
        return out


def stage_files(kind: str, cell_dir: Path) -> list[str]:
    """The files of ``kind`` (``evaluate:<split>`` for an evaluate stage) in a cell's folder,
    relative to it."""
    base, _, split = kind.partition(":")
    found: set[str] = set()
    for pattern in FILES[base]:
        found.update(str(p.relative_to(cell_dir)) for p in cell_dir.glob(pattern.format(split=split)) if p.is_file())
    return sorted(found)


def file_kind(rel: str) -> str:
    if rel.startswith("md/"):
        return "md-summary" if rel.endswith("replicas.json") else "trajectory"
    if rel.startswith("predictions-"):
        return "predictions"
    return {"model.pt": "checkpoint", "model.json": "model"}.get(rel, "record")
