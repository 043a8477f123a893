"""Observers that read saved frames only, replayed over a stored simulation: a metric added or
changed after the MD is re-scored without running it again.

A live run feeds every observer each saved frame in order (``update``), then tells those that did
not stop the replica why it stopped (``stopped``), then collects ``finish()``. A replayed observer
gets exactly that, from the full-precision copy of the saved frames the MD wrote beside each
trajectory (``<trajectory>.frames.npz``, :mod:`egbench_core.md.replicas`): the same step numbers,
times, positions, momenta, cell, energies and forces. At a frame where another observer's
``update`` ended the replica, it sees the frame only if it comes before that observer in the
declared order, as it would have live.

A replay that cannot be exact raises :class:`ReplayMismatch` and the caller simulates again:
the frames were not recorded (a stage of an older egbench), the replayed observer reports a
failure (live, it would have ended the replica and shaped the trajectory), or an observer that
ended a replica live is no longer installed or has changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from egbench_core.interfaces import order_observers
from egbench_core.md.replicas import frames_path

if TYPE_CHECKING:
    from egbench_core.cell import CellOutputs
    from egbench_core.interfaces import ObserverSpec


class ReplayMismatch(RuntimeError):
    """The stored simulation cannot give what a live run with these observers would have."""


def plan_replay(ran: dict[str, Any], installed: dict[str, Any], specs: list[ObserverSpec]) -> list[ObserverSpec]:
    """The observers of ``specs`` (the installed ones) to replay: those whose metric's version and
    code (``installed``: observer name -> them) differ from what the simulation ran with (``ran``,
    recorded in ``outputs.json``). Raises :class:`ReplayMismatch` where one cannot be replayed."""
    out = []
    for spec in specs:
        if ran.get(spec.name) == installed.get(spec.name):
            continue
        if not spec.saved_frames_only:
            raise ReplayMismatch(f"observer {spec.name!r} watches every step: only a new simulation feeds it")
        out.append(spec)
    return out


def replay(
    outputs: CellOutputs,
    replayed: list[ObserverSpec],
    every: list[ObserverSpec],
    ran: dict[str, Any],
    installed: dict[str, Any],
) -> None:
    """Feed ``replayed`` the stored frames of every replica of ``outputs`` and put what they give
    into ``replica.observed``. ``every``: all installed observers (their order decides who saw a
    stopping frame); ``ran`` / ``installed``: observer name -> its metric's version and code, live
    and now."""
    for r in outputs.md:
        source = _stopper(r.failure, ran)
        if source is not None and ran.get(source) != installed.get(source):
            raise ReplayMismatch(f"replica {r.index} was ended by observer {source!r}, not installed as it was")
    if not replayed:
        return
    order = [s.name for s in order_observers(every)]
    for r in outputs.md:
        path = Path(frames_path(r.trajectory)) if r.trajectory else None
        if path is None or not path.exists():
            raise ReplayMismatch(f"replica {r.index}: no full-precision frames were stored ({path})")
        with np.load(path) as z:
            frames = {k: z[k] for k in z.files}
        source = _stopper(r.failure, ran)
        last = int(frames["step"][-1]) if len(frames["step"]) else None
        if r.failed_step is not None and last == r.failed_step and source is None:
            raise ReplayMismatch(f"replica {r.index} ended at a saved frame for a reason no observer gave")
        for spec in replayed:
            _feed(spec, outputs, r, frames, order, source)


def _feed(spec: ObserverSpec, outputs: CellOutputs, r, frames: dict[str, np.ndarray], order, source) -> None:
    obs = spec.make(outputs)
    if obs is None:
        return
    for k in range(len(frames["step"])):
        step = int(frames["step"][k])
        if step == r.failed_step and source is not None and order.index(spec.name) > order.index(source):
            break  # live, the observer that ended the replica came first at this frame
        energy, forces = float(frames["energy"][k]), frames["forces"][k]
        atoms = _atoms(frames, frames["positions"][k], frames["cell"][k], frames["momenta"][k], energy, forces)
        if obs.update(step, float(frames["time_fs"][k]), atoms, energy, forces):
            raise ReplayMismatch(f"observer {spec.name!r} reports a failure: live, it would have ended the replica")
    stopped = getattr(obs, "stopped", None)
    if r.failed_step is not None and stopped is not None:
        atoms = _atoms(frames, frames["stop_positions"], frames["stop_cell"], frames["stop_momenta"])
        md = outputs.plan.md
        t_fs = r.failed_step * md.timestep_fs if md is not None else float("nan")
        stopped(r.failed_step, t_fs, r.failure, source or "engine", atoms)
    r.observed[spec.name] = obs.finish()


def _atoms(frames, positions, cell, momenta, energy: float | None = None, forces=None):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = Atoms(numbers=frames["numbers"], positions=positions, cell=cell, pbc=frames["pbc"], momenta=momenta)
    if energy is not None:
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def _stopper(failure: str, ran: dict[str, Any]) -> str | None:
    """The observer whose report ended a replica (its failure reads ``"<observer>: <reason>"``,
    as ``md_replicas._finish`` tells them apart), or None (the engine, or no failure)."""
    return next((name for name in ran if failure.startswith(f"{name}: ")), None) if failure else None
