"""Normalisation statistics from the training split — the same for every model.

* ``e0``: per-element reference energies (eV) by least squares, E_k ≈ Σ_Z n_kZ · E0[Z];
* ``scale``: RMS of the force components (eV/Å) — the model's output unit is ``scale`` eV;
* ``avg_num_neighbors`` within the model's cutoff (for message normalisation).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .data import Frames


@dataclass(frozen=True)
class DatasetStats:
    species: tuple[int, ...]  # sorted atomic numbers seen in training
    e0: tuple[float, ...]  # eV, aligned with ``species``
    scale: float  # eV (force RMS in eV/Å times 1 Å)
    avg_num_neighbors: float
    residual_rms_per_atom: float  # eV/atom, RMS of (E - ΣE0)/N: what the model must learn

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetStats":
        return cls(tuple(d["species"]), tuple(d["e0"]), float(d["scale"]), float(d["avg_num_neighbors"]),
                   float(d["residual_rms_per_atom"]))


def fit_e0(frames: Frames, species: list[int]) -> np.ndarray:
    """Least-squares per-element energies. Elements that always co-occur in fixed ratio (one
    molecule) are not separately identifiable; lstsq's minimum-norm solution is used then, which
    is harmless: only ΣE0 over a structure enters the energy."""
    counts = np.zeros((len(frames), len(species)))
    col = {z: k for k, z in enumerate(species)}
    for f in range(len(frames)):
        zs, c = np.unique(frames.numbers[frames.atoms_slice(f)], return_counts=True)
        for z, n in zip(zs, c):
            counts[f, col[int(z)]] = n
    e0, *_ = np.linalg.lstsq(counts, frames.energy, rcond=None)
    return e0


def compute_stats(frames: Frames, cutoff: float, edges_per_frame: list[int] | None = None) -> DatasetStats:
    if not frames.has_labels:
        raise ValueError(f"{frames.source}: training frames need energies and forces")
    species = frames.elements
    e0 = fit_e0(frames, species)
    table = dict(zip(species, e0))
    ref = np.array([sum(table[int(z)] for z in frames.numbers[frames.atoms_slice(f)]) for f in range(len(frames))])
    residual = (frames.energy - ref) / frames.n_atoms
    scale = float(np.sqrt(np.mean(frames.forces ** 2)))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    if edges_per_frame is None:
        from .graph import neighbour_list

        edges_per_frame = []
        for f in range(min(len(frames), 100)):
            s = frames.atoms_slice(f)
            edges_per_frame.append(len(neighbour_list(frames.positions[s], frames.cell[f], frames.pbc[f], cutoff)[0]))
        n_atoms = frames.n_atoms[: len(edges_per_frame)]
    else:
        n_atoms = frames.n_atoms
    avg = float(np.sum(edges_per_frame) / np.sum(n_atoms))
    return DatasetStats(tuple(species), tuple(float(x) for x in e0), scale, avg, float(np.sqrt(np.mean(residual ** 2))))
