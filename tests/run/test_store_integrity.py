"""Integrity of the results store through the `egbench` command line, on a store made by a real smoke
run: a damaged SQLite file, a stored value edited in place, the JSON report's integrity field, a
report leaving the folder as it was, a full disk, and the claim of a killed run (issue 21)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

import egbench_core
from egbench_core.store import Store, new_owner

pytestmark = pytest.mark.slow
SMOKE = ["--models", "toy-pair", "--preset", "smoke", "--datasets", "synthetic-emt"]
_TEMPLATE: dict[str, Path] = {}  # the finished store, made once per module


def _env(toy_site) -> dict[str, str]:
    """The toy site's environment, importing the egbench_core this test imports (not another install)."""
    return toy_site.env(PYTHONPATH=f"{toy_site.path}{os.pathsep}{Path(egbench_core.__file__).parents[1]}")


def _egbench(toy_site, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        toy_site.egbench + list(args), env=_env(toy_site), capture_output=True, text=True, timeout=timeout
    )


def _summary(stdout: str) -> tuple[int, int]:
    m = re.search(r"run \d+: (\d+) computed, (\d+) cached", stdout)
    assert m, stdout[-2000:]
    return int(m.group(1)), int(m.group(2))


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip().startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr + res.stdout, res.stderr[-3000:]
    return lines[0]


def _folder_state(folder: Path) -> dict[str, tuple]:
    """Every file and folder under ``folder``: its bytes' sha256 (files), size and mtime."""
    out = {}
    for p in sorted([folder, *folder.rglob("*")]):
        st = p.stat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        out[str(p.relative_to(folder))] = (digest, st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


@pytest.fixture
def finished_store(toy_site, emt_env, tmp_path, tmp_path_factory) -> Path:
    """A copy (times kept) of the store of one real `egbench run`: toy-pair, smoke, synthetic-emt,
    standard, seed 0, finished (its -wal checkpointed away)."""
    if "out" not in _TEMPLATE:
        out = tmp_path_factory.mktemp("integrity-template") / "out"
        res = _egbench(toy_site, "run", *SMOKE, "--out", str(out))
        assert res.returncode == 0, res.stderr[-3000:]
        _TEMPLATE["out"] = out
    copy = tmp_path / "out"
    shutil.copytree(_TEMPLATE["out"], copy)
    assert not Path(f"{copy}/egbench.sqlite-wal").exists()
    return copy


def _json_records(toy_site, out: Path) -> list[dict]:
    res = _egbench(toy_site, "report", "--out", str(out), "--format", "json")
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)["records"]


def _force_mae(records: list[dict]) -> float:
    return next(r["value"] for r in records if r["metric"] == "force_mae" and r["split"] == "test")


# -- item 4: random bytes in the middle of the SQLite file ------------------------------------------
def test_damaged_store_is_refused_in_one_line_and_nothing_counts_as_cached(toy_site, finished_store):
    db = finished_store / "egbench.sqlite"
    data = bytearray(db.read_bytes())
    half = len(data) // 2
    data[half : half + 8192] = random.Random(21).randbytes(8192)  # the metrics' pages
    db.write_bytes(bytes(data))
    before = _folder_state(finished_store)
    res = _egbench(toy_site, "report", "--out", str(finished_store))
    assert res.returncode == 2 and res.stdout == "", (res.returncode, res.stdout[-2000:])
    line = _one_error_line(res)
    assert f"{db} is damaged" in line and f"mv {db} {db}.damaged" in line and "can be recomputed" in line
    assert _folder_state(finished_store) == before  # refused untouched: no byte, no -wal, no -shm
    res = _egbench(toy_site, "run", *SMOKE, "--out", str(finished_store))
    assert res.returncode == 2, res.stderr[-3000:]
    assert f"{db} is damaged" in _one_error_line(res)
    assert "cached" not in res.stdout and "computed" not in res.stdout  # no cell counted from it
    after = _folder_state(finished_store)
    assert after.pop(".")[0] == before.pop(".")[0] and after == before  # (run probes that the folder is writable)
    # the recovery the message names: the damaged file aside, the run recomputes the cell
    db.rename(f"{db}.damaged")
    again = _egbench(toy_site, "run", *SMOKE, "--out", str(finished_store))
    assert again.returncode == 0 and _summary(again.stdout) == (1, 0), again.stderr[-3000:]


# -- item 6: a stored metric value edited in a valid SQLite page ------------------------------------
def test_edited_metric_value_is_marked_and_recomputed(toy_site, finished_store):
    original = _force_mae(_json_records(toy_site, finished_store))
    con = sqlite3.connect(finished_store / "egbench.sqlite")
    con.execute("UPDATE metrics SET value=value*0.9 WHERE name='force_mae' AND split='test'")
    con.commit()
    con.close()
    (key,) = [c.key for c in Store.open_readonly(finished_store).cells()]
    res = _egbench(toy_site, "report", "--out", str(finished_store))  # the table: the reason under it
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"cell {key[:16]} (toy-pair, preset smoke, synthetic-emt, standard, seed 0): its stored values" in (
        " ".join(res.stderr.split())
    )
    md = _egbench(toy_site, "report", "--out", str(finished_store), "--format", "markdown").stdout
    assert "| toy-pair [smoke] ! |" in md and "stored values or artifacts were altered" in md
    assert f"{original * 0.9 * 1000:.2f}" in md  # the edited number is shown, with its mark
    # the next run does not keep it as cached: it recomputes it, and the mark goes
    run = _egbench(toy_site, "run", *SMOKE, "--out", str(finished_store))
    assert run.returncode == 0 and _summary(run.stdout) == (1, 0), run.stderr[-3000:]
    assert "recomputed" in run.stderr and "checksum differs" in run.stderr
    records = _json_records(toy_site, finished_store)
    assert _force_mae(records) == pytest.approx(original, rel=1e-9) and {r["integrity"] for r in records} == {"ok"}


def test_store_without_checksums_is_read_as_not_recorded_and_migrated(toy_site, finished_store):
    """A schema-2 store (no checksum column): nothing is marked, its cell stays cached, and the first
    run migrates it to schema 3 (the old cell's checksum: not recorded)."""
    con = sqlite3.connect(finished_store / "egbench.sqlite")
    con.execute("ALTER TABLE cells DROP COLUMN checksum")
    con.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    con.execute("UPDATE metrics SET value=value*0.9 WHERE name='force_mae'")  # undetectable without one
    con.commit()
    con.close()
    res = _egbench(toy_site, "report", "--out", str(finished_store), "--format", "markdown")
    assert res.returncode == 0 and "| toy-pair [smoke] |" in res.stdout and "altered" not in res.stdout + res.stderr
    assert {r["integrity"] for r in _json_records(toy_site, finished_store)} == {"ok"}
    run = _egbench(toy_site, "run", *SMOKE, "--out", str(finished_store))
    assert run.returncode == 0 and _summary(run.stdout) == (0, 1), run.stderr[-3000:]
    con = sqlite3.connect(f"file:{finished_store}/egbench.sqlite?mode=ro", uri=True)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("3",)
    assert con.execute("SELECT status, checksum FROM cells").fetchall() == [("done", None)]
    con.close()


# -- item 7: --format json carries the integrity of each cell ----------------------------------------
def test_json_integrity_field_agrees_with_the_marks_of_the_other_formats(toy_site, finished_store):
    records = _json_records(toy_site, finished_store)
    assert records and {r["integrity"] for r in records} == {"ok"}
    store = Store.open_readonly(finished_store)
    (key,) = [c.key for c in store.cells()]
    trajectory = next(p for k, p in store.artifacts(key) if k == "trajectory")
    store.close()
    trajectory.write_text(trajectory.read_text().replace("Cu", "Au", 1))  # an artifact altered
    con = sqlite3.connect(finished_store / "egbench.sqlite")  # and a stored value
    con.execute("UPDATE metrics SET value=value+1 WHERE name='energy_mae'")
    con.commit()
    con.close()
    records = _json_records(toy_site, finished_store)
    assert records and all(r["status"] == "done" and isinstance(r["integrity"], list) for r in records)
    (problems,) = {tuple(r["integrity"]) for r in records}
    assert len(problems) == 2 and "checksum differs" in problems[0]
    assert trajectory.name in problems[1] and "was altered" in problems[1]
    md = _egbench(toy_site, "report", "--out", str(finished_store), "--format", "markdown").stdout
    assert "| toy-pair [smoke] ! |" in md
    csv_row = next(
        ln
        for ln in _egbench(toy_site, "report", "--out", str(finished_store), "--format", "csv").stdout.splitlines()
        if ln.startswith("toy-pair")
    )
    assert csv_row.startswith("toy-pair [smoke] !,")


# -- item 9: a report leaves the results folder as it was ---------------------------------------------
def test_report_leaves_a_finished_store_byte_for_byte_and_reads_a_live_one(toy_site, finished_store):
    before = _folder_state(finished_store)
    for args in ([], ["--format", "json"], ["--provenance"]):
        res = _egbench(toy_site, "report", "--out", str(finished_store), *args)
        assert res.returncode == 0, (args, res.stderr[-3000:])
        assert _folder_state(finished_store) == before, args  # no -shm/-wal, no byte, no mtime changed
    # while a run holds the store (its -wal in use), a report reads what it committed, WAL included
    writer = Store(finished_store)
    try:
        ident = {"model": "toy-pair", "preset": "smoke", "dataset": "synthetic-emt", "task": "standard", "seed": 7}
        run_id = writer.start_run(["pytest"], {})
        assert writer.claim("f" * 64, run_id, ident, new_owner(), {}).state == "claimed"
        assert Path(f"{finished_store}/egbench.sqlite-wal").stat().st_size > 0  # not checkpointed
        records = _json_records(toy_site, finished_store)
    finally:
        writer.close()
    live = [r for r in records if r["cell_key"] == "f" * 64]
    assert len(live) == 1 and live[0]["status"] == "running"
    assert live[0]["reason"].startswith(f"in progress ({socket.gethostname()}, pid {os.getpid()}, heartbeat")
    assert {r["status"] for r in records if r["cell_key"] != "f" * 64} == {"done"}


# -- item 10: a full disk ---------------------------------------------------------------------------
def _tmpfs(folder: Path, size: str) -> Path:
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("a full disk is tested on a small tmpfs, which only root can mount")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here: {res.stderr.decode().strip()}")
    return folder


def _fill(folder: Path, leave: int) -> None:
    """Leave ``leave`` bytes free on ``folder``'s filesystem."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        os.ftruncate(fd, os.fstat(fd).st_size - leave)
    finally:
        os.close(fd)


def _stored(out: Path) -> tuple[dict[int, str], dict[str, list[dict]]]:
    """Each seed's status, and every done cell's metrics, as the store holds them."""
    store = Store.open_readonly(out)
    try:
        cells = store.cells()
        return {c.seed: c.status for c in cells}, {c.key: store.metrics(c.key) for c in cells if c.status == "done"}
    finally:
        store.close()


def test_full_disk_says_one_line_releases_the_cell_and_loses_nothing(toy_site, emt_env, finished_store, tmp_path):
    """A store with a done cell (seed 0) on a small disk; `run --seeds 0,1` computes seed 1."""
    disk = _tmpfs(tmp_path / "disk", "2m")
    try:
        out = disk / "out"
        shutil.copytree(finished_store, out)
        _, kept = _stored(out)
        # the disk fills up (another process) while the cell computes: not a byte left
        proc = subprocess.Popen(
            toy_site.egbench + ["run", *SMOKE, "--seeds", "0,1", "--out", str(out)],
            env=_env(toy_site),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        t0 = time.time()
        while not _running(out):
            assert proc.poll() is None and time.time() - t0 < 120, "the run never claimed its cell"
            time.sleep(0.05)
        _fill(disk, leave=0)
        stdout, stderr = proc.communicate(timeout=300)
        res = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        assert res.returncode == 1, res.stderr[-3000:]
        line = _one_error_line(res)
        assert re.match(rf"error: disk full: {out} has [0-9.]+ (B|KiB) free \(", line), line
        assert "released (interrupted), its attempt folder removed" in line and "free some space" in line
        seeds, done = _stored(out)
        assert seeds == {0: "done", 1: "interrupted"} and done == kept  # released, and nothing stored lost
        assert not list((out / "artifacts" / ".tmp").iterdir())
        assert len(list((out / "artifacts").iterdir())) == 2  # .tmp and the done cell's folder
        # space again: the next run recomputes the released cell and keeps the done one
        (disk / "filler").unlink()
        again = _egbench(toy_site, "run", *SMOKE, "--seeds", "0,1", "--out", str(out))
        assert again.returncode == 0 and _summary(again.stdout) == (1, 1), again.stderr[-3000:]
        # a full disk when the run claims a cell (48 KiB left: room for SQLite's -shm and the run's
        # record, not for the claim, here; whichever write meets the full disk, the same holds)
        seeds, kept = _stored(out)
        _fill(disk, leave=48 * 1024)
        res = _egbench(toy_site, "run", *SMOKE, "--seeds", "0,1,2", "--out", str(out))
        assert res.returncode == 1, res.stderr[-3000:]
        line = _one_error_line(res)
        assert re.match(rf"error: disk full: {out} has [0-9.]+ (B|KiB) free \(.+\); .*free some space", line), line
        after, done = _stored(out)
        assert after.pop(2, "interrupted") == "interrupted" and after == seeds and done == kept
        assert not list((out / "artifacts" / ".tmp").glob("*"))
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


# -- item 12: the claim of a killed run ----------------------------------------------------------------
def _running(out: Path) -> bool:
    try:
        con = sqlite3.connect(f"file:{out}/egbench.sqlite?mode=ro", uri=True, timeout=5)
        try:
            return ("running",) in con.execute("SELECT status FROM cells").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return False


def test_killed_run_is_reported_stale_not_running(toy_site, emt_env, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        toy_site.egbench + ["run", *SMOKE, "--out", str(out)],
        env=_env(toy_site),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t0 = time.time()
    while not _running(out):
        assert proc.poll() is None and time.time() - t0 < 120, "the run never claimed its cell"
        time.sleep(0.05)
    proc.kill()
    proc.wait(60)
    res = _egbench(toy_site, "report", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    stale = f"stale: owner process gone ({socket.gethostname()}, pid {proc.pid})"
    assert f"1 running: {stale}" in " ".join(res.stdout.split())
    (record,) = _json_records(toy_site, out)
    assert record["status"] == "running" and record["reason"].startswith(stale)
