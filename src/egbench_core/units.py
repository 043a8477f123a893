"""Property names, units and shapes: written down once.

egbench uses ASE's vocabulary and units everywhere:

=================  ===========  ===============  ==========================================
property           unit         shape            note
=================  ===========  ===============  ==========================================
``energy``         eV           ``[B]``          total energy of each structure
``forces``         eV/Å         ``[N, 3]``       N = atoms in the batch
``stress``         eV/Å³        ``[B, 3, 3]``    (1/V) dE/dε, ASE sign convention
``positions``      Å            ``[N, 3]``
``cell``           Å            ``[B, 3, 3]``    rows are lattice vectors
time               fs                            MD timestep, trajectory times
temperature        K
=================  ===========  ===============  ==========================================

Tables may print meV and meV/Å; everything stored is in the units above.
"""

from __future__ import annotations

# Conversions *into* egbench units, by the unit names datasets_registry.toml may use.
ENERGY_TO_EV = {
    "eV": 1.0,
    "meV": 1e-3,
    "kcal/mol": 0.04336410390059322,  # ase.units.kcal / ase.units.mol
    "kJ/mol": 0.010364269574711572,  # ase.units.kJ / ase.units.mol
    "Hartree": 27.211386245988,
    "Ry": 13.605693122994,
}
LENGTH_TO_ANGSTROM = {"Å": 1.0, "Angstrom": 1.0, "Bohr": 0.529177210903, "nm": 10.0}


def energy_factor(unit: str) -> float:
    try:
        return ENERGY_TO_EV[unit]
    except KeyError:
        raise ValueError(f"unknown energy unit {unit!r}; expected one of {sorted(ENERGY_TO_EV)}") from None


def length_factor(unit: str) -> float:
    try:
        return LENGTH_TO_ANGSTROM[unit]
    except KeyError:
        raise ValueError(f"unknown length unit {unit!r}; expected one of {sorted(LENGTH_TO_ANGSTROM)}") from None


def force_factor(unit: str) -> float:
    """Factor to eV/Å for a force unit written ``<energy>/<length>``."""
    if "/" not in unit:
        raise ValueError(f"force unit {unit!r} must read <energy>/<length>, e.g. 'eV/Å'")
    energy, length = unit.rsplit("/", 1)
    return energy_factor(energy) / length_factor(length)
