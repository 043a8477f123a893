"""Cells on a real Dask cluster (a LocalCluster of 2 worker processes, never a mock): the same
numbers as in-process, progress events from the workers, a worker killed mid-cell, a cell that
kills its worker every time (an infrastructure failure), and the SLURM job script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from egbench_core.cell import Execution
from egbench_core.plugins import load_catalog
from egbench_core.run.executors import DaskExecutor
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store

pytestmark = pytest.mark.slow


def test_dask_stores_the_same_numbers_as_local(toy_site, emt_env, tmp_path, stored_numbers):
    base = toy_site.egbench + ["run", "--models", "toy-pair", "--datasets", "acac,synthetic-emt", "--preset", "smoke"]
    local = subprocess.run(
        base + ["--out", str(tmp_path / "local")], env=toy_site.env(), capture_output=True, text=True, timeout=900
    )
    assert local.returncode == 0, local.stderr[-3000:]
    dask = subprocess.run(
        base + ["--executor", "dask", "--workers", "2", "--out", str(tmp_path / "dask")],
        env=toy_site.env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert dask.returncode == 0, dask.stderr[-3000:]
    assert "2 computed" in dask.stdout
    assert "Scheduler at" not in dask.stdout + dask.stderr  # dask's own INFO lines only with -vv
    a, b = stored_numbers(tmp_path / "local"), stored_numbers(tmp_path / "dask")
    assert len(a) > 20 and a == b
    (run,) = Store.open_readonly(tmp_path / "dask").runs()
    assert run["provenance"]["execution"]["executor"] == "dask"


class _Recorder:
    def __init__(self):
        self.events: list[tuple] = []
        self.lock = threading.Lock()

    def __getattr__(self, name):
        if not name.startswith("cell_"):
            raise AttributeError(name)

        def record(*args):
            with self.lock:
                self.events.append((name, args[0].key if args else None, args[1:]))

        return record


@pytest.fixture
def dask_catalog(toy_site, emt_env, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(toy_site.path))  # the workers (new processes) find the plugin
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "toy")
    monkeypatch.syspath_prepend(str(toy_site.path))
    monkeypatch.delitem(sys.modules, "toy_egbench_plugin", raising=False)
    yield load_catalog(entry_points=True)
    sys.modules.pop("toy_egbench_plugin", None)


def test_a_worker_killed_mid_cell_is_retried_and_every_cell_finishes(dask_catalog, tmp_path):
    cells = plan_cells(dask_catalog, "toy-pair", "acac,synthetic-emt", preset="smoke", seeds=[0, 1])
    executor = DaskExecutor.local(2, 1)
    killed = []

    def kill_one_busy_worker():
        client = executor.client
        t0 = time.time()
        while time.time() - t0 < 120:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                time.sleep(1.5)  # inside the cell
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_one_busy_worker)
    killer.start()
    progress = _Recorder()
    try:
        summary = run_cells(
            cells,
            dask_catalog,
            Store(tmp_path / "out"),
            progress=progress,
            executor=executor,
            execution=Execution(threads=1),
        )
    finally:
        killer.join()
        executor.close()
    assert killed, "no worker was killed: the test proved nothing"
    assert (summary.done, summary.failed, summary.infra_failed) == (4, 0, 0)
    store = Store.open_readonly(tmp_path / "out")
    assert len(store.cells("done")) == 4 and all(store.verify(c.key) == [] for c in store.cells("done"))
    epochs = [e for e in progress.events if e[0] == "cell_epoch"]
    assert {k for _, k, _ in epochs} == {c.key for c in cells}  # progress reached the client from the workers


def test_a_cell_that_kills_its_worker_twice_is_an_infrastructure_failure(dask_catalog, tmp_path):
    cells = plan_cells(dask_catalog, "toy-crash,toy-pair", "acac", preset="smoke")
    executor = DaskExecutor.local(2, 1)
    try:
        summary = run_cells(
            cells, dask_catalog, Store(tmp_path / "out"), executor=executor, execution=Execution(threads=1)
        )
    finally:
        executor.close()
    assert (summary.done, summary.failed, summary.infra_failed) == (1, 0, 1)
    store = Store.open_readonly(tmp_path / "out")
    (lost,) = store.cells("failed")
    assert lost.model == "toy-crash" and lost.reason.startswith("infrastructure: worker lost")


def test_an_ase_model_runs_on_a_dask_worker(emt_env, tmp_path, stored_numbers):
    """A worker's catalog has no ``ase:`` models: it rebuilds the calculator from the cell's
    provenance, and stores the same numbers as in-process."""
    cat = load_catalog(entry_points=False)
    cells = plan_cells(cat, "ase:ase.calculators.emt:EMT", "synthetic-emt", preset="smoke")
    run_cells(cells, cat, Store(tmp_path / "local"), execution=Execution(threads=1))
    executor = DaskExecutor.local(1, 1)
    try:
        summary = run_cells(cells, cat, Store(tmp_path / "dask"), executor=executor, execution=Execution(threads=1))
    finally:
        executor.close()
    assert (summary.done, summary.failed) == (1, 0)
    a, b = stored_numbers(tmp_path / "local"), stored_numbers(tmp_path / "dask")
    assert len(a) > 10 and a == b
    assert a[("ase-ase-calculators-emt-emt", "synthetic-emt", 0, "force_mae", "test", "")][0] < 1e-9


def test_slurm_dry_run_prints_the_job_script(toy_site, tmp_path):
    cfg = tmp_path / "egbench.toml"
    cfg.write_text(
        '[executor.slurm]\nqueue = "gpu"\naccount = "chem"\nwalltime = "04:00:00"\ncores = 4\n'
        'memory = "16GB"\ngpus = 1\nenv = "source /opt/egbench/.venv/bin/activate"\n'
    )
    res = subprocess.run(
        toy_site.egbench + ["run", "--executor", "slurm", "--dry-run", "--config", str(cfg)],
        env=toy_site.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    for line in (
        "#SBATCH -p gpu",
        "#SBATCH -A chem",
        "#SBATCH -t 04:00:00",
        "#SBATCH --gres=gpu:1",
        "source /opt/egbench/.venv/bin/activate",
        "--resources GPU=1",
        "export DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None",
    ):
        assert line in res.stdout, res.stdout
    assert not (tmp_path / "egbench-results").exists()


def _worker_intervals(out) -> list[tuple[int, float, float]]:
    store = Store.open_readonly(out)
    return sorted(
        (c.info["worker"]["pid"], c.info["worker"]["started"], c.info["worker"]["finished"])
        for c in store.cells("done")
    )


def test_two_mace_cells_never_share_a_worker_process(tmp_path, stored_numbers, monkeypatch):
    """A worker with 2 threads (an existing scheduler's, as ``--scheduler`` finds them): before,
    two MACE cells ran in threads of one process and failed in torch.jit or gave other numbers.
    Now the second waits for the first (one cell per process) and every number equals local."""
    pytest.importorskip("mace")
    from distributed import LocalCluster

    base = [sys.executable, "-m", "egbench_core.cli", "run", "--models", "mace", "--datasets", "acac,synthetic-emt"]
    base += ["--preset", "smoke"]
    local = subprocess.run(base + ["--out", str(tmp_path / "local")], capture_output=True, text=True, timeout=900)
    assert local.returncode == 0, local.stderr[-3000:]
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        shared = subprocess.run(
            base + ["--executor", "dask", "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")],
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert shared.returncode == 0, shared.stderr[-3000:]
    assert "has 2 threads: egbench runs one cell at a time in it" in shared.stdout + shared.stderr
    (a_pid, a_start, a_end), (b_pid, b_start, b_end) = _worker_intervals(tmp_path / "dask")
    assert a_pid == b_pid  # the one worker process ran both cells ...
    assert a_end <= b_start or b_end <= a_start  # ... one after the other
    a, b = stored_numbers(tmp_path / "local"), stored_numbers(tmp_path / "dask")
    assert len(a) > 20 and a == b


def test_slurm_jobs_run_one_cell_per_process(toy_site, tmp_path):
    """``cores = 4`` means 4 worker processes of one Dask thread (one cell each), asking for
    cores × --threads CPUs; a ``processes`` below ``cores`` is raised to it with a log line."""
    cfg = tmp_path / "egbench.toml"
    cfg.write_text('[executor.slurm]\nwalltime = "01:00:00"\ncores = 4\nprocesses = 1\nmemory = "8GB"\n')
    cmd = toy_site.egbench + ["run", "--executor", "slurm", "--dry-run", "--config", str(cfg), "--threads", "2"]
    res = subprocess.run(cmd, env=toy_site.env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "--nworkers 4" in res.stdout and "--nthreads 1" in res.stdout, res.stdout
    assert "#SBATCH --cpus-per-task=8" in res.stdout, res.stdout
    assert "processes = 1 with cores = 4 would run 4 cells in threads of one process" in res.stdout + res.stderr
    cfg.write_text('[executor.slurm]\nwalltime = "01:00:00"\ncores = 2\nprocesses = 3\nmemory = "8GB"\n')
    res = subprocess.run(cmd, env=toy_site.env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .endswith("processes = 3 exceeds cores = 2: expected at most one process per core")
    )


def test_a_cell_longer_than_the_slurm_walltime_is_named_before_submission(dask_catalog, tmp_path, caplog):
    """Its model, preset and dataset took longer than the jobs' walltime when last computed here."""
    from egbench_core.run.executors import LocalExecutor, walltime_seconds

    cells = plan_cells(dask_catalog, "toy-pair", "acac", preset="smoke", seeds=[0])
    store = Store(tmp_path / "res")
    assert run_cells(cells, dask_catalog, store).done == 1
    (done,) = store.cells("done")
    executor = LocalExecutor(dask_catalog)
    executor.walltime_s = done.duration_s / 2  # seconds: what a SLURM executor carries (walltime_seconds)
    again = plan_cells(dask_catalog, "toy-pair", "acac", preset="smoke", seeds=[1])
    with caplog.at_level("WARNING", logger="egbench_core.run.runner"):
        run_cells(again, dask_catalog, store, executor=executor)
    (line,) = [r.getMessage() for r in caplog.records if "walltime" in r.getMessage()]
    assert line.startswith(f"cell {again[0].label} took {done.duration_s:.0f} s when last computed here")
    assert walltime_seconds("1-02:03:04") == 93784 and walltime_seconds("04:00:00") == 14400


def test_a_cluster_with_no_worker_left_ends_the_run(dask_catalog, tmp_path, monkeypatch):
    """An existing scheduler whose workers are all gone: the cells in flight end as infrastructure
    failures once no worker has connected for STRANDED_S (120 s; 2 s here), and the run ends."""
    from distributed import Client, LocalCluster

    from egbench_core.run import executors

    monkeypatch.setattr(executors, "STRANDED_S", 2.0)
    monkeypatch.setattr(executors, "WATCH_S", 0.5)
    cells = plan_cells(dask_catalog, "toy-pair", "acac", preset="smoke")
    store = Store(tmp_path / "res")
    with LocalCluster(n_workers=0, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        summary = run_cells(cells, dask_catalog, store, executor=DaskExecutor(client))
    assert summary.infra_failed == 1
    (cell,) = store.cells("failed")
    assert cell.reason.startswith("infrastructure: worker lost (no Dask worker connected for ")


def test_workers_keep_glibcs_memory_trimming(tmp_path, monkeypatch):
    """Dask's nannies export MALLOC_TRIM_THRESHOLD_=65536, which made training on a worker 2.6x
    slower (docs/performance.md): egbench's LocalCluster workers and SLURM jobs unset it."""
    import os

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    executor = DaskExecutor.local(1, 1)
    try:
        assert set(executor.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
    finally:
        executor.close()
