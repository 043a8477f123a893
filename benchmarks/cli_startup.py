"""How long `egbench --help` (and `egbench list models`) take to answer, with and without torch.

Asking what is installed loads every plugin but imports no torch (tests/test_imports.py). This
measures what that is worth: each command as a fresh process, and the same command in a process that
imports torch first (what loading the catalog cost when a built-in metric pulled torch in).
Rounds alternate between the variants so that the machine's load falls on both alike; medians.

    python benchmarks/cli_startup.py [--rounds 7] [--other-src DIR]

``--other-src``: also time the core (and bundled plugins) of another checkout (e.g. a worktree of
an older commit), put first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUN = "import sys; from egbench_core.cli import main; sys.argv = ['egbench', *sys.argv[1:]]; main()"
WITH_TORCH = "import torch; " + RUN


def _pythonpath(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        paths = [src / "src", *sorted((src / "plugins").glob("*/src"))]
        env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
    return env


def _time(code: str, argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--other-src", type=Path, default=None)
    args = ap.parse_args()
    variants = {"this tree": (RUN, None), "this tree, torch imported first": (WITH_TORCH, None)}
    if args.other_src is not None:
        variants[f"{args.other_src}"] = (RUN, args.other_src)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for argv in (["--help"], ["list", "models"]):
        times: dict[str, list[float]] = {name: [] for name in variants}
        for code, src in variants.values():  # warm the file cache once
            _time(code, argv, _pythonpath(src))
        for _ in range(args.rounds):
            for name, (code, src) in variants.items():
                times[name].append(_time(code, argv, _pythonpath(src)))
        base = statistics.median(times["this tree"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"egbench {' '.join(argv):12s} {name:45s} median {med:6.2f} s  ({med / base:4.2f}x)  n={len(ts)}")


if __name__ == "__main__":
    main()
