"""Forward molecular dynamics with a trained potential (or a calculator-backed model's own
calculator, ``potential.make_calculator()``): NVT Langevin replicas (docs/protocol.md, "Simulation").

Replicas start from evenly spaced frames of the start split, with Maxwell–Boltzmann velocities
at the target temperature drawn from a recorded per-replica seed (thermostat noise uses the same
generator). Each replica writes an extended XYZ trajectory (model energies and forces included)
every ``save_every`` steps, feeds observers (streaming metrics) as it goes, and stops at the
first non-finite energy, force or position, or when an observer reports a failure.

Observers (both engines, in the order given; the first failure ends the stable part):

* ``check(step, time_fs, positions, numbers, cell, pbc, temperature_K) -> str | None`` (optional)
  at **every** step, the start frame included, before that step's frame is saved;
* ``update(step, time_fs, atoms, energy, forces) -> str | None`` at every saved frame;
* ``stopped(step, time_fs, reason, source, atoms)`` (optional) when the replica was stopped by
  the engine (``source="engine"``: a non-finite model output or position, a structure blown
  apart) or by another observer (its name), with the atoms at that step;
* ``finish() -> dict``, stored in ``ReplicaResult.observed[name]``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from egbench_core.data.readers import Frames
from egbench_core.interfaces import MDPlan
from egbench_core.md.calculator import EgbenchCalculator, NonFiniteOutputError
from egbench_core.md.replicas import (
    MDSettings,
    Observer,
    StepCallback,
    _check_atoms,
    _finish,
    _save,
    reference_velocities,
    start_indices,
    start_state,
)
from egbench_core.records import ReplicaResult

log = logging.getLogger(__name__)


def run_replica(
    potential,
    atoms,
    plan: MDPlan,
    steps: int,
    save_every: int,
    seed: int,
    index: int,
    start_frame: int,
    trajectory: Path | None,
    observers: dict[str, Observer] | None = None,
    on_step: StepCallback | None = None,
    velocities: np.ndarray | None = None,
) -> ReplicaResult:
    """One replica. ``velocities`` (Å/fs) replace the Maxwell–Boltzmann draw when given."""
    from ase import units
    from ase.md.langevin import Langevin

    observers = observers or {}
    rng = np.random.default_rng(seed)
    atoms = start_state(atoms, plan, rng, velocities)
    # a calculator-backed model (model/calculator_model.py) makes its own, guarded calculator
    make = getattr(potential, "make_calculator", None)
    atoms.calc = make() if make is not None else EgbenchCalculator(potential)
    dyn = Langevin(
        atoms,
        plan.timestep_fs * units.fs,
        temperature_K=plan.temperature_K,
        friction=plan.friction_per_ps * 1e-3 / units.fs,
        rng=rng,
        fixcm=False,
    )
    res = ReplicaResult(
        index=index,
        seed=seed,
        start_frame=start_frame,
        n_atoms=len(atoms),
        steps_requested=steps,
        trajectory=str(trajectory) if trajectory else "",
    )
    fh = open(trajectory, "w") if trajectory else None
    step_time = 0.0
    try:
        dt = plan.timestep_fs
        try:
            forces = atoms.get_forces()
        except NonFiniteOutputError as exc:
            res.failed_step, res.failure = 0, f"non-finite model output at the start frame: {exc}"
            return _finish(res, observers, 0.0, atoms, dt)
        reason = _check_atoms(observers, 0, 0.0, atoms) or _save(res, fh, atoms, 0, 0.0, forces, observers)
        if reason:
            res.failed_step, res.failure = 0, reason
            return _finish(res, observers, 0.0, atoms, dt)
        for step in range(1, steps + 1):
            t0 = time.perf_counter()
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are checked below
                    forces = dyn.step(forces)
            except NonFiniteOutputError as exc:
                res.failed_step, res.failure = step, f"non-finite at step {step}: {exc}"
                break
            step_time += time.perf_counter() - t0
            res.steps_done = step
            if not np.isfinite(atoms.positions).all():
                res.failed_step, res.failure = step, f"non-finite positions at step {step}"
                break
            reason = _check_atoms(observers, step, step * dt, atoms)
            if not reason and (step % save_every == 0 or step == steps):
                reason = _save(res, fh, atoms, step, step * dt, forces, observers)
            if reason:
                res.failed_step, res.failure = step, reason
                break
            if on_step:
                on_step(index, step, steps)
    finally:
        if fh:
            fh.close()
    return _finish(res, observers, step_time, atoms, plan.timestep_fs)


MD_ENGINES = ("batched", "ase")


def run_md(
    potential,
    start_frames: Frames,
    plan: MDPlan,
    settings: MDSettings,
    out_dir: Path | None,
    make_observers: Callable[[int], dict[str, Observer]] | None = None,
    on_step: StepCallback | None = None,
    engine: str = "ase",
) -> list[ReplicaResult]:
    """All replicas of one cell; replica ``r`` uses seed ``settings.seed * 1000 + r``. ``engine``:
    ``ase`` (one replica at a time through ASE's Langevin, the reference path) or ``batched`` (all
    replicas as one batched graph, :mod:`egbench_core.md.batched`)."""
    if engine == "batched":
        if hasattr(potential, "make_calculator"):
            raise ValueError("a calculator-backed model has no batched MD path: use engine='ase'")
        from egbench_core.md.batched import run_md_batched

        return run_md_batched(potential, start_frames, plan, settings, out_dir, make_observers, on_step)
    if engine != "ase":
        raise ValueError(f"MD engine {engine!r}: expected one of {', '.join(MD_ENGINES)}")
    results = []
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    if plan.start_velocities not in ("maxwell-boltzmann", "reference"):
        raise ValueError(
            f"MDPlan.start_velocities {plan.start_velocities!r}: expected 'maxwell-boltzmann' or 'reference'"
        )
    for r, idx in enumerate(start_indices(len(start_frames), settings.replicas)):
        traj = Path(out_dir) / f"replica-{r}.extxyz" if out_dir is not None else None
        observers = make_observers(r) if make_observers else {}
        v = (
            reference_velocities(start_frames, idx, plan.reference_spacing_fs)
            if plan.start_velocities == "reference"
            else None
        )
        results.append(
            run_replica(
                potential,
                start_frames.to_atoms(idx),
                plan,
                settings.steps,
                settings.save_every,
                settings.seed * 1000 + r,
                r,
                idx,
                traj,
                observers,
                on_step,
                velocities=v,
            )
        )
    return results
