"""Wall time of the same command on this commit (stages: one training per model, dataset and seed,
shared by the tasks) and on a worktree of the commit before stages (one training per cell), each
into a fresh results folder, through the real ``egbench`` command.

Printed: the machine, per commit the cells computed, the trainings done and the wall time; for
this commit the stages by kind (computed / reused) and their seconds from the store; last line
``stages/cells wall: X`` (target ≤ 0.6 on this 2-core machine at the ``quick`` preset).

The worktree's own core and plugins are put first on ``PYTHONPATH``, so the old run runs the old
code throughout (its data plugins included).

Run: python benchmarks/stages.py [--before a84d5fa] [--models mace,painn] [--datasets acac,3bpa]
                                 [--tasks standard,ood] [--preset quick]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header

REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], out: Path, pythonpath: str | None) -> tuple[float, str]:
    env = dict(os.environ, COLUMNS="200", EGBENCH_THREADS="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "egbench_core.cli", "run", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: a cell failed; the figures still count what ran
        raise RuntimeError(f"egbench run {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    summary = next((line for line in proc.stdout.splitlines() if line.startswith("run ")), "")
    return wall, summary


def trainings(out: Path) -> tuple[int, int, dict[str, tuple[int, int, float]]]:
    """Cells done, trainings done, and (this layout) per stage kind: computed, reused, seconds."""
    db = sqlite3.connect(out / "egbench.sqlite")
    cells = db.execute("SELECT count(*) FROM cells WHERE status='done'").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "cell_stages" not in tables:  # one training per cell
        return cells, cells, {}
    kinds: dict[str, tuple[int, int, float]] = {}
    for kind, computed, reused in db.execute(
        "SELECT kind, sum(reused = 0), sum(reused) FROM cell_stages GROUP BY kind ORDER BY kind"
    ):
        seconds = db.execute(
            "SELECT coalesce(sum(duration_s), 0) FROM stages WHERE kind=? AND status='done'", (kind,)
        ).fetchone()[0]
        kinds[kind] = (int(computed), int(reused), float(seconds))
    return cells, kinds.get("train", (0, 0, 0.0))[0], kinds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="a84d5fa", help="the commit before stages")
    ap.add_argument("--models", default="mace,painn")
    ap.add_argument("--datasets", default="acac,3bpa")
    ap.add_argument("--tasks", default="standard,ood")
    ap.add_argument("--preset", default="quick")
    args = ap.parse_args()
    cmd = ["--models", args.models, "--datasets", args.datasets, "--tasks", args.tasks, "--preset", args.preset]
    cmd += ["--threads", "1"]
    print(header("preset's"), f"command: egbench run {' '.join(cmd)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.before], check=True)
        try:
            old_path = os.pathsep.join([str(tree / "src")] + [str(p) for p in sorted((tree / "plugins").glob("*/src"))])
            old_wall, old_summary = run(cmd, Path(tmp) / "cells", old_path)
            print(f"before ({args.before}, a training per cell): {old_wall:.0f} s — {old_summary}", flush=True)
            new_wall, new_summary = run(cmd, Path(tmp) / "stages", None)
            print(f"this commit (stages): {new_wall:.0f} s — {new_summary}", flush=True)
            old_cells, old_trained, _ = trainings(Path(tmp) / "cells")
            new_cells, new_trained, kinds = trainings(Path(tmp) / "stages")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    print(f"{'layout':<12} {'cells done':>10} {'trainings':>10} {'wall s':>8}")
    print(f"{'cells':<12} {old_cells:>10} {old_trained:>10} {old_wall:>8.0f}")
    print(f"{'stages':<12} {new_cells:>10} {new_trained:>10} {new_wall:>8.0f}")
    for kind, (computed, reused, seconds) in kinds.items():
        print(f"  {kind}: {computed} computed ({seconds:.0f} s), {reused} reused")
    print(f"stages/cells wall: {new_wall / old_wall:.2f}")


if __name__ == "__main__":
    main()
