"""``--executor slurm`` against a real single-node SLURM (``tests/run/slurm_node.py``: Debian's
slurm-wlm and munge, started here, stopped after): cells land with the numbers of ``--executor
local`` for MACE and PaiNN, one cell per worker process; a job cancelled mid-cell is replaced and
the cell finishes; a job that keeps hitting its walltime fails the cell as an infrastructure
failure naming the jobs, and the run ends. SLURM's job-completion log shows each job's state.

Where SLURM cannot start the tests fail in CI (``CI`` set) and are skipped elsewhere, with why."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from slurm_node import SlurmUnavailable, start, stop

from egbench_core.store import Store

pytestmark = pytest.mark.slow

EGBENCH = [sys.executable, "-m", "egbench_core.cli"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    try:
        node = start(tmp_path_factory.mktemp("slurm"))
    except SlurmUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"SLURM could not be started in CI: {exc}")
        pytest.skip(f"SLURM could not be started here: {exc}")
    yield node
    stop(node)


def _config(path: Path, walltime: str = "00:10:00", cores: int = 2) -> Path:
    cfg = path / "egbench.toml"
    cfg.write_text(
        "[executor.slurm]\n"
        f'walltime = "{walltime}"\ncores = {cores}\nmemory = "{2 * cores}GB"\n'
        f'interface = "lo"\nlocal_directory = "{path / "dask-scratch"}"\n'
    )
    return cfg


def _slow_site(path: Path, seconds: float) -> Path:
    """A plugin distribution with ``toy-slow``: toy-pair whose build sleeps ``seconds`` (a long cell)."""
    site = path / "slow-site"
    site.mkdir()
    (site / "slow_egbench_plugin.py").write_text(
        textwrap.dedent(f"""
        import time

        from egbench_core.testing.fakes import FakeModelPlugin, build_toy_pair, toy_pair_spec


        def _slow(species, cutoff, params, stats):
            time.sleep({seconds})
            return build_toy_pair(species, cutoff, params, stats)


        register_models = FakeModelPlugin(toy_pair_spec("toy-slow", build=_slow)).register_models
    """)
    )
    info = site / "slow_egbench_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slow-egbench-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[egbench]\nslow = slow_egbench_plugin\n")
    return site


def _env(slurm, **extra: str) -> dict[str, str]:
    return {**os.environ, **slurm.env, "EGBENCH_THREADS": "1", "COLUMNS": "200", **extra}


def test_slurm_cells_equal_local_for_mace_and_painn(slurm, tmp_path, stored_numbers):
    """Six cells on one job of 2 worker processes (two cells at a time, never in one process), the
    graph of stages with them: acac's ood-temperature cells wait for, then reuse, its trainings."""
    pytest.importorskip("mace")
    base = EGBENCH + ["run", "--models", "mace,painn", "--datasets", "acac,synthetic-emt", "--preset", "smoke"]
    base += ["--tasks", "standard,ood-temperature"]
    env = _env(slurm)
    local = subprocess.run(base + ["--out", str(tmp_path / "local")], env=env, capture_output=True, text=True)
    assert local.returncode == 0, local.stderr[-3000:]
    cmd = base + ["--executor", "slurm", "--config", str(_config(tmp_path)), "--out", str(tmp_path / "slurm")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "6 computed" in res.stdout
    stages = "stages: train: 4 computed, 2 reused · evaluate: 6 computed · simulate: 6 computed · score: 6 computed"
    assert stages in res.stdout and stages in local.stdout
    a, b = (stored_numbers(tmp_path / out, by_task=True) for out in ("local", "slurm"))
    assert len(a) > 60 and a == b
    store = Store.open_readonly(tmp_path / "slurm")
    (run,) = store.runs()
    assert run["provenance"]["execution"]["executor"] == "slurm"
    for c in store.cells("done"):  # the time a worker held the cell; the wait before it, apart
        held = c.info["worker"]["finished"] - c.info["worker"]["started"]
        assert c.duration_s == pytest.approx(held) and c.info["queue_wait_s"] >= 0
    assert max(c.info["queue_wait_s"] for c in store.cells("done")) > 1  # the job's start, at least
    workers = [c.info["worker"] for c in store.cells("done")]
    first, second = sorted((w["started"], w["finished"]) for w in workers)[:2]  # the job's first two cells
    assert second[0] < first[1]  # started together: a cell per process at once, not one and then a wait
    assert len({w["pid"] for w in workers}) == 2  # the job's two worker processes ...
    for pid in {w["pid"] for w in workers}:  # ... each ran its cells one after the other
        spans = sorted((w["started"], w["finished"]) for w in workers if w["pid"] == pid)
        assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:]))
    slurm.wait_idle()
    states = [j["JobState"] for j in slurm.jobs().values() if j["Name"] == "egbench"]
    assert states == ["CANCELLED"]  # dask-jobqueue cancels its job when the run closes the cluster


def _start_run(slurm, tmp_path: Path, seconds: float, walltime: str) -> subprocess.Popen:
    site = _slow_site(tmp_path, seconds)
    cmd = EGBENCH + ["run", "--models", "toy-slow", "--datasets", "acac", "--preset", "smoke"]
    cmd += ["--executor", "slurm", "--config", str(_config(tmp_path, walltime, cores=1))]
    cmd += ["--out", str(tmp_path / "out")]
    env = _env(slurm, PYTHONPATH=str(site), EGBENCH_LOAD_PLUGINS="slow")
    return subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _running_job(slurm, timeout: float = 120) -> int:
    end = time.time() + timeout
    while time.time() < end:
        running = [i for i, state in slurm.queue() if state == "RUNNING"]
        if running:
            return running[0]
        time.sleep(0.5)
    raise AssertionError(f"no SLURM job started in {timeout} s")


def test_a_lost_job_is_replaced_then_a_second_loss_fails_the_cell_and_the_run_ends(slurm, tmp_path):
    """The cell's job is cancelled mid-cell: a replacement is submitted and the cell retried there;
    the replacement hits its 1-minute walltime: the cell is stored as an infrastructure failure
    naming both jobs, and the run ends (before: the run waited for ever)."""
    slurm.wait_idle()
    proc = _start_run(slurm, tmp_path, seconds=600, walltime="00:01:00")
    job = _running_job(slurm)
    time.sleep(10)  # the worker has connected and is inside the cell (its build sleeps 600 s)
    subprocess.run(["scancel", str(job)], env=_env(slurm), check=True)
    out, _ = proc.communicate(timeout=600)
    assert f"slurm job {job} CANCELLED with cells to run: submitting 1 replacement job(s)" in out
    (cell,) = Store.open_readonly(tmp_path / "out").cells()
    slurm.wait_idle()
    jobs = slurm.jobs()
    (replacement,) = [i for i, j in jobs.items() if j["JobState"] == "TIMEOUT"]
    assert jobs[job]["JobState"] == "CANCELLED" and replacement > job
    assert (cell.status, cell.reason) == (
        "failed",
        "infrastructure: worker lost (worker lost twice while running the cell "
        f"(slurm job {job} CANCELLED; slurm job {replacement} TIMEOUT))",
    ), out[-3000:]
    assert proc.returncode == 1 and "1 lost to infrastructure" in out
