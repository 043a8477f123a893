"""The results store under concurrency and faults, with real processes: two `egbench run` into one
folder, SIGINT / SIGTERM / kill -9 mid-cell, altered artifacts, and `egbench report` on foreign,
empty and read-only stores."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from egbench_core.store import Store

pytestmark = pytest.mark.slow
SMOKE = ["--models", "toy-pair", "--preset", "smoke"]


def _computed(stdout: str) -> dict[str, int]:
    m = re.search(r"run \d+: (\d+) computed, (\d+) cached", stdout)
    assert m, stdout[-2000:]
    busy = re.search(r"(\d+) running in another process", stdout)
    return {"computed": int(m.group(1)), "cached": int(m.group(2)), "busy": int(busy.group(1)) if busy else 0}


def _wait_for(predicate, timeout: float = 120.0, what: str = "") -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _status(out: Path) -> dict[str, str]:
    db = out / "egbench.sqlite"
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return {k: s for k, s in con.execute("SELECT key, status FROM cells")}
        finally:
            con.close()
    except sqlite3.Error:
        return {}


def test_two_concurrent_runs_compute_each_cell_exactly_once(toy_site, emt_env, tmp_path):
    out = tmp_path / "shared-out"
    cmd = toy_site.egbench + ["run", *SMOKE, "--datasets", "acac,synthetic-emt", "--seeds", "0,1", "--out", str(out)]
    procs = [
        subprocess.Popen(cmd, env=toy_site.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_o, e) in zip(procs, results):
        assert p.returncode == 0, e[-3000:]
    counts = [_computed(o) for o, _ in results]
    assert sum(c["computed"] for c in counts) == 4, counts  # 2 datasets × 2 seeds, each exactly once
    for c in counts:
        assert c["computed"] + c["cached"] + c["busy"] == 4
    store = Store.open_readonly(out)
    done = store.cells("done")
    assert len(done) == 4
    for c in done:
        assert store.verify(c.key) == []
        trajectories = [p for k, p in store.artifacts(c.key) if k == "trajectory"]
        assert len(trajectories) == 2 and all(p.stat().st_size > 0 for p in trajectories)
    assert not list((out / "artifacts" / ".tmp").glob("*"))  # no attempt folder left behind
    runs = store.runs()
    assert len(runs) == 2 and all(r["status"] == "finished" for r in runs)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_cell_is_recorded_and_recomputed(toy_site, emt_env, tmp_path, sig):
    out = tmp_path / "out"
    cmd = toy_site.egbench + ["run", *SMOKE, "--datasets", "synthetic-emt", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=toy_site.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: "running" in _status(out).values(), what="a running cell")
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    assert f"interrupted by {name}" in err and "Traceback" not in err
    store = Store.open_readonly(out)
    (row,) = store.cells()
    assert row.status == "interrupted" and name in row.reason
    assert store.metrics(row.key) == [] and store.artifacts(row.key) == []
    assert not (out / "artifacts" / row.key[:16]).exists()
    assert not list((out / "artifacts" / ".tmp").glob("*"))
    assert store.runs()[0]["status"] == "interrupted"
    store.close()
    again = subprocess.run(cmd + ["--no-retry-failed"], env=toy_site.env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _computed(again.stdout)["computed"] == 1  # interrupted is never "cached", whatever --retry-failed says
    assert Store.open_readonly(out).cell(row.key).status == "done"


def test_kill_9_mid_cell_leaves_nothing_done_and_the_next_run_takes_over(toy_site, emt_env, tmp_path):
    out = tmp_path / "out"
    cmd = toy_site.egbench + ["run", *SMOKE, "--datasets", "synthetic-emt", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=toy_site.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: "running" in _status(out).values(), what="a running cell")
    time.sleep(1.0)
    proc.kill()
    proc.communicate(timeout=60)
    (status,) = _status(out).values()
    assert status == "running"  # the claim of a dead process: nothing was marked done
    leftovers = list((out / "artifacts" / ".tmp").glob("*"))
    again = subprocess.run(cmd, env=toy_site.env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _computed(again.stdout)["computed"] == 1  # the dead owner's claim was taken over at once
    store = Store.open_readonly(out)
    (row,) = store.cells()
    assert row.status == "done" and store.verify(row.key) == []
    assert all(not p.exists() for p in leftovers)


def test_live_claim_of_another_process_is_not_taken(emt_env, tmp_path, toy):
    from egbench_core.plugins import load_catalog
    from egbench_core.run.runner import plan_cells, run_cells

    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    (cell,) = plan_cells(cat, "toy-pair", "synthetic-emt", preset="smoke")
    store = Store(tmp_path / "out")
    other = f"{os.uname().nodename}:{os.getppid()}:feedbeef"  # a live process (our parent) holds it
    assert store.claim(cell.key, 0, cell.ident, other, cell.provenance).state == "claimed"
    summary = run_cells([cell], cat, store)
    assert (summary.busy, summary.done) == (1, 0)
    assert store.cell(cell.key).status == "running" and store.cell(cell.key).owner == other
    # the same claim without heartbeat for longer than the lease is stale and taken over
    store.db.execute("UPDATE cells SET heartbeat=heartbeat-1000 WHERE key=?", (cell.key,))
    summary = run_cells([cell], cat, store)
    assert (summary.busy, summary.done) == (0, 1) and store.cell(cell.key).status == "done"


def test_altered_or_missing_artifact_is_flagged_and_recomputed(emt_env, tmp_path, toy):
    from egbench_core.plugins import load_catalog
    from egbench_core.report.leaderboard import leaderboard
    from egbench_core.run.runner import plan_cells, run_cells

    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    cells = plan_cells(cat, "toy-pair", "synthetic-emt", preset="smoke")
    store = Store(tmp_path / "out")
    run_cells(cells, cat, store)
    key = cells[0].key
    traj = next(p for k, p in store.artifacts(key) if k == "trajectory")
    traj.write_text(traj.read_text().replace("Cu", "Au", 1))  # altered after the fact
    problems = store.verify(key)
    assert len(problems) == 1 and "was altered" in problems[0] and traj.name in problems[0]
    assert leaderboard(store).rows[0][0] == "toy-pair [smoke] !"
    again = run_cells(cells, cat, store)
    assert again.done == 1 and again.cached == 0 and "altered" in again.recomputed[0]
    assert store.verify(key) == [] and leaderboard(store).rows[0][0] == "toy-pair [smoke]"
    next(p for k, p in store.artifacts(key) if k == "checkpoint").unlink()  # missing
    assert any("is missing" in p for p in store.verify(key))
    assert run_cells(cells, cat, store).done == 1


# -- report is read-only ----------------------------------------------------------------------
def _report(toy_site, *args):
    return subprocess.run(
        toy_site.egbench + ["report", *args], env=toy_site.env(), capture_output=True, text=True, timeout=300
    )


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_report_refuses_foreign_and_empty_files_and_changes_no_byte(toy_site, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    con = sqlite3.connect(foreign / "egbench.sqlite")
    con.execute("CREATE TABLE cells(x)")
    con.execute("INSERT INTO cells VALUES (42)")
    con.commit()
    con.close()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "egbench.sqlite").write_bytes(b"")
    text = tmp_path / "text"
    text.mkdir()
    (text / "egbench.sqlite").write_text("not a database\n")
    for folder, expected in (
        (foreign, "not an egbench results store"),
        (empty, "empty (0 bytes)"),
        (text, "not an SQLite file"),
    ):
        before = _digest(folder)
        res = _report(toy_site, "--out", str(folder))
        assert res.returncode == 2, res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in res.stderr, res.stderr
        assert _digest(folder) == before  # no table, no WAL switch, no -shm/-wal file
    res = _report(toy_site, "--out", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and "no results store" in res.stderr


def test_report_on_a_read_only_store_works_and_changes_no_byte(toy_site, emt_env, tmp_path):
    out = Path(tempfile.mkdtemp(prefix="egbench-ro-"))  # outside pytest's private (0700) folders
    try:
        run = subprocess.run(
            toy_site.egbench + ["run", *SMOKE, "--datasets", "synthetic-emt", "--out", str(out)],
            env=toy_site.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        for p in [out, *out.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        before = _digest(out)
        script = textwrap.dedent(f"""
            import os, shutil, sys, tempfile
            from typer.testing import CliRunner
            import egbench_core.cli as cli
            # import everything the report path loads lazily, on a writable copy, while still able to
            warm = tempfile.mkdtemp()
            shutil.copytree({str(out)!r}, warm + "/r")
            assert CliRunner().invoke(cli.app, ["report", "--out", warm + "/r"]).exit_code == 0
            assert CliRunner().invoke(cli.app, ["report", "--out", warm + "/r", "--format", "csv"]).exit_code == 0
            if os.geteuid() == 0:  # root writes anywhere: become nobody, for whom the folder is read-only
                os.setgid(65534)
                os.setuid(65534)
            else:
                os.chmod({str(out)!r}, 0o555)
            try:
                open(os.path.join({str(out)!r}, "probe"), "w")
                sys.exit("the results folder is writable: the test would prove nothing")
            except PermissionError:
                pass
            sys.argv = ["egbench", "report", "--out", {str(out)!r}, "--format", "csv"]
            cli.main()
        """)
        res = subprocess.run(
            [sys.executable, "-c", script], env=toy_site.env(), capture_output=True, text=True, timeout=300
        )
        assert res.returncode == 0, res.stderr[-3000:]
        assert "toy-pair [smoke],synthetic-emt,standard,test" in res.stdout
        os.chmod(out, 0o755)
        assert _digest(out) == before
    finally:
        os.chmod(out, 0o755)
        shutil.rmtree(out, ignore_errors=True)


def _open_store(path, results):
    try:
        Store(path)
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - the test reports what each process saw
        results.put(f"{type(exc).__name__}: {exc}")


def test_runs_starting_together_on_a_new_folder_all_open_it(tmp_path):
    """Three processes open one new results folder at once, 20 times: none may take another's
    half-made SQLite file (0 bytes, or no tables yet) for a foreign one (the code before the lock
    failed 69 of 120 such openings)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    seen = []
    for k in range(20):
        results = ctx.Queue()
        procs = [ctx.Process(target=_open_store, args=(tmp_path / f"out-{k}", results)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        seen += [results.get(timeout=10) for _ in procs]
    assert seen == ["ok"] * 60, [s for s in seen if s != "ok"][:3]
