"""Batched MD: all replicas of a cell advance together — one batched ``AtomicGraph``, one
forward/backward per step for all of them, on the potential's device.

The integrator is ASE's ``Langevin`` (Vanden-Eijnden & Ciccotti, Eq. 23; ``fixcm=False``)
transcribed onto tensors, with the same constants and the same random numbers: replica ``r`` draws
``xi`` then ``eta`` (``numpy.random.Generator.standard_normal``, shape [atoms, 3]) from its own
generator at every step, exactly as ``ase.md.langevin.Langevin.step`` does with the ``rng`` egbench
gives it. So a replica's trajectory does not depend on which replicas share its batch, and with
zero friction the scheme is velocity Verlet (tested against ASE to 1e-8 Å over 200 steps).

TorchSim is the field's batched engine, but its releases since 0.4 need Python ≥ 3.12 and 0.3.0
(the last for 3.11) draws its Langevin noise from torch's global generator for the whole batch, so
a replica's noise depends on its batch-mates and cannot be checked against ASE's path: hence this
integrator in core.

Neighbour lists: per replica, a vesin list at cutoff + ``skin`` (Verlet buffer), rebuilt only when
an atom of that replica has moved more than ``skin / 2`` since the last build; every step the
candidate pairs are filtered to the cutoff in torch, so the model sees exactly the pairs a fresh
list would give. The rebuild count is stored per replica (``observed["neighbour_rebuilds"]``).

Each replica keeps its observers, its trajectory file and its stability verdict; a replica that
fails (non-finite or exploded positions, non-finite output, an observer's verdict) is frozen and
dropped from the batch while the others go on. Observers with a per-step ``check`` (the stability
monitor) get every step's positions and kinetic temperature: one device→host copy per step for
the whole batch (positions and per-replica kinetic energies together), sliced per replica, in the
order of the ASE path (the step's checks, then its saved frame). ``time_per_step_ms`` of a replica
is its share of the batch's wall time (batch step time / replicas in the batch), so summing over
replicas gives the wall time, and MD ms/step stays "per replica-step" for both engines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from egbench_core.data.readers import Frames
from egbench_core.interfaces import MDPlan
from egbench_core.md.replicas import (
    MDSettings,
    Observer,
    StepCallback,
    _check,
    _finish,
    _save,
    has_check,
    reference_velocities,
    start_indices,
    start_state,
)
from egbench_core.model.neighbours import MAX_EXTENT_A, neighbour_list
from egbench_core.model.potential import evaluate
from egbench_core.records import ReplicaResult

log = logging.getLogger(__name__)

SKIN_A = 1.0  # Verlet buffer (Å)


class _Replica:
    """One replica's host-side state: atoms (for observers and the trajectory), generator, result."""

    # its integrated state while it waits outside a batch (set by _Batch.set_active)
    x: torch.Tensor
    v: torch.Tensor
    f: torch.Tensor | None

    def __init__(
        self,
        index: int,
        seed: int,
        start_frame: int,
        atoms,
        rng: np.random.Generator,
        steps: int,
        trajectory: Path | None,
        observers: dict[str, Observer],
    ):
        self.index, self.seed, self.atoms, self.rng, self.observers = index, seed, atoms, rng, observers
        self.result = ReplicaResult(
            index=index,
            seed=seed,
            start_frame=start_frame,
            n_atoms=len(atoms),
            steps_requested=steps,
            trajectory=str(trajectory) if trajectory else "",
        )
        self.fh = open(trajectory, "w") if trajectory else None
        self.checks = has_check(observers)  # per-step checks wanted
        self.dof = atoms.get_number_of_degrees_of_freedom()
        self.step_time = 0.0
        self.rebuilds = 0
        self.edges: np.ndarray | None = None  # [2, Ec] candidate pairs (local indices) within cutoff + skin
        self.shifts: np.ndarray | None = None  # [Ec, 3] their integer cell images
        self.built_at: torch.Tensor | None = None  # positions at the last build

    def close(self) -> None:
        if self.fh:
            self.fh.close()
            self.fh = None


def run_md_batched(
    potential,
    start_frames: Frames,
    plan: MDPlan,
    settings: MDSettings,
    out_dir: Path | None,
    make_observers: Callable[[int], dict[str, Observer]] | None = None,
    on_step: StepCallback | None = None,
    skin: float = SKIN_A,
) -> list[ReplicaResult]:
    """The replicas of :func:`egbench_core.md.ase_engine.run_md`, integrated as one batch (same seeds, same
    start frames and velocities, same observers and trajectory files)."""
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    replicas = []
    for r, idx in enumerate(start_indices(len(start_frames), settings.replicas)):
        seed = settings.seed * 1000 + r
        v = (
            reference_velocities(start_frames, idx, plan.reference_spacing_fs)
            if plan.start_velocities == "reference"
            else None
        )
        rng = np.random.default_rng(seed)
        atoms = start_state(start_frames.to_atoms(idx), plan, rng, v)  # the draw of the ASE path, same generator
        replicas.append(
            _Replica(
                r,
                seed,
                idx,
                atoms,
                rng,
                settings.steps,
                Path(out_dir) / f"replica-{r}.extxyz" if out_dir is not None else None,
                make_observers(r) if make_observers else {},
            )
        )
    try:
        _Batch(potential, replicas, plan, skin).run(settings.steps, settings.save_every, on_step)
    finally:
        for rep in replicas:
            rep.close()
    return [rep.result for rep in replicas]


class _Batch:
    """The active replicas as concatenated tensors; rebuilt when a replica drops out."""

    # set by set_active
    x: torch.Tensor
    v: torch.Tensor
    offsets: np.ndarray

    def __init__(self, potential, replicas: list[_Replica], plan: MDPlan, skin: float):
        from ase import units

        self.potential, self.plan, self.skin = potential, plan, float(skin)
        self.cutoff = float(potential.cutoff)
        self.device = next((p.device for p in potential.parameters()), torch.device("cpu"))
        self.model_dtype = potential.dtype
        self.dt = plan.timestep_fs * units.fs
        self.fr = plan.friction_per_ps * 1e-3 / units.fs
        self.kT = units.kB * plan.temperature_K
        self.all = replicas
        self.active: list[_Replica] = []
        self.f: torch.Tensor | None = None  # forces of the active replicas (float64, eV/Å)
        self.set_active([r for r in replicas])

    # -- state -------------------------------------------------------------------------------
    def set_active(self, active: list[_Replica]) -> None:
        dev, f64 = self.device, torch.float64
        if self.active:  # keep the integrated state (and current forces) of the survivors
            f = self.f if self.f is not None and self.f.shape[0] == self.x.shape[0] else None
            for k, rep in enumerate(self.active):
                a, b = self.offsets[k], self.offsets[k + 1]
                rep.x, rep.v, rep.f = self.x[a:b], self.v[a:b], (f[a:b] if f is not None else None)
        else:
            for rep in active:
                rep.x = torch.as_tensor(rep.atoms.positions, dtype=f64, device=dev)
                rep.v = torch.as_tensor(rep.atoms.get_velocities(), dtype=f64, device=dev)
                rep.f = None
        self.active = active
        if not active:
            return
        fs = [rep.f for rep in active if rep.f is not None]
        self.f = torch.cat(fs) if len(fs) == len(active) else None
        self.n = [len(rep.atoms) for rep in active]
        self.offsets = np.concatenate([[0], np.cumsum(self.n)])
        self.x = torch.cat([rep.x for rep in active])
        self.v = torch.cat([rep.v for rep in active])
        masses = np.concatenate([rep.atoms.get_masses() for rep in active])
        self.m = torch.as_tensor(masses, dtype=f64, device=dev)[:, None]
        dt, fr = self.dt, self.fr
        sigma = torch.sqrt(2 * self.kT * fr / self.m)
        self.c1 = dt / 2.0 - dt * dt * fr / 8.0
        self.c2 = dt * fr / 2 - dt * dt * fr * fr / 8.0
        self.c3 = np.sqrt(dt) * sigma / 2.0 - dt**1.5 * fr * sigma / 8.0
        self.c5 = dt**1.5 * sigma / (2 * np.sqrt(3))
        self.c4 = fr / 2.0 * self.c5
        numbers = np.concatenate([rep.atoms.numbers for rep in active])
        table = torch.full((119,), -1, dtype=torch.long)
        table[torch.as_tensor(list(self.potential.species), dtype=torch.long)] = torch.arange(
            len(self.potential.species)
        )
        self.numbers = torch.as_tensor(numbers, device=dev)
        self.species = table[torch.as_tensor(numbers)].to(dev)
        if (self.species < 0).any():
            raise ValueError(
                f"atomic numbers {sorted(set(numbers[(table[torch.as_tensor(numbers)] < 0).numpy()]))} "
                f"are not among the model's species {list(self.potential.species)}"
            )
        self.batch = torch.repeat_interleave(torch.arange(len(active), device=dev), torch.as_tensor(self.n, device=dev))
        self.cell = torch.as_tensor(np.stack([rep.atoms.cell.array for rep in active]), dtype=f64, device=dev)
        self.pbc = torch.as_tensor(np.stack([rep.atoms.pbc for rep in active]), device=dev)
        self.n_atoms = torch.as_tensor(self.n, device=dev)
        self._edges_stale = True
        built = [rep.built_at for rep in active if rep.built_at is not None]
        self.built_x = torch.cat(built) if len(built) == len(active) else None

    # -- neighbour lists -----------------------------------------------------------------------
    def _per_replica_max(self, values: torch.Tensor) -> np.ndarray:
        """max over each replica's atoms of a per-atom quantity, with one device→host copy."""
        out = torch.zeros(len(self.active), dtype=values.dtype, device=values.device)
        return out.scatter_reduce(0, self.batch, values, reduce="amax", include_self=False).cpu().numpy()

    def _refresh_lists(self) -> list[tuple[_Replica, str]]:
        """Rebuild the candidate list of each replica that moved more than skin/2; replicas whose
        positions cannot have a list (non-finite, a molecule blown apart) are returned as failed."""
        finite = torch.isfinite(self.x).all(dim=1)
        moved = (
            torch.where(
                finite, (self.x - self.built_x).norm(dim=1), torch.full_like(finite, np.inf, dtype=self.x.dtype)
            )
            if self.built_x is not None
            else torch.full((len(self.x),), np.inf, dtype=self.x.dtype, device=self.device)
        )
        moved_max = self._per_replica_max(moved)
        failed = []
        for k, rep in enumerate(self.active):
            if rep.edges is not None and moved_max[k] <= self.skin / 2:
                continue
            a, b = self.offsets[k], self.offsets[k + 1]
            pos = self.x[a:b].detach().cpu().numpy()
            if not np.isfinite(pos).all():
                failed.append((rep, "non-finite positions"))
                continue
            if not rep.atoms.pbc.any() and float(np.ptp(pos, axis=0).max()) > MAX_EXTENT_A:
                failed.append(
                    (rep, f"the structure spans {float(np.ptp(pos, axis=0).max()):.3g} Å: it has blown apart")
                )
                continue
            i, j, s = neighbour_list(pos, rep.atoms.cell.array, rep.atoms.pbc, self.cutoff + self.skin)
            rep.edges, rep.shifts, rep.built_at = np.stack([i, j]), s, self.x[a:b].clone()
            rep.rebuilds += 1
            self._edges_stale = True
        if self._edges_stale and not failed:
            built = [rep.built_at for rep in self.active if rep.built_at is not None]
            assert len(built) == len(self.active)  # none failed: each replica has a list, built with built_at
            self.built_x = torch.cat(built)
        return failed

    def _graph(self):
        from egbench_core.model.graph import AtomicGraph

        if self._edges_stale:
            dev = self.device
            self.cand = torch.as_tensor(
                np.concatenate([rep.edges + o for rep, o in zip(self.active, self.offsets)], axis=1), device=dev
            )
            self.cand_shifts = torch.as_tensor(np.concatenate([rep.shifts for rep in self.active]), device=dev)
            self._edges_stale = False
        i, j = self.cand
        cell_of_edge = self.cell[self.batch[i]]
        vec = self.x[j] - self.x[i] + torch.einsum("ek,ekl->el", self.cand_shifts.to(torch.float64), cell_of_edge)
        keep = (vec * vec).sum(dim=1) < self.cutoff * self.cutoff
        return AtomicGraph(
            positions=self.x.to(self.model_dtype),
            atomic_numbers=self.numbers,
            batch=self.batch,
            cell=self.cell.to(self.model_dtype),
            pbc=self.pbc,
            edge_index=self.cand[:, keep],
            unit_shifts=self.cand_shifts[keep],
            n_atoms=self.n_atoms,
            species=self.species,
        )

    def _forces(self) -> tuple[np.ndarray, torch.Tensor, list[tuple[_Replica, str]]]:
        """Energies [B] (numpy, eV) and forces [N,3] (float64 tensor, eV/Å) of the active
        replicas, after dropping those that cannot be evaluated."""
        failed = self._refresh_lists()
        if failed:
            return np.zeros(0), torch.zeros(0), failed
        out = evaluate(self.potential, self._graph(), forces=True)
        energy = out["energy"].detach().to(torch.float64).cpu().numpy()
        forces = out["forces"].detach().to(torch.float64)
        bad_f = self._per_replica_max((~torch.isfinite(forces).all(dim=1)).to(torch.float64))
        for k, rep in enumerate(self.active):
            if not np.isfinite(energy[k]) or bad_f[k] > 0:
                failed.append((rep, f"model returned a non-finite energy ({energy[k]}) or forces"))
        if not failed:
            self.f = forces
        return energy, forces, failed

    # -- the loop -------------------------------------------------------------------------------
    def run(self, steps: int, save_every: int, on_step: StepCallback | None) -> None:
        energy, forces, _ = self._evaluate_or_drop(0, "non-finite model output at the start frame")
        if self.active:
            energy, forces = self._check(0, energy, forces)
        if self.active:
            self._save(0, energy, forces)
        for step in range(1, steps + 1):
            if not self.active:
                break
            t0 = time.perf_counter()
            in_batch = list(self.active)
            with np.errstate(over="ignore", invalid="ignore"):
                energy, forces = self._step(step)
            wall = time.perf_counter() - t0
            for rep in in_batch:
                rep.step_time += wall / len(in_batch)
                rep.result.steps_done = step
            if self.active:
                energy, forces = self._check(step, energy, forces)
            if self.active and (step % save_every == 0 or step == steps):
                self._save(step, energy, forces)
            if on_step and self.active:
                on_step(self.active[0].index, step, steps)
        for rep in self.all:
            rep.result.observed["neighbour_rebuilds"] = rep.rebuilds
            _finish(rep.result, rep.observers, rep.step_time, rep.atoms, self.plan.timestep_fs)

    def _evaluate_or_drop(self, step: int, what: str, rnd_vel: torch.Tensor | None = None):
        """Energies, forces (and ``rnd_vel``, following the survivors) of the active replicas; a
        replica that cannot be evaluated is marked failed at ``step`` and dropped."""
        while True:
            energy, forces, failed = self._forces()
            if not failed or not self.active:
                return energy, forces, rnd_vel
            for rep, why in failed:
                rep.result.failed_step, rep.result.failure = step, f"{what}: {why}"
            gone = {id(rep) for rep, _ in failed}
            if rnd_vel is not None:
                keep = torch.cat(
                    [torch.full((n,), id(rep) not in gone, dtype=torch.bool) for rep, n in zip(self.active, self.n)]
                ).to(self.device)
                rnd_vel = rnd_vel[keep]
            self._drop([rep for rep, _ in failed])
            if not self.active:
                return np.zeros(0), torch.zeros(0), rnd_vel

    def _noise(self) -> tuple[torch.Tensor, torch.Tensor]:
        xi, eta = [], []
        for rep in self.active:  # the order of ASE's Langevin.step: xi, then eta
            n = len(rep.atoms)
            xi.append(rep.rng.standard_normal(size=(n, 3)))
            eta.append(rep.rng.standard_normal(size=(n, 3)))
        as_t = lambda a: torch.as_tensor(np.concatenate(a), dtype=torch.float64, device=self.device)  # noqa: E731
        return as_t(xi), as_t(eta)

    def _step(self, step: int):
        """One step of ASE's Langevin for every active replica (replicas that fail are dropped)."""
        xi, eta = self._noise()
        rnd_pos = self.c5 * eta
        rnd_vel = self.c3 * xi - self.c4 * eta
        assert self.f is not None  # forces of the current positions: the last evaluation of the active replicas
        self.v = self.v + (self.c1 * self.f / self.m - self.c2 * self.v + rnd_vel)
        x_old = self.x
        self.x = x_old + self.dt * self.v + rnd_pos
        self.v = (self.x - x_old - rnd_pos) / self.dt
        energy, forces, rnd_vel = self._evaluate_or_drop(step, f"non-finite at step {step}", rnd_vel)
        if self.active:
            self.v = self.v + (self.c1 * forces / self.m - self.c2 * self.v + rnd_vel)
        return energy, forces

    def _check(self, step: int, energy: np.ndarray, forces: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        """The per-step checks of the replicas that want them (one device→host copy for the batch);
        replicas that fail are dropped. Returns the energies and forces of the survivors."""
        from ase import units

        want = [k for k, rep in enumerate(self.active) if rep.checks]
        if not want:
            return energy, forces
        b = len(self.active)
        ke = torch.zeros(b, dtype=torch.float64, device=self.device).index_add(
            0, self.batch, 0.5 * (self.m * self.v * self.v).sum(dim=1)
        )
        host = torch.cat([self.x.detach().reshape(-1), ke]).cpu().numpy()
        x, ke_host = host[:-b].reshape(-1, 3), host[-b:]
        failed = []
        for k in want:
            rep = self.active[k]
            a, e = self.offsets[k], self.offsets[k + 1]
            temperature = 2.0 * float(ke_host[k]) / (rep.dof * units.kB)
            reason = _check(
                rep.observers,
                step,
                step * self.plan.timestep_fs,
                x[a:e],
                rep.atoms.numbers,
                rep.atoms.cell.array,
                rep.atoms.pbc,
                temperature,
            )
            if reason:
                rep.result.failed_step, rep.result.failure = step, reason
                failed.append(rep)
        if not failed:
            return energy, forces
        keep = np.array([rep not in failed for rep in self.active])
        atom_keep = torch.as_tensor(np.repeat(keep, self.n), device=forces.device)
        energy, forces = energy[keep], forces[atom_keep]
        self._drop(failed)
        return energy, forces

    def _drop(self, gone: list[_Replica]) -> None:
        for rep in gone:
            k = self.active.index(rep)
            a, b = self.offsets[k], self.offsets[k + 1]
            self._to_atoms(rep, self.x[a:b], self.v[a:b])
            rep.close()
            if rep.result.failure:
                log.warning("replica %d stopped: %s", rep.index, rep.result.failure)
        self.set_active([rep for rep in self.active if rep not in gone])

    def _to_atoms(self, rep: _Replica, x: torch.Tensor, v: torch.Tensor) -> None:
        rep.atoms.positions = x.detach().cpu().numpy()
        rep.atoms.set_velocities(v.detach().cpu().numpy())

    def _save(self, step: int, energy: np.ndarray, forces: torch.Tensor) -> None:
        from ase.calculators.singlepoint import SinglePointCalculator

        dropped = []
        f_np = forces.cpu().numpy()
        for k, rep in enumerate(self.active):
            a, b = self.offsets[k], self.offsets[k + 1]
            self._to_atoms(rep, self.x[a:b], self.v[a:b])
            rep.atoms.calc = SinglePointCalculator(rep.atoms, energy=float(energy[k]), forces=f_np[a:b])
            reason = _save(rep.result, rep.fh, rep.atoms, step, step * self.plan.timestep_fs, f_np[a:b], rep.observers)
            if reason:
                rep.result.failed_step, rep.result.failure = step, reason
                dropped.append(rep)
        if dropped:
            self._drop(dropped)
