"""Results store: SQLite (standard library, WAL mode) in the results folder; artifacts beside it.

Tables: ``runs`` (one per ``egbench run``), ``cells`` (status ``running`` / ``done`` / ``failed``
/ ``skipped``, with the skip reason or the traceback), ``metrics`` (long format), ``artifacts``
(paths of checkpoints, trajectories, predictions, relative to the results folder). A cell is
written ``running`` before it starts, so a killed run leaves a visible ``running`` row that the
next run recomputes (``interrupted`` in reports).
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from .interfaces import MetricValue

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT, finished TEXT, argv TEXT, environment TEXT);
CREATE TABLE IF NOT EXISTS cells(
  key TEXT PRIMARY KEY, run_id INTEGER, model TEXT, preset TEXT, dataset TEXT, task TEXT, seed INTEGER,
  status TEXT, reason TEXT, error TEXT, started TEXT, finished TEXT, duration_s REAL, info TEXT);
CREATE TABLE IF NOT EXISTS metrics(
  cell_key TEXT, name TEXT, split TEXT, mode TEXT, value REAL, std REAL, unit TEXT, n INTEGER,
  version TEXT, note TEXT, PRIMARY KEY(cell_key, name, split, mode));
CREATE TABLE IF NOT EXISTS artifacts(cell_key TEXT, kind TEXT, path TEXT, PRIMARY KEY(cell_key, kind, path));
"""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class CellRow:
    key: str
    run_id: int
    model: str
    preset: str
    dataset: str
    task: str
    seed: int
    status: str
    reason: str
    error: str
    started: str
    finished: str
    duration_s: float | None
    info: dict[str, Any]


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "egbench.sqlite"
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: results store schema {row[0]}, this egbench writes {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def artifacts_dir(self, key: str) -> Path:
        d = self.root / "artifacts" / key[:16]
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -- runs -----------------------------------------------------------------------------
    def start_run(self, argv: list[str], environment: dict[str, Any]) -> int:
        cur = self.db.execute("INSERT INTO runs(started, argv, environment) VALUES(?,?,?)",
                              (_now(), json.dumps(argv), json.dumps(environment)))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET finished=? WHERE id=?", (_now(), run_id))

    # -- cells ----------------------------------------------------------------------------
    def cell(self, key: str) -> CellRow | None:
        r = self.db.execute("SELECT * FROM cells WHERE key=?", (key,)).fetchone()
        return _row(r) if r else None

    def is_done(self, key: str) -> bool:
        r = self.cell(key)
        return r is not None and r.status == "done"

    def mark(self, key: str, run_id: int, ident: dict[str, Any], status: str, reason: str = "", error: str = "",
             info: dict[str, Any] | None = None, duration_s: float | None = None) -> None:
        started = _now() if status == "running" else None
        with self.transaction() as db:
            prev = db.execute("SELECT started FROM cells WHERE key=?", (key,)).fetchone()
            if status != "running" and prev is not None:
                started = prev[0]
            if status in ("running", "skipped"):  # a fresh attempt replaces the old results
                db.execute("DELETE FROM metrics WHERE cell_key=?", (key,))
                db.execute("DELETE FROM artifacts WHERE cell_key=?", (key,))
            db.execute(
                "INSERT OR REPLACE INTO cells(key, run_id, model, preset, dataset, task, seed, status, reason, error,"
                " started, finished, duration_s, info) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (key, run_id, ident["model"], ident["preset"], ident["dataset"], ident["task"], ident["seed"], status,
                 reason, error, started, None if status == "running" else _now(), duration_s,
                 json.dumps(info or {}, default=str)))

    def finish_cell(self, key: str, run_id: int, ident: dict[str, Any], metrics: Iterable[tuple[MetricValue, str]],
                    artifacts: Iterable[tuple[str, str]], info: dict[str, Any], duration_s: float) -> None:
        """Write metrics, artifacts and the ``done`` status in one transaction."""
        with self.transaction() as db:
            for m, version in metrics:
                db.execute("INSERT OR REPLACE INTO metrics VALUES(?,?,?,?,?,?,?,?,?,?)",
                           (key, m.name, m.split, m.mode, m.value, m.std, m.unit, m.n, version, m.note))
            for kind, path in artifacts:
                db.execute("INSERT OR REPLACE INTO artifacts VALUES(?,?,?)", (key, kind, path))
            db.execute("UPDATE cells SET status='done', reason='', error='', finished=?, duration_s=?, info=?, run_id=?"
                       " WHERE key=?", (_now(), duration_s, json.dumps(info, default=str), run_id, key))

    def cells(self, status: str | None = None) -> list[CellRow]:
        q = "SELECT * FROM cells" + (" WHERE status=?" if status else "") + " ORDER BY model, dataset, task, seed"
        return [_row(r) for r in self.db.execute(q, (status,) if status else ())]

    def metrics(self, key: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM metrics WHERE cell_key=? ORDER BY name, split", (key,))]

    def artifacts(self, key: str) -> list[tuple[str, Path]]:
        return [(r["kind"], self.root / r["path"]) for r in
                self.db.execute("SELECT kind, path FROM artifacts WHERE cell_key=? ORDER BY kind, path", (key,))]


def _row(r: sqlite3.Row) -> CellRow:
    d = dict(r)
    d["info"] = json.loads(d["info"] or "{}")
    d["reason"] = d["reason"] or ""
    d["error"] = d["error"] or ""
    return CellRow(**d)
