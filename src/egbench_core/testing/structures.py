"""Small, deterministic fixture structures for model tests (ASE ``Atoms``, no calculator).

* :func:`molecule` — rattled ethanol (C2H6O, 9 atoms), no cell, no periodicity;
* :func:`periodic_box` — a rattled 4-atom Si/C/O crystal in a small triclinic cell, periodic in
  all three directions. Every lattice vector is shorter than 3.7 Å, so with any cutoff above
  that each atom sees its own periodic images (edges ``i -> i`` with a non-zero shift), which a
  model that ignores ``graph.shifts`` gets wrong.

Both are built from fixed numpy seeds: the same call always gives the same structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MOLECULE_SEED = 20240611
BOX_SEED = 20240612
RATTLE_STDEV = 0.05  # Å

# Lower-triangular, not orthogonal: tests that cell shifts are handled as full vectors.
BOX_CELL = np.array([[3.30, 0.00, 0.00], [0.40, 3.10, 0.00], [-0.30, 0.50, 3.60]])
BOX_FRACTIONAL = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
BOX_NUMBERS = np.array([14, 8, 6, 8])

#: atomic numbers appearing in the fixtures (sorted)
FIXTURE_SPECIES: tuple[int, ...] = (1, 6, 8, 14)


def molecule(species: Sequence[int] | None = None):
    """Rattled ethanol, 9 atoms, non-periodic. ``species`` relabels its elements (see
    :func:`relabel`)."""
    from ase.build import molecule as ase_molecule

    atoms = ase_molecule("CH3CH2OH")
    rng = np.random.default_rng(MOLECULE_SEED)
    atoms.positions = atoms.positions + rng.normal(scale=RATTLE_STDEV, size=atoms.positions.shape)
    atoms.cell = np.zeros((3, 3))
    atoms.pbc = False
    return relabel(atoms, species)


def periodic_box(species: Sequence[int] | None = None):
    """Rattled 4-atom crystal in a small triclinic cell, periodic in 3D. Atoms are placed
    inside the cell; ``species`` relabels its elements (see :func:`relabel`)."""
    from ase import Atoms

    rng = np.random.default_rng(BOX_SEED)
    frac = BOX_FRACTIONAL + rng.normal(scale=RATTLE_STDEV / 3.3, size=BOX_FRACTIONAL.shape)
    atoms = Atoms(numbers=BOX_NUMBERS, scaled_positions=frac % 1.0, cell=BOX_CELL, pbc=True)
    return relabel(atoms, species)


def relabel(atoms, species: Sequence[int] | None):
    """Map the structure's distinct elements (in increasing atomic number) onto ``species``
    (cycling if there are fewer), so a model restricted to some elements can still be tested.
    ``None`` leaves the structure as it is."""
    if species is None:
        return atoms
    species = sorted(int(z) for z in species)
    if not species:
        raise ValueError("species is empty")
    distinct = sorted(set(int(z) for z in atoms.numbers))
    table = {z: species[k % len(species)] for k, z in enumerate(distinct)}
    atoms = atoms.copy()
    atoms.numbers = np.array([table[int(z)] for z in atoms.numbers])
    return atoms


def random_rotation(seed: int = 0) -> np.ndarray:
    """A proper rotation matrix (det +1) drawn from a fixed seed."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def rotated(atoms, rot: np.ndarray):
    """A copy of ``atoms`` rotated by ``rot`` [3, 3] (positions, and the cell of a periodic one)."""
    out = atoms.copy()
    out.positions = atoms.positions @ rot.T
    if np.asarray(atoms.pbc).any():
        out.cell = atoms.cell.array @ rot.T
    return out
