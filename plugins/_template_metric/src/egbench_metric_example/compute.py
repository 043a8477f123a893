"""``force_extremes``' ``compute``: a pure function of the finished cell's outputs (core re-scores a
store with it, and writes nothing here)."""

from __future__ import annotations

import numpy as np

from egbench_core.interfaces import MetricResult
from egbench_core.plugin_kit import CellOutputs

from . import MAX_FORCE_ERROR, MD_MEAN_TEMPERATURE


def compute(outputs: CellOutputs) -> MetricResult:
    values = []
    for split, p in outputs.predictions.items():  # SplitPrediction: reference Frames, model energy and forces
        err = np.abs(p.forces - p.reference.forces)  # [ΣN, 3] eV/Å
        values.append(MAX_FORCE_ERROR(float(err.max()), split=split, n=int(err.size)))
    if outputs.md:  # ReplicaResult per replica: saved frames' times, potential energies, temperatures
        means = [float(np.mean(r.temperature_K)) for r in outputs.md if r.temperature_K]
        if means:
            frames = np.concatenate([r.temperature_K for r in outputs.md])
            values.append(MD_MEAN_TEMPERATURE(float(frames.mean()), std=float(np.std(means)), n=len(means)))
        else:
            values.append(MD_MEAN_TEMPERATURE(float("nan"), note="not applicable: no replica saved a frame"))
    return MetricResult(values)
