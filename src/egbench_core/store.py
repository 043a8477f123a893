"""Results store: SQLite (standard library, WAL mode) in the results folder; artifacts beside it.

Tables: ``runs`` (one per ``egbench run``, with the code, library and machine provenance),
``cells`` (status ``running`` / ``done`` / ``failed`` / ``interrupted`` / ``skipped``, the skip
reason or the traceback, the claim: ``owner`` + ``heartbeat``, the cell's provenance),
``metrics`` (long format) and ``artifacts`` (paths relative to the results folder, each with its
sha256 and size).

Concurrency and faults (docs/guide.md, "Results store"):

* a cell is **claimed** before work starts (:meth:`Store.claim`, one transaction): a claim whose
  owner is alive (heartbeat younger than :data:`LEASE_S`, and, on this host, its process exists)
  is never taken; a stale one is taken over;
* a cell's artifacts are written into a private temporary folder and moved into place by
  :meth:`Store.finish_cell`, which records their checksums and the ``done`` status only after
  the move, so nothing ``done`` is incomplete; :meth:`Store.verify` re-checks them;
* each done cell records a checksum over its stored values (its metrics rows and info), written
  in the transaction that marks it ``done``; :meth:`Store.verify` re-checks it with the artifacts;
* :meth:`Store.open_readonly` (``egbench report``) reads a snapshot of a finished store (no SQLite
  connection to the file, so no ``-shm``/``-wal`` file appears and no byte changes) or, while a
  run writes it, opens it with ``mode=ro``; it refuses files that are not egbench stores;
* both openings run ``PRAGMA quick_check`` and read every row once: a damaged file is refused in
  one line (:class:`StoreDamaged`) before anything is counted as cached or shown; a full disk
  while writing is :class:`StoreFull` (the transaction is rolled back, nothing stored is lost).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from egbench_core.interfaces import MetricValue

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
DB_NAME = "egbench.sqlite"
LEASE_S = 90.0  # a claim without a heartbeat for this long is stale
HEARTBEAT_S = 10.0  # how often a running cell's owner renews its claim
# Space kept in the results folder by `egbench run`, given up on a full disk to record the release of
# the cells in flight (a few SQLite pages are enough; a disk that cannot hold it has no reserve).
RESERVE_NAME = ".egbench-reserve"
RESERVE_BYTES = 256 * 1024
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT, finished TEXT, argv TEXT, environment TEXT,
  provenance TEXT, status TEXT);
CREATE TABLE IF NOT EXISTS cells(
  key TEXT PRIMARY KEY, run_id INTEGER, model TEXT, preset TEXT, dataset TEXT, task TEXT, seed INTEGER,
  status TEXT, reason TEXT, error TEXT, started TEXT, finished TEXT, duration_s REAL, info TEXT,
  owner TEXT, heartbeat REAL, provenance TEXT, truncated INTEGER DEFAULT 0, checksum TEXT);
CREATE TABLE IF NOT EXISTS metrics(
  cell_key TEXT, name TEXT, split TEXT, mode TEXT, value REAL, std REAL, unit TEXT, n INTEGER,
  version TEXT, note TEXT, PRIMARY KEY(cell_key, name, split, mode));
CREATE TABLE IF NOT EXISTS artifacts(
  cell_key TEXT, kind TEXT, path TEXT, sha256 TEXT, size INTEGER, PRIMARY KEY(cell_key, kind, path));
CREATE TABLE IF NOT EXISTS stages(
  key TEXT PRIMARY KEY, kind TEXT, status TEXT, run_id INTEGER, owner TEXT, heartbeat REAL, started TEXT,
  finished TEXT, duration_s REAL, info TEXT, provenance TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS stage_artifacts(
  stage_key TEXT, kind TEXT, path TEXT, sha256 TEXT, size INTEGER, PRIMARY KEY(stage_key, path));
CREATE TABLE IF NOT EXISTS cell_stages(
  cell_key TEXT, kind TEXT, stage_key TEXT, reused INTEGER, PRIMARY KEY(cell_key, kind));
"""
# Columns added since schema 1 (a schema-1 store is migrated when opened for writing).
MIGRATIONS_1_TO_2 = (
    "ALTER TABLE runs ADD COLUMN provenance TEXT",
    "ALTER TABLE runs ADD COLUMN status TEXT",
    "ALTER TABLE cells ADD COLUMN owner TEXT",
    "ALTER TABLE cells ADD COLUMN heartbeat REAL",
    "ALTER TABLE cells ADD COLUMN provenance TEXT",
    "ALTER TABLE cells ADD COLUMN truncated INTEGER DEFAULT 0",
    "ALTER TABLE artifacts ADD COLUMN sha256 TEXT",
    "ALTER TABLE artifacts ADD COLUMN size INTEGER",
)
# Schema 3: a done cell's checksum over its stored values (NULL in cells stored before: "no checksum
# recorded", never "altered").
MIGRATIONS_2_TO_3 = ("ALTER TABLE cells ADD COLUMN checksum TEXT",)
MIGRATIONS = {1: MIGRATIONS_1_TO_2 + MIGRATIONS_2_TO_3, 2: MIGRATIONS_2_TO_3}
READABLE_SCHEMAS = (1, 2, SCHEMA_VERSION)


class StoreError(RuntimeError):
    """The results folder or file cannot be used (the message is one line for the user)."""


class StoreDamaged(StoreError):
    """The SQLite file is damaged (SQLite reports corruption, or a stored row cannot be decoded)."""


class StoreFull(StoreError):
    """No space left on the results folder's filesystem while writing (the write was rolled back);
    ``detail``: what failed."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


def damaged(path: Path, detail: str) -> StoreDamaged:
    """The one-line refusal of a damaged store, with how to recover."""
    return StoreDamaged(
        f"{path} is damaged ({detail}): egbench neither reads nor writes it. Its cells can be recomputed: "
        f"move it aside with any {path.name}-wal and -shm file beside it (e.g. `mv {path} {path}.damaged`) "
        f"and run `egbench run` again; the artifacts folder is separate and kept"
    )


def free_space(folder: Path) -> str:
    """The free space of the filesystem holding ``folder``, for messages ("0 B", "1.5 MiB")."""
    try:
        free = float(shutil.disk_usage(folder).free)
    except OSError:
        return "unknown"
    if free < 1024:
        return f"{free:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        free /= 1024
        if free < 1024 or unit == "GiB":
            break
    return f"{free:.1f} {unit}"


def little_space_left(folder: Path, margin: int = 1024**2) -> bool:
    """Whether the filesystem holding ``folder`` has less than ``margin`` bytes free: then a write
    error that does not say why (SQLite's "disk I/O error" on its -shm file, torch's "file write
    failed") is a full disk."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from or during) says the disk is full."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, StoreFull):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(fn: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
    """SQLite's corruption errors become :class:`StoreDamaged`, a full disk :class:`StoreFull`."""

    @functools.wraps(fn)
    def wrapper(self: Store, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(self, *args, **kwargs)
        except StoreError:
            raise
        except (sqlite3.Error, OSError) as exc:
            name = getattr(exc, "sqlite_errorname", "")
            if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
                raise damaged(self.path, f"SQLite: {exc}") from exc
            if is_disk_full(exc) or (name.startswith("SQLITE_IOERR") and little_space_left(self.root)):
                raise self.disk_full(str(exc), "nothing stored was lost; free some space and run again") from exc
            raise

    return wrapper


def _with_reserve(fn: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
    """A write that meets a full disk gives up the results folder's reserve (:data:`RESERVE_NAME`)
    and is tried once more: a cell is released (``interrupted``) even on a disk with no byte left."""

    @functools.wraps(fn)
    def wrapper(self: Store, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            if not (is_disk_full(exc) or little_space_left(self.root)) or not self.drop_reserve():
                raise
            return fn(self, *args, **kwargs)

    return wrapper


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def new_owner() -> str:
    """``host:pid:token`` — who holds a claim."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str, heartbeat: float | None, now: float | None = None) -> bool:
    """A claim is live while its heartbeat is recent and, if its owner is on this host, the
    owning process exists (so a ``kill -9`` frees its cells at once on the same machine)."""
    now = time.time() if now is None else now
    if heartbeat is None or now - heartbeat > LEASE_S:
        return False
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    owner: str = ""
    heartbeat: float | None = None
    provenance: dict[str, Any] | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Claim:
    """The answer of :meth:`Store.claim`: ``claimed`` (go), ``done`` (another process finished
    it meanwhile) or ``busy`` (a live claim of another process; ``reason`` says whose)."""

    state: str
    reason: str = ""


class Store:
    """Open (or create) the store of a results folder for writing (``egbench run``)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"--out {self.root} is a file, expected a folder for the results store")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"--out {self.root} is not a writable folder ({exc.strerror or exc})") from None
        self.path = self.root / DB_NAME
        # two runs starting on one new folder: the check and the creation happen under one lock,
        # or the second would see the first's half-made file (0 bytes, then no tables) as foreign
        with open(self.root / ".egbench-store.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._open_for_writing()
                self._make_reserve()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _make_reserve(self) -> None:
        """Write the reserve file (:data:`RESERVE_NAME`) unless it is there; no room for it: none."""
        path = self.root / RESERVE_NAME
        if path.exists() and path.stat().st_size == RESERVE_BYTES:
            return
        try:
            with open(path, "wb") as fh:  # real bytes: a sparse file would reserve nothing
                fh.write(b"\0" * RESERVE_BYTES)
        except OSError as exc:
            path.unlink(missing_ok=True)
            log.debug("no reserve in %s: %s", self.root, exc)

    def drop_reserve(self) -> bool:
        """Give up the reserve to let a write through on a full disk; whether there was one."""
        path = self.root / RESERVE_NAME
        if not path.exists():
            return False
        path.unlink()
        log.info("disk full under %s: its %d KiB reserve given up", self.root, RESERVE_BYTES // 1024)
        return True

    @_guarded
    def _open_for_writing(self) -> None:
        if self.path.exists():
            _check_file(self.path)
            probe = _connect_readonly(self.path)
            try:
                _check_store(probe, self.path)  # foreign, damaged or of another schema: refused untouched
            finally:
                probe.close()
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        with self.transaction() as db:
            for stmt in SCHEMA.strip().split(";"):
                if stmt.strip():
                    db.execute(stmt)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) in MIGRATIONS:
                for stmt in MIGRATIONS[int(row[0])]:
                    db.execute(stmt)
                db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: results store schema {row[0]}, this egbench reads and writes "
                    f"{SCHEMA_VERSION}; use a matching egbench or another --out"
                )

    @classmethod
    def open_readonly(cls, root: Path) -> Store:
        """Open for reading only (``egbench report``): works on a read-only folder and never
        writes to the file (no tables, no WAL switch, no ``-shm``/``-wal`` file created for a
        finished store); refuses files that are not egbench stores, and damaged ones."""
        self = cls.__new__(cls)
        self.root = Path(root)
        self.path = self.root / DB_NAME if self.root.is_dir() or not self.root.exists() else self.root
        if self.path == self.root:  # a file was named: its folder is the results folder
            self.root = self.path.parent
        if not self.path.exists():
            raise StoreError(f"no results store in {self.root} (run `egbench run --out {self.root}` first)")
        _check_file(self.path)
        self.db = _connect_readonly(self.path)
        try:
            _check_store(self.db, self.path, writing=False)
        except BaseException:
            self.db.close()
            raise
        return self

    def close(self) -> None:
        self.db.close()

    def disk_full(self, detail: str, then: str = "") -> StoreFull:
        """The one-line error of a full disk under the results folder (its free space now); ``then``
        says what was done about it."""
        tail = f"; {then}" if then else ""
        return StoreFull(f"disk full: {self.root} has {free_space(self.root)} free ({detail}){tail}", detail)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back on any error (SQLite may have rolled it back itself
        already, e.g. on a full disk), the commit included."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error as exc:  # the error being raised says more than this one
                    log.debug("rollback failed: %s", exc)
            raise

    # -- artifacts folders --------------------------------------------------------------------
    def final_dir(self, key: str) -> Path:
        return self.root / "artifacts" / key[:16]

    @_guarded
    def scratch_dir(self, key: str, owner: str) -> Path:
        """A private folder for one attempt at a cell; moved into place when the cell is done."""
        d = self.root / "artifacts" / ".tmp" / f"{key[:16]}-{owner.rsplit(':', 1)[-1]}"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d

    def discard_scratch(self, key: str) -> None:
        """Remove every leftover attempt folder of a cell (after a kill or an interrupt)."""
        tmp = self.root / "artifacts" / ".tmp"
        for d in tmp.glob(f"{key[:16]}-*") if tmp.exists() else []:
            shutil.rmtree(d, ignore_errors=True)

    # -- runs -----------------------------------------------------------------------------
    # runs.environment holds the machine the run started on (run/hardware.machine): the column was
    # named before "environment" came to mean a model's virtual environment (envs/)
    @_guarded
    def start_run(self, argv: list[str], environment: dict[str, Any], provenance: dict[str, Any] | None = None) -> int:
        cur = self.db.execute(
            "INSERT INTO runs(started, argv, environment, provenance, status) VALUES(?,?,?,?,?)",
            (
                _now(),
                json.dumps(argv),
                json.dumps(environment, default=str),
                json.dumps(provenance or {}, default=str),
                "running",
            ),
        )
        rowid = cur.lastrowid
        assert rowid is not None  # sqlite3 sets lastrowid after a successful INSERT
        return int(rowid)

    @_guarded
    def finish_run(self, run_id: int, status: str = "finished") -> None:
        self.db.execute("UPDATE runs SET finished=?, status=? WHERE id=?", (_now(), status, run_id))

    @_guarded
    def runs(self) -> list[dict[str, Any]]:
        out = []
        for r in self.db.execute("SELECT * FROM runs ORDER BY id"):
            d = dict(r)
            for k in ("argv", "environment", "provenance"):
                d[k] = json.loads(d.get(k) or "null")
            out.append(d)
        return out

    # -- cells ----------------------------------------------------------------------------
    @_guarded
    def cell(self, key: str) -> CellRow | None:
        r = self.db.execute("SELECT * FROM cells WHERE key=?", (key,)).fetchone()
        return _row(r) if r else None

    @_guarded
    def claim(
        self,
        key: str,
        run_id: int,
        ident: dict[str, Any],
        owner: str,
        provenance: dict[str, Any],
        replace_done: bool = False,
    ) -> Claim:
        """Take the cell for ``owner`` unless another live process holds it (or, unless
        ``replace_done``, it is already done). Old results of the cell are dropped."""
        with self.transaction() as db:
            prev = db.execute("SELECT status, owner, heartbeat FROM cells WHERE key=?", (key,)).fetchone()
            if prev is not None:
                if prev["status"] == "done" and not replace_done:
                    return Claim("done")
                if (
                    prev["status"] == "running"
                    and prev["owner"] != owner
                    and owner_alive(prev["owner"], prev["heartbeat"])
                ):
                    age = time.time() - (prev["heartbeat"] or 0)
                    return Claim("busy", f"running in another process ({prev['owner']}, heartbeat {age:.0f} s ago)")
            db.execute("DELETE FROM metrics WHERE cell_key=?", (key,))
            db.execute("DELETE FROM artifacts WHERE cell_key=?", (key,))
            db.execute(
                "INSERT OR REPLACE INTO cells(key, run_id, model, preset, dataset, task, seed, status, reason, error,"
                " started, finished, duration_s, info, owner, heartbeat, provenance, truncated)"
                " VALUES(?,?,?,?,?,?,?,'running','','',?,NULL,NULL,'{}',?,?,?,0)",
                (key, run_id, *_ident(ident), _now(), owner, time.time(), json.dumps(provenance, default=str)),
            )
        return Claim("claimed")

    @_guarded
    @_with_reserve
    def mark(
        self,
        key: str,
        run_id: int,
        ident: dict[str, Any],
        status: str,
        reason: str = "",
        error: str = "",
        info: dict[str, Any] | None = None,
        duration_s: float | None = None,
        owner: str | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> bool:
        """Record a final status other than ``done`` (``failed``, ``interrupted``, ``skipped``).
        With ``owner``, only while that owner still holds the claim; returns whether it wrote."""
        with self.transaction() as db:
            prev = db.execute("SELECT status, owner, started, provenance FROM cells WHERE key=?", (key,)).fetchone()
            if owner is not None and (prev is None or prev["owner"] != owner or prev["status"] != "running"):
                return False
            if status == "skipped" and prev is not None and prev["status"] in ("done", "running"):
                return False  # never hide a result (or another process's work) behind a skip
            db.execute("DELETE FROM metrics WHERE cell_key=?", (key,))
            db.execute("DELETE FROM artifacts WHERE cell_key=?", (key,))
            prov = provenance if provenance is not None else json.loads(prev["provenance"] or "{}") if prev else {}
            db.execute(
                "INSERT OR REPLACE INTO cells(key, run_id, model, preset, dataset, task, seed, status, reason, error,"
                " started, finished, duration_s, info, owner, heartbeat, provenance, truncated)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,NULL,?,0)",
                (
                    key,
                    run_id,
                    *_ident(ident),
                    status,
                    reason,
                    error,
                    prev["started"] if prev else None,
                    _now(),
                    duration_s,
                    json.dumps(info or {}, default=str),
                    json.dumps(prov, default=str),
                ),
            )
        return True

    @_guarded
    def finish_cell(
        self,
        key: str,
        run_id: int,
        owner: str,
        scratch: Path,
        metrics: Iterable[tuple[MetricValue, str]],
        artifacts: Iterable[tuple[str, str]],
        info: dict[str, Any],
        duration_s: float,
        truncated: bool = False,
    ) -> bool:
        """Move the attempt's folder into place, then write metrics, artifacts (relative to the
        cell folder, with checksums) and ``done`` in one transaction — while ``owner`` holds the
        claim. Returns False (and discards the attempt) if the claim was lost."""
        final = self.final_dir(key)
        rows = []
        for kind, rel in artifacts:
            p = scratch / rel
            rows.append((kind, str(final.relative_to(self.root) / rel), file_sha256(p), p.stat().st_size))
        with self.transaction() as db:
            prev = db.execute("SELECT owner, status FROM cells WHERE key=?", (key,)).fetchone()
            if prev is None or prev["owner"] != owner or prev["status"] != "running":
                shutil.rmtree(scratch, ignore_errors=True)
                return False
            if final.exists():  # an older attempt's folder
                trash = final.with_name(f".trash-{final.name}-{uuid.uuid4().hex[:8]}")
                final.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            scratch.rename(final)
            for m, version in metrics:
                db.execute(
                    "INSERT OR REPLACE INTO metrics VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (key, m.name, m.split, m.mode, m.value, m.std, m.unit, m.n, version, m.note),
                )
            for kind, path, sha, size in rows:
                db.execute("INSERT OR REPLACE INTO artifacts VALUES(?,?,?,?,?)", (key, kind, path, sha, size))
            db.execute(
                "UPDATE cells SET status='done', reason='', error='', finished=?, duration_s=?, info=?,"
                " run_id=?, owner=NULL, heartbeat=NULL, truncated=? WHERE key=?",
                (_now(), duration_s, json.dumps(info, default=str), run_id, int(truncated), key),
            )
            # over the values as SQLite stored them (its column types decide how a number reads back)
            db.execute("UPDATE cells SET checksum=? WHERE key=?", (values_checksum(db, key), key))
        return True

    @_guarded
    def cells(self, status: str | None = None) -> list[CellRow]:
        q = "SELECT * FROM cells" + (" WHERE status=?" if status else "") + " ORDER BY model, dataset, task, seed"
        return [_row(r) for r in self.db.execute(q, (status,) if status else ())]

    @_guarded
    def metrics(self, key: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM metrics WHERE cell_key=? ORDER BY name, split", (key,))]

    @_guarded
    def artifacts(self, key: str) -> list[tuple[str, Path]]:
        return [
            (r["kind"], self.root / r["path"])
            for r in self.db.execute("SELECT kind, path FROM artifacts WHERE cell_key=? ORDER BY kind, path", (key,))
        ]

    @_guarded
    def verify(self, key: str) -> list[str]:
        """Problems with a done cell: its stored values (metrics rows, info) no longer match the
        checksum recorded when it finished; an artifact is missing, or its size/checksum is not the
        one recorded. Empty when everything is intact (or, in an older store, nothing was recorded)."""
        problems = []
        row = self.db.execute("SELECT * FROM cells WHERE key=?", (key,)).fetchone()
        recorded = dict(row).get("checksum") if row is not None else None  # no column before schema 3
        if recorded and recorded != values_checksum(self.db, key):
            problems.append("its stored values (metrics, info) were altered since it finished (checksum differs)")
        for r in self.db.execute("SELECT * FROM artifacts WHERE cell_key=? ORDER BY path", (key,)):
            r = dict(r)
            p = self.root / r["path"]
            if not p.is_file():
                problems.append(f"{r['path']} is missing")
            elif r.get("sha256") is None:
                continue  # a schema-1 store recorded no checksums
            elif p.stat().st_size != r.get("size") or file_sha256(p) != r["sha256"]:
                problems.append(f"{r['path']} was altered (sha256 differs from the one recorded)")
        return problems


def _ident(ident: dict[str, Any]) -> tuple:
    return ident["model"], ident["preset"], ident["dataset"], ident["task"], ident["seed"]


SNAPSHOT_MAX_BYTES = 512 * 1024**2  # larger finished stores are read through SQLite (mode=ro)


def values_checksum(db: sqlite3.Connection, key: str) -> str:
    """sha256 over the numbers a user reads of a cell: every metrics row and the cell's info (with
    its key), as SQLite returns them (:meth:`Store.finish_cell` records it, :meth:`Store.verify`
    compares). The cell's labels (model, dataset, ...) and its truncation flag are not covered."""
    cell = db.execute("SELECT key, info FROM cells WHERE key=?", (key,)).fetchone()
    rows = db.execute(
        "SELECT name, split, mode, value, std, unit, n, version, note FROM metrics WHERE cell_key=?"
        " ORDER BY name, split, mode",
        (key,),
    ).fetchall()
    payload = {"cell": list(cell) if cell is not None else None, "metrics": [list(r) for r in rows]}
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def _check_file(path: Path) -> None:
    """One line, before SQLite touches the file, if ``path`` is not an SQLite file."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, expected an egbench results store (SQLite file)")
    size = path.stat().st_size
    if size == 0:
        raise StoreError(f"{path} is empty (0 bytes), not an egbench results store; remove it or use another --out")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != b"SQLite format 3\x00":
        raise StoreError(f"{path} is not an egbench results store (not an SQLite file)")


def _stamp(path: Path) -> tuple[int, ...]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _snapshot(path: Path) -> bytes | None:
    """The bytes of a store no process is writing (no ``-wal`` or ``-journal`` beside it, and the
    file unchanged while it was read), or None."""
    sidecars = [Path(f"{path}-wal"), Path(f"{path}-journal")]
    for _ in range(3):
        if any(p.exists() for p in sidecars) or path.stat().st_size > SNAPSHOT_MAX_BYTES:
            return None
        before = _stamp(path)
        data = path.read_bytes()
        if not any(p.exists() for p in sidecars) and _stamp(path) == before:
            return data
    return None


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the store or its folder: a finished store is read into
    memory (an SQLite connection to a WAL-mode file, even ``mode=ro``, creates ``-shm`` and
    ``-wal`` files beside it); one being written is opened ``mode=ro`` so its WAL is read."""
    data = _snapshot(path)
    if data is not None:
        db = sqlite3.connect(":memory:", isolation_level=None)
        if data[18:20] == b"\x02\x02":  # WAL mode; an in-memory image is read in rollback mode
            data = data[:18] + b"\x01\x01" + data[20:]
        try:
            db.deserialize(data)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise damaged(path, f"SQLite: {exc}") from exc
        db.execute("PRAGMA query_only=1")
    else:
        uri = f"file:{path.resolve()}?mode=ro"
        if not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists():
            uri += "&immutable=1"  # no -shm can be made in a read-only folder; nothing is writing
        db = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def _check_store(db: sqlite3.Connection, path: Path, writing: bool = True) -> None:
    """Refuse, in one line, an SQLite file that is not an egbench store, is damaged (``PRAGMA
    quick_check``, then every row read and its JSON decoded once) or, for reading, has a schema this
    egbench does not read. Writing leaves the schema to :meth:`Store._open_for_writing`."""
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = (
            db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() if "meta" in tables else None
        )
        if not {"meta", "cells", "metrics", "runs"} <= tables or version is None:
            listed = ", ".join(sorted(tables)) or "none"
            raise StoreError(f"{path} is an SQLite file but not an egbench results store (tables: {listed})")
        if not writing and int(version[0]) not in READABLE_SCHEMAS:
            raise StoreError(
                f"{path}: results store schema {version[0]}, this egbench reads "
                f"{', '.join(map(str, READABLE_SCHEMAS[:-1]))} and {READABLE_SCHEMAS[-1]}"
            )
        problems = [r[0] for r in db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise damaged(path, f"SQLite quick_check: {'; '.join(problems)}")
        for table in sorted(tables):
            for r in db.execute(f'SELECT * FROM "{table}"'):
                _decode(table, dict(r), path)
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            raise damaged(path, f"SQLite: {exc}") from exc
        raise StoreError(f"{path} cannot be read as an SQLite database: {exc}") from None


JSON_COLUMNS = {
    "runs": ("argv", "environment", "provenance"),
    "cells": ("info", "provenance"),
    "stages": ("info", "provenance"),
}


def _decode(table: str, row: dict[str, Any], path: Path) -> None:
    for col in JSON_COLUMNS.get(table, ()):
        try:
            json.loads(row.get(col) or "null")
        except (ValueError, TypeError) as exc:
            what = {"cells": "cell", "stages": "stage"}.get(
                table, "run"
            ) + f" {str(row.get('key', row.get('id')))[:16]}"
            raise damaged(path, f"{what}: its {col} is not valid JSON ({exc})") from exc


def _row(r: sqlite3.Row) -> CellRow:
    d = dict(r)
    d["info"] = json.loads(d.get("info") or "{}")
    d["reason"] = d["reason"] or ""
    d["error"] = d["error"] or ""
    d["owner"] = d.get("owner") or ""
    d["provenance"] = json.loads(d.get("provenance") or "null")
    d["truncated"] = bool(d.get("truncated") or 0)
    fields: dict[str, Any] = {k: d.get(k) for k in CellRow.__dataclass_fields__}
    return CellRow(**fields)


def renew_claim(db: sqlite3.Connection, key: str, owner: str) -> None:
    """Renew ``owner``'s claim of the running cell (or stage) ``key`` (the runner's heartbeat
    thread, on its own connection ``db``)."""
    now = time.time()
    db.execute("UPDATE cells SET heartbeat=? WHERE key=? AND owner=? AND status='running'", (now, key, owner))
    db.execute("UPDATE stages SET heartbeat=? WHERE key=? AND owner=? AND status='running'", (now, key, owner))
