"""Synthetic datasets generated on the fly with an ASE reference calculator.

``synthetic-emt``: a periodic Cu–Au fcc alloy (32 atoms, 2×2×2 conventional cells) labelled by
ASE's EMT potential, sampled from seeded NVT Langevin dynamics run with EMT itself. EMT is the
dataset's oracle: it can label any frame a model visits, which makes oracle-mode dynamics
metrics exact in tests. Everything is seeded; the same parameters give the same frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from egbench_core.data.readers import Frames

EMT_PARAMS: dict[str, Any] = {
    "lattice": "fcc",
    "a": 3.75,
    "repeat": 2,
    "au_fraction": 0.25,
    "temperature_K": 600.0,
    "timestep_fs": 1.0,
    "friction_per_ps": 2.0,
    "equilibrate_steps": 300,
    "train": 200,
    "val": 40,
    "test": 100,
    "train_every": 10,
    "test_every": 5,
    "seed": 20240101,
}


def emt_oracle():
    from ase.calculators.emt import EMT

    return EMT()


def generate_emt(params: dict | None = None) -> dict[str, Frames]:
    from ase import units
    from ase.build import bulk
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    p = dict(EMT_PARAMS, **(params or {}))
    rng = np.random.default_rng(p["seed"])
    atoms = bulk("Cu", p["lattice"], a=p["a"], cubic=True).repeat(p["repeat"])
    n_au = int(round(p["au_fraction"] * len(atoms)))
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[rng.choice(len(atoms), n_au, replace=False)] = "Au"
    atoms.set_chemical_symbols(symbols.tolist())
    atoms.calc = emt_oracle()
    thermalize_momenta(atoms, temperature_K=p["temperature_K"], rng=rng)
    Stationary(atoms)
    dyn = Langevin(
        atoms,
        p["timestep_fs"] * units.fs,
        temperature_K=p["temperature_K"],
        friction=p["friction_per_ps"] * 1e-3 / units.fs,
        rng=rng,
        fixcm=False,
    )
    dyn.run(p["equilibrate_steps"])

    def sample(n: int, every: int) -> Frames:
        snaps, energies, forces = [], [], []
        for _ in range(n):
            dyn.run(every)
            snaps.append(atoms.copy())
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
        return Frames.from_atoms(snaps, energies, forces, source="synthetic-emt")

    return {
        "train": sample(p["train"], p["train_every"]),
        "val": sample(p["val"], p["train_every"]),
        "test": sample(p["test"], p["test_every"]),
    }
