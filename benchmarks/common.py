"""Shared helpers for benchmark scripts: the machine description printed next to every figure."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from egbench_core.run.hardware import hardware


def header(precision: str) -> str:
    return "machine: " + json.dumps(hardware(precision))


def best_of(fn: Callable[[], object], repeats: int = 5, min_time: float = 0.2) -> float:
    """Median seconds per call over ``repeats`` rounds, each long enough to time reliably."""
    fn()  # warm-up
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= min_time or n >= 1 << 16:
            break
        n *= 2
    rounds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - t0) / n)
    return statistics.median(rounds)
