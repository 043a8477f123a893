"""Calculator-backed models (docs/guide.md, "Any ASE calculator as a model"): a model that only offers an ASE
calculator is evaluated and simulated through that calculator — its forces are its own — and is
never built or trained.

* :func:`egbench_core.interfaces.calculator_model` makes the
  :class:`~egbench_core.interfaces.ModelSpec` of such a model (a plugin registers it like any other;
  ``ase:module:Class?key=value`` ids become one, see :mod:`egbench_core.model.ase_models`).
* :class:`CalculatorPotential` is what a cell uses in place of a trained potential: the
  calculator's energies plus per-element energy offsets refitted on the training split by linear
  least squares ("zero-shot (E0 refit)"; the calculator's own energies are kept as ``raw``).
  The offsets are a sum over atoms, so forces and MD are those of the calculator itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from egbench_core.data.readers import Frames
from egbench_core.interfaces import ModelSpec
from egbench_core.md.calculator import NonFiniteOutputError
from egbench_core.model.stats import ENERGY_MODE, composition_matrix, refit_offsets  # noqa: F401 - ENERGY_MODE re-exported
from egbench_core.modes import CALCULATOR_BACKED
from egbench_core.records import TrainRecord

log = logging.getLogger(__name__)

NOT_TRAINED = CALCULATOR_BACKED.not_trained


class GuardedCalculator(Calculator):
    """Energy (eV) and forces (eV/Å) of ``inner`` plus ``Σ_i offset[Z_i]`` (eV) on the energy.
    Non-finite positions or results raise :class:`NonFiniteOutputError` (an instability, as for
    every model), anything else the calculator raises propagates (the cell fails with it)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, inner, offsets: Mapping[int, float] | None = None, **kw):
        super().__init__(**kw)
        self.inner = inner
        self.offsets = {int(z): float(e) for z, e in (offsets or {}).items()}

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        assert a is not None, "Calculator.calculate sets self.atoms (a copy of atoms)"
        if not np.isfinite(a.positions).all() or not np.isfinite(a.cell.array).all():
            bad = np.flatnonzero(~np.isfinite(a.positions).all(axis=1))
            raise NonFiniteOutputError(f"non-finite positions (atoms {bad[:5].tolist()})")
        work = a.copy()
        work.calc = self.inner
        raw = float(work.get_potential_energy())
        forces = np.array(work.get_forces(), dtype=np.float64)
        if not np.isfinite(raw) or not np.isfinite(forces).all():
            raise NonFiniteOutputError(f"calculator returned a non-finite energy ({raw}) or forces")
        offset: float = sum(self.offsets.get(int(z), 0.0) for z in a.numbers)
        energy = raw + offset
        self.results = {"energy": energy, "free_energy": energy, "forces": forces, "raw_energy": raw}


def calculator_predict(calc, frames: Frames) -> tuple[np.ndarray, np.ndarray]:
    """The calculator's own energies [F] (eV) and forces [ΣN,3] (eV/Å) on every frame."""
    energies = np.empty(len(frames))
    forces = np.empty((int(frames.n_atoms.sum()), 3))
    for i in range(len(frames)):
        atoms = frames.to_atoms(i)
        atoms.calc = calc
        energies[i] = atoms.get_potential_energy()
        forces[frames.atoms_slice(i)] = atoms.get_forces()
    return energies, forces


class CalculatorPotential:
    """What a cell of a calculator-backed model evaluates and simulates (in place of a trained
    potential): ``make_calculator()`` for MD (the ``ase`` engine), ``predict(frames)`` for static
    errors. ``fit(train)`` refits the energy offsets on the training split."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.offsets: dict[int, float] = {}
        self._static = None

    def make_calculator(self) -> GuardedCalculator:
        return GuardedCalculator(self._new_calculator(), self.offsets)

    def _new_calculator(self):
        make = self.spec.calculator
        if make is None:
            raise ValueError(f"model {self.spec.name} is not calculator-backed")
        return make()

    def fit(self, train: Frames) -> dict[str, Any]:
        raw, _ = calculator_predict(self._calc(), train)
        if not np.isfinite(raw).all():
            raise NonFiniteOutputError(f"{self.spec.name}: non-finite energies on the training split")
        self.offsets = refit_offsets(train, raw)
        resid = (
            train.energy
            - raw
            - composition_matrix(train, sorted(self.offsets))
            @ np.array([self.offsets[z] for z in sorted(self.offsets)])
        )
        info = {
            "energy": ENERGY_MODE,
            "offsets_eV": {str(z): d for z, d in self.offsets.items()},
            "fit_frames": len(train),
            "fit_residual_rms_per_atom_eV": float(np.sqrt(np.mean((resid / train.n_atoms) ** 2))),
        }
        log.info(
            "%s: energy offsets refitted on %d training frames: %s", self.spec.name, len(train), info["offsets_eV"]
        )
        return info

    def predict(self, frames: Frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Energies with the offsets [F] (eV), forces [ΣN,3] (eV/Å), the calculator's raw energies [F] (eV)."""
        species = sorted(self.offsets)
        missing = sorted(set(frames.elements) - set(species))
        if missing:
            raise ValueError(f"{self.spec.name}: no energy offset for atomic numbers {missing} (absent from training)")
        raw, forces = calculator_predict(self._calc(), frames)
        shift = composition_matrix(frames, species) @ np.array([self.offsets[z] for z in species])
        return raw + shift, forces, raw

    def _calc(self):
        if self._static is None:
            self._static = self._new_calculator()
        return self._static


def fit_calculator_model(
    spec: ModelSpec, train: Frames, seed: int
) -> tuple[CalculatorPotential, TrainRecord, dict[str, Any]]:
    """A cell's calculator-backed model, its energy offsets refitted on ``train``; the record says
    it was not trained (its time is the fit's: the calculator on every training frame)."""
    t0 = time.perf_counter()
    pot = CalculatorPotential(spec)
    info = pot.fit(train)
    rec = TrainRecord(
        stop_reason=NOT_TRAINED, total_time_s=time.perf_counter() - t0, seed=seed, time_per_epoch_s=float("nan")
    )
    return pot, rec, info
