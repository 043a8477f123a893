"""Wall time of the same cells run serially (``--executor local``) and on a Dask cluster of 2 worker
processes on this machine (``--executor dask --workers 2``), each in a fresh results folder,
through the real ``egbench`` command (start-up included: the cluster's too). Rounds alternate the
two modes.

* ``--size smoke`` (default): 4 smoke cells of seconds each — what this measures is the start-up
  and scheduling cost (the overhead per cell = (dask wall − serial cell time / workers) / cells,
  target < 2 s). Last line ``dask/local wall: X``.
* ``--size quick``: two independent cells of the size a user runs (PaiNN at the ``quick`` preset on
  acac and md17-ethanol): what the executor is for. Last line ``dask/local wall at quick: X``
  (target ≤ 0.65 on a 2-core machine).

Run: python benchmarks/executor.py [--size smoke|quick] [--models ...] [--datasets ...] [--seeds 0,1] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header


def run(args: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "egbench_core.cli", "run", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"egbench run {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return wall


def cell_seconds(out: Path) -> float:
    from egbench_core.store import Store

    return sum(c.duration_s or 0.0 for c in Store.open_readonly(out).cells("done"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=("smoke", "quick"), default="smoke")
    ap.add_argument("--models", default=None)
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seeds", default="0", help="e.g. 0,1: cells of the same size, one per seed")
    args = ap.parse_args()
    sizes = {"smoke": ("mace,painn", "acac,synthetic-emt", 2), "quick": ("painn", "acac,md17-ethanol", 1)}
    models, datasets, rounds = sizes[args.size]
    args.models, args.datasets = args.models or models, args.datasets or datasets
    args.rounds = args.rounds or rounds
    base = ["--models", args.models, "--datasets", args.datasets, "--preset", args.size, "--threads", "1"]
    base += ["--seeds", args.seeds]
    print(
        header("preset's"),
        f"cells: {args.models} × {args.datasets} × seeds {args.seeds}, {args.size}, 1 torch thread per cell",
    )
    serial, parallel, compute = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        first = args.models.split(",")[0]  # warms the caches (data, imports) at the smoke size
        run(["--models", first, "--datasets", "synthetic-emt", "--preset", "smoke", "--threads", "1"], Path(tmp) / "w")
        for k in range(args.rounds):
            out = Path(tmp) / f"local-{k}"
            serial.append(run(base, out))
            compute.append(cell_seconds(out))
            parallel.append(run(base + ["--executor", "dask", "--workers", str(args.workers)], Path(tmp) / f"dask-{k}"))
            print(
                f"round {k}: local {serial[-1]:.1f} s (cells {compute[-1]:.1f} s), dask {parallel[-1]:.1f} s",
                flush=True,
            )
    n_cells = len(args.models.split(",")) * len(args.datasets.split(",")) * len(args.seeds.split(","))
    s, p, c = statistics.median(serial), statistics.median(parallel), statistics.median(compute)
    overhead = (p - c / args.workers) / n_cells
    print(
        f"local {s:.1f} s, dask {p:.1f} s ({args.workers} workers), {n_cells} cells; scheduling overhead per cell "
        f"{overhead:.2f} s (target < 2 s)"
    )
    print(f"dask/local wall{' at quick' if args.size == 'quick' else ''}: {p / s:.2f}")


if __name__ == "__main__":
    main()
