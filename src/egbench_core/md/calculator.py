"""An ASE ``Calculator`` over any trained egbench potential."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from egbench_core.model.graph import ExplodedStructureError, atoms_to_graph
from egbench_core.model.potential import evaluate


class NonFiniteOutputError(RuntimeError):
    """The model returned NaN/inf, or was asked about non-finite positions (an integrator step
    that blew up): the simulation cannot go on from here — an instability, not a crash."""


class EgbenchCalculator(Calculator):
    """Energy (eV), forces (eV/Å) and, for periodic systems, stress (eV/Å³, Voigt order as ASE)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential: torch.nn.Module, **kw):
        super().__init__(**kw)
        self.potential = potential.eval()
        # attributes every egbench potential has (model/potential.py); torch types them as modules
        self.cutoff = cast(float, potential.cutoff)
        self.dtype = cast(torch.dtype, potential.dtype)
        self.species = cast(Sequence[int], potential.species)
        self.device = next((p.device for p in potential.parameters()), torch.device("cpu"))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        assert atoms is not None  # Calculator.calculate set it
        want_stress = "stress" in properties and bool(atoms.pbc.any())
        if not np.isfinite(atoms.positions).all() or not np.isfinite(atoms.cell.array).all():
            bad = np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))
            raise NonFiniteOutputError(f"non-finite positions (atoms {bad[:5].tolist()}) before the neighbour list")
        try:
            g = atoms_to_graph(atoms, self.cutoff, dtype=self.dtype, species=self.species)
            g = g.to(self.device) if self.device.type != "cpu" else g
        except ExplodedStructureError as exc:  # e.g. a molecule blown apart by the previous step
            raise NonFiniteOutputError(str(exc)) from None
        out = evaluate(self.potential, g, forces=True, stress=want_stress)
        energy = float(out["energy"].detach().cpu()[0])
        forces = out["forces"].detach().to(torch.float64).cpu().numpy()
        if not np.isfinite(energy) or not np.isfinite(forces).all():
            raise NonFiniteOutputError(f"model returned a non-finite energy ({energy}) or forces")
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if want_stress:
            s = out["stress"].detach().to(torch.float64).cpu().numpy()[0]
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
