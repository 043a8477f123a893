"""What both MD engines share: the settings, the start frames and velocities of the replicas, and
the observer protocol (``check`` every step, ``update`` at saved frames, ``stopped``, ``finish``),
so the ASE engine (``ase_engine.py``) and the batched one (``batched.py``) behave the same."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egbench_core.data.readers import Frames, write_extxyz
from egbench_core.interfaces import MDPlan
from egbench_core.records import ReplicaResult

log = logging.getLogger("egbench_core.md")  # both engines report replicas under the package's logger


@dataclass(frozen=True)
class MDSettings:
    replicas: int
    steps: int
    save_every: int = 1
    seed: int = 0


def start_indices(n_frames: int, replicas: int) -> list[int]:
    """Evenly spaced over the split (not consecutive): 5 of 1000 -> 0, 200, 400, 600, 800."""
    if replicas > n_frames:
        raise ValueError(f"{replicas} replicas need at least as many start frames; the split has {n_frames}")
    return [int(i) for i in np.linspace(0, n_frames, replicas, endpoint=False).astype(int)]


Observer = Any  # update(...) -> str | None; finish() -> dict; optional check(...) -> str | None, stopped(...)
StepCallback = Callable[[int, int, int], None]


def start_state(atoms, plan: MDPlan, rng: np.random.Generator, velocities: np.ndarray | None = None):
    """A copy of ``atoms`` with its starting velocities: ``velocities`` (Å/fs) when given (e.g. the
    reference trajectory's own, for aligned comparisons), else a Maxwell–Boltzmann draw from
    ``rng`` at the plan's temperature, without centre-of-mass motion (and, for a molecule, without
    rotation). Both MD engines start from this."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta

    atoms = atoms.copy()
    if velocities is not None:
        atoms.set_velocities(velocities / units.fs)
    else:
        thermalize_momenta(atoms, temperature_K=plan.temperature_K, rng=rng)
        Stationary(atoms)
        if not atoms.pbc.any():
            ZeroRotation(atoms)
    return atoms


def has_check(observers) -> bool:
    """Whether any observer wants the per-step ``check``."""
    return any(callable(getattr(obs, "check", None)) for obs in observers.values())


def _check(observers, step: int, t_fs: float, positions, numbers, cell, pbc, temperature_K: float) -> str | None:
    """The per-step checks, in observer order: the first failure (``"<observer>: <reason>"``) or None."""
    for name, obs in observers.items():
        check = getattr(obs, "check", None)
        if check is not None:
            r = check(step, t_fs, positions, numbers, cell, pbc, temperature_K)
            if r:
                return f"{name}: {r}"
    return None


def _check_atoms(observers, step: int, t_fs: float, atoms) -> str | None:
    if not has_check(observers):
        return None
    return _check(
        observers,
        step,
        t_fs,
        atoms.positions,
        atoms.numbers,
        atoms.cell.array,
        atoms.pbc,
        float(atoms.get_temperature()),
    )


# Full-precision copies of the saved frames, per replica (the trajectory's text has 8 decimals):
# what an observer that reads saved frames only sees, so it can be replayed exactly (replay.py).
_FRAMES: dict[int, dict[str, list]] = {}


def frames_path(trajectory: str) -> str:
    """``md/replica-0.extxyz`` -> ``md/replica-0.frames.npz``."""
    return str(Path(trajectory).with_suffix(".frames.npz"))


def _log_frame(res: ReplicaResult, atoms, step: int, t_fs: float, energy: float, forces) -> None:
    if not res.trajectory:
        return
    log_ = _FRAMES.setdefault(
        id(res), {k: [] for k in ("step", "time_fs", "positions", "momenta", "cell", "energy", "forces")}
    )
    log_["step"].append(step)
    log_["time_fs"].append(t_fs)
    log_["positions"].append(np.array(atoms.positions, dtype=np.float64))
    log_["momenta"].append(np.array(atoms.get_momenta(), dtype=np.float64))
    log_["cell"].append(np.array(atoms.cell.array, dtype=np.float64))
    log_["energy"].append(float(energy))
    log_["forces"].append(np.array(forces, dtype=np.float64))


def _write_frames(res: ReplicaResult, atoms) -> None:
    """``<trajectory>.frames.npz``: the saved frames in full precision, the numbers and pbc, and the
    atoms where the replica stopped (what ``stopped`` is told)."""
    log_ = _FRAMES.pop(id(res), None)
    if not res.trajectory:
        return
    n = len(atoms) if atoms is not None else 0
    arrays: dict[str, Any] = {
        "step": np.asarray(log_["step"] if log_ else [], dtype=np.int64),
        "time_fs": np.asarray(log_["time_fs"] if log_ else [], dtype=np.float64),
        "positions": np.asarray(log_["positions"], dtype=np.float64) if log_ else np.zeros((0, n, 3)),
        "momenta": np.asarray(log_["momenta"], dtype=np.float64) if log_ else np.zeros((0, n, 3)),
        "cell": np.asarray(log_["cell"], dtype=np.float64) if log_ else np.zeros((0, 3, 3)),
        "energy": np.asarray(log_["energy"] if log_ else [], dtype=np.float64),
        "forces": np.asarray(log_["forces"], dtype=np.float64) if log_ else np.zeros((0, n, 3)),
    }
    if atoms is not None:
        arrays.update(
            numbers=np.asarray(atoms.numbers),
            pbc=np.asarray(atoms.pbc),
            stop_positions=np.array(atoms.positions, dtype=np.float64),
            stop_momenta=np.array(atoms.get_momenta(), dtype=np.float64),
            stop_cell=np.array(atoms.cell.array, dtype=np.float64),
        )
    np.savez_compressed(frames_path(res.trajectory), **arrays)


def _finish(
    res: ReplicaResult, observers, step_time: float, atoms=None, timestep_fs: float | None = None
) -> ReplicaResult:
    _write_frames(res, atoms)
    res.time_per_step_ms = 1e3 * step_time / res.steps_done if res.steps_done else float("nan")
    if res.failed_step is not None:  # observers that did not stop the replica learn why it stopped
        source = next((name for name in observers if res.failure.startswith(f"{name}: ")), "engine")
        t_fs = res.failed_step * timestep_fs if timestep_fs is not None else float("nan")
        for name, obs in observers.items():
            stopped = getattr(obs, "stopped", None)
            if name != source and stopped is not None:
                stopped(res.failed_step, t_fs, res.failure, source, atoms)
    for name, obs in observers.items():
        res.observed[name] = obs.finish()
    if res.failure:
        log.warning("replica %d stopped: %s", res.index, res.failure)
    return res


def _save(res: ReplicaResult, fh, atoms, step: int, t_fs: float, forces, observers) -> str | None:
    energy = atoms.get_potential_energy()
    res.times_fs.append(t_fs)
    res.potential_energy.append(float(energy))
    res.temperature_K.append(float(atoms.get_temperature()))
    if fh:
        write_extxyz(fh, atoms, energy, forces, {"step": step, "time_fs": t_fs})
    _log_frame(res, atoms, step, t_fs, energy, forces)
    for name, obs in observers.items():  # in order: the first failure ends the stable part
        r = obs.update(step, t_fs, atoms, energy, forces)
        if r:
            return f"{name}: {r}"
    return None


def reference_velocities(frames: Frames, k: int, spacing_fs: float | None) -> np.ndarray:
    """Velocities (Å/fs) of frame ``k`` of a time-contiguous trajectory by finite differences:
    central where both neighbours exist, one-sided at the ends; minimum image for periodic cells."""
    if not spacing_fs:
        raise ValueError(f"{frames.source}: reference velocities need the frame spacing of a contiguous split")
    lo, hi = max(k - 1, 0), min(k + 1, len(frames) - 1)
    if lo == hi:
        raise ValueError(f"{frames.source}: a single frame has no velocities")
    dx = frames.positions[frames.atoms_slice(hi)] - frames.positions[frames.atoms_slice(lo)]
    if frames.pbc[k].any():
        cell = frames.cell[k]
        frac = np.linalg.solve(cell.T, dx.T).T
        frac[:, frames.pbc[k]] -= np.round(frac[:, frames.pbc[k]])
        dx = frac @ cell
    return dx / ((hi - lo) * spacing_fs)
