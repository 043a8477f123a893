"""Normalisation statistics from the training split — the same for every model.

* ``e0``: per-element reference energies (eV), chosen as docs/protocol.md ("Reference energies") says:
  the isolated-atom energies the dataset declares, if any; otherwise least squares,
  E_k ≈ Σ_Z n_kZ · E0[Z], when the training compositions determine them; otherwise the
  minimum-norm least-squares solution, which is exact on the training compositions only: energies
  of any composition outside their span are then *not applicable* (:func:`energy_transfer_reason`);
* ``shift``: a per-atom energy (eV/atom) added to every atom, = the mean of (E − ΣE0)/N over the
  training split (the mean interaction energy per atom when E0 are isolated-atom energies; ≈ 0
  for least squares), so the model learns a residual of zero mean;
* ``scale``: RMS of the force components (eV/Å) — the model's output unit is ``scale`` eV;
* ``avg_num_neighbors`` within the model's cutoff (for message normalisation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from egbench_core.data.readers import Frames

if TYPE_CHECKING:
    from egbench_core.model.neighbours import NeighbourLists

E0_ISOLATED = "isolated atoms (declared by the dataset)"
E0_LSTSQ = "least squares"
E0_UNDETERMINED = "least squares, undetermined by the training compositions"


@dataclass(frozen=True)
class DatasetStats:
    species: tuple[int, ...]  # sorted atomic numbers seen in training
    e0: tuple[float, ...]  # eV, aligned with ``species``
    scale: float  # eV (force RMS in eV/Å times 1 Å)
    avg_num_neighbors: float
    residual_rms_per_atom: float  # eV/atom, RMS of (E - ΣE0 - N·shift)/N: what the model must learn
    shift: float = 0.0  # eV/atom added to every atom
    e0_source: str = E0_LSTSQ
    # orthonormal basis (rows, over ``species``) of the training compositions' span when the E0 are
    # undetermined; empty: every composition of these species is determined
    composition_basis: tuple[tuple[float, ...], ...] = ()
    training_formulas: tuple[str, ...] = ()  # distinct training compositions (at most 5), for messages

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DatasetStats:
        return cls(
            tuple(d["species"]),
            tuple(d["e0"]),
            float(d["scale"]),
            float(d["avg_num_neighbors"]),
            float(d["residual_rms_per_atom"]),
            float(d.get("shift", 0.0)),
            d.get("e0_source", E0_LSTSQ),
            tuple(tuple(float(x) for x in row) for row in d.get("composition_basis", ())),
            tuple(d.get("training_formulas", ())),
        )


def composition_matrix(frames: Frames, species: list[int] | tuple[int, ...]) -> np.ndarray:
    """[frames, species] atom counts."""
    col = {z: k for k, z in enumerate(species)}
    counts = np.zeros((len(frames), len(species)))
    frame_of_atom = np.repeat(np.arange(len(frames)), frames.n_atoms)
    np.add.at(counts, (frame_of_atom, np.array([col[int(z)] for z in frames.numbers], dtype=np.int64)), 1)
    return counts


def fit_e0(frames: Frames, species: list[int]) -> np.ndarray:
    """Least-squares per-element energies. Where the training compositions do not determine them
    (one molecule: elements in fixed ratio), this is the minimum-norm solution, exact on the
    training compositions only (see :func:`compute_stats`)."""
    e0, *_ = np.linalg.lstsq(composition_matrix(frames, species), frames.energy, rcond=None)
    return e0


def _formula(counts: np.ndarray, species) -> str:
    from ase.formula import Formula

    return Formula.from_dict({_symbol(z): int(n) for z, n in zip(species, counts) if n}).format("hill")


def _symbol(z: int) -> str:
    from ase.data import chemical_symbols

    return chemical_symbols[int(z)]


# the label of energies from a pretrained model or a calculator whose per-element offsets were
# refitted on the training split (refit_offsets)
ENERGY_MODE = "zero-shot (E0 refit)"


def refit_offsets(frames: Frames, raw_energy: np.ndarray) -> dict[int, float]:
    """Per-element offsets δ[Z] (eV) with ``E_ref ≈ E_raw + Σ_i δ[Z_i]`` on ``frames`` (linear least
    squares; the minimum-norm solution where the compositions leave them undetermined, exact on
    those compositions — the same rule as the trained models' E0, :func:`fit_e0`)."""
    species = frames.elements
    delta, *_ = np.linalg.lstsq(composition_matrix(frames, species), frames.energy - raw_energy, rcond=None)
    return {int(z): float(d) for z, d in zip(species, delta)}


STATS_NEIGHBOUR_FRAMES = 100  # avg_num_neighbors counts the edges of the first 100 training frames


def compute_stats(
    frames: Frames,
    cutoff: float,
    edges_per_frame: list[int] | None = None,
    isolated_atom_energies: dict[int, float] | None = None,
    neighbours: NeighbourLists | None = None,
) -> DatasetStats:
    """The statistics of a training split (module docstring). ``avg_num_neighbors`` counts the
    edges of the first 100 frames, from ``neighbours`` (shared with the trainer: built once) or
    built here; ``edges_per_frame`` gives every frame's count instead."""
    if not frames.has_labels:
        raise ValueError(f"{frames.source}: training frames need energies and forces")
    species = frames.elements
    counts = composition_matrix(frames, species)
    distinct = np.unique(counts, axis=0)
    formulas = tuple(_formula(c, species) for c in distinct[:5])
    basis: tuple[tuple[float, ...], ...] = ()
    if isolated_atom_energies is not None:
        missing = [_symbol(z) for z in species if z not in isolated_atom_energies]
        if missing:
            raise ValueError(f"{frames.source}: the declared isolated-atom energies lack {', '.join(missing)}")
        e0 = np.array([isolated_atom_energies[z] for z in species], dtype=np.float64)
        source = E0_ISOLATED
    else:
        e0 = fit_e0(frames, species)
        rank = int(np.linalg.matrix_rank(distinct))
        if rank == len(species):
            source = E0_LSTSQ
        else:
            source = f"{E0_UNDETERMINED} (they span {rank} of {len(species)} elements)"
            _, _, vt = np.linalg.svd(distinct, full_matrices=False)
            basis = tuple(tuple(float(x) for x in row) for row in vt[:rank])
    per_atom = (frames.energy - counts @ e0) / frames.n_atoms
    shift = float(np.mean(per_atom))
    residual = per_atom - shift
    scale = float(np.sqrt(np.mean(frames.forces**2)))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    if edges_per_frame is None:
        from egbench_core.model.neighbours import frames_to_parts

        edges_per_frame = [
            int(p.edge_index.shape[1])
            for p in frames_to_parts(frames, cutoff, neighbours, count=STATS_NEIGHBOUR_FRAMES)
        ]
        n_atoms = frames.n_atoms[: len(edges_per_frame)]
    else:
        n_atoms = frames.n_atoms
    avg = float(np.sum(edges_per_frame) / np.sum(n_atoms))
    return DatasetStats(
        tuple(species),
        tuple(float(x) for x in e0),
        scale,
        avg,
        float(np.sqrt(np.mean(residual**2))),
        shift,
        source,
        basis,
        formulas,
    )


def energy_transfer_reason(stats: DatasetStats, frames: Frames) -> str | None:
    """None when the model's total energies of ``frames`` are meaningful, else why they are not:
    a composition outside the span of the training compositions while the per-element reference
    energies are undetermined (no isolated-atom energies, one composition in training)."""
    if not stats.composition_basis:
        return None
    if set(frames.elements) - set(stats.species):
        return "not applicable: the frames contain elements the training split lacks"
    basis = np.asarray(stats.composition_basis)
    counts = np.unique(composition_matrix(frames, stats.species), axis=0)
    outside = [
        c for c in counts if np.linalg.norm(c - basis.T @ (basis @ c)) > 1e-8 * max(1.0, float(np.linalg.norm(c)))
    ]
    if not outside:
        return None
    trained = ", ".join(stats.training_formulas)
    return (
        f"not applicable: the training compositions ({trained}) leave the per-element reference energies "
        f"undetermined and the dataset declares no isolated-atom energies, so the energy of "
        f"{_formula(outside[0], stats.species)} is not defined (forces still count)"
    )
