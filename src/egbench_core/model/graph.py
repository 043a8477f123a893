"""Neighbour lists (vesin) and the ``AtomicGraph`` batch every model consumes.

Convention: edge ``e = (i, j)`` = ``edge_index[:, e]`` joins the centre atom ``i`` to its
neighbour ``j``; its vector is ``r_ij = pos[j] - pos[i] + unit_shifts[e] @ cell[batch[i]]``
(message passing usually aggregates over ``j`` into ``i``).
Lists are full (both ``(i, j)`` and ``(j, i)``). Edge vectors are recomputed in torch from the
positions and the cell so that forces (-dE/dpos) and stress (dE/dstrain) flow through autograd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from egbench_core.data.readers import Frames

MAX_EXTENT_A = 1e4  # a non-periodic structure wider than this has exploded


class ExplodedStructureError(ValueError):
    """Positions no neighbour list can be built for (non-finite, or a molecule blown apart)."""


def neighbour_list(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float):
    """Full neighbour list within ``cutoff`` (Å): ``(i, j, unit_shifts)`` as int64 arrays.

    Periodic directions use the minimum image and as many images as the cutoff needs; a
    molecule (no periodic direction) ignores the cell.
    """
    from vesin import NeighborList

    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if not np.isfinite(positions).all():
        raise ExplodedStructureError("non-finite positions: no neighbour list can be built")
    if not pbc.any() and len(positions) and float(np.ptp(positions, axis=0).max()) > MAX_EXTENT_A:
        # vesin's cell list dies with SIGFPE (the whole process) on a box ~1e6 Å wide
        raise ExplodedStructureError(
            f"the structure spans {float(np.ptp(positions, axis=0).max()):.3g} Å "
            f"(> {MAX_EXTENT_A:g} Å): it has blown apart"
        )
    if pbc.any():
        box = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        if abs(np.linalg.det(box)) < 1e-12:
            raise ValueError("periodic structure with a degenerate cell (zero volume)")
        periodic = pbc.tolist() if not pbc.all() else True
    else:
        box, periodic = np.zeros((3, 3)), False
    nl = NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, s = nl.compute(points=positions, box=box, periodic=periodic, quantities="ijS")
    return i.astype(np.int64), j.astype(np.int64), s.astype(np.int64).reshape(-1, 3)


@dataclass
class AtomicGraph:
    """A batch of B structures with N atoms and E edges in total (torch tensors).

    positions [N,3] Å · atomic_numbers [N] · batch [N] (structure of each atom) · cell [B,3,3] Å ·
    pbc [B,3] · edge_index [2,E] · unit_shifts [E,3] (integer cell images) · n_atoms [B] ·
    species [N]: index of each atom's element in the model's species list (set by core).
    """

    positions: torch.Tensor
    atomic_numbers: torch.Tensor
    batch: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    edge_index: torch.Tensor
    unit_shifts: torch.Tensor
    n_atoms: torch.Tensor
    species: torch.Tensor | None = None

    @property
    def num_graphs(self) -> int:
        return int(self.n_atoms.shape[0])

    @property
    def ptr(self) -> torch.Tensor:
        return torch.cat([self.n_atoms.new_zeros(1), torch.cumsum(self.n_atoms, 0)])

    @property
    def shifts(self) -> torch.Tensor:
        """Cartesian image shifts [E,3] (Å), differentiable w.r.t. ``cell``."""
        edge_graph = self.batch[self.edge_index[0]]
        return torch.einsum("ek,ekl->el", self.unit_shifts.to(self.cell.dtype), self.cell[edge_graph])

    def edge_vectors(self) -> torch.Tensor:
        """r_ij = pos[j] - pos[i] + shift, [E,3] (Å)."""
        i, j = self.edge_index
        return self.positions[j] - self.positions[i] + self.shifts

    def to(self, device=None, dtype: torch.dtype | None = None) -> AtomicGraph:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                v = v.to(device) if device is not None else v
                if dtype is not None and v.is_floating_point():
                    v = v.to(dtype)
            out[f.name] = v
        return AtomicGraph(**out)

    def with_species(self, species: Sequence[int]) -> AtomicGraph:
        """Map atomic numbers onto indices in ``species`` (sorted atomic numbers)."""
        table = torch.full((119,), -1, dtype=torch.long)
        table[torch.as_tensor(list(species), dtype=torch.long)] = torch.arange(len(species))
        idx = table[self.atomic_numbers]
        if (idx < 0).any():
            unknown = sorted(set(self.atomic_numbers[idx < 0].tolist()))
            raise ValueError(f"atomic numbers {unknown} are not among the model's species {list(species)}")
        return replace(self, species=idx)


@dataclass
class GraphParts:
    """One structure's arrays, precomputed once (e.g. for a whole training set)."""

    positions: np.ndarray
    numbers: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    edge_index: np.ndarray
    unit_shifts: np.ndarray


def graph_parts(positions, numbers, cell, pbc, cutoff: float) -> GraphParts:
    i, j, s = neighbour_list(positions, cell, pbc, cutoff)
    return GraphParts(
        np.asarray(positions, np.float64),
        np.asarray(numbers, np.int64),
        np.asarray(cell, np.float64).reshape(3, 3),
        np.asarray(pbc, bool).reshape(3),
        np.stack([i, j]),
        s,
    )


def _frame_parts(frames: Frames, k: int, cutoff: float) -> GraphParts:
    s = frames.atoms_slice(k)
    return graph_parts(frames.positions[s], frames.numbers[s], frames.cell[k], frames.pbc[k], cutoff)


class NeighbourLists:
    """Neighbour lists of frame sets, each built once per frame set and cutoff and then shared: one
    cell's statistics, offset refit and training use the same lists (the same edges in the same
    order as building them again would give). Lists are built lazily, frame by frame.

    A frame set is recognised by identity (the same :class:`Frames` object); the cache holds a
    reference to it, so keep the cache no longer than its frames are needed (one cell).
    """

    def __init__(self) -> None:
        self._sets: dict[tuple[int, float], tuple[Frames, list[GraphParts | None]]] = {}

    def parts(self, frames: Frames, cutoff: float, count: int | None = None) -> list[GraphParts]:
        """The parts of the first ``count`` frames (all: None), building those not built yet."""
        key = (id(frames), float(cutoff))
        entry = self._sets.get(key)
        if entry is None:
            entry = self._sets[key] = (frames, [None] * len(frames))
        built = entry[1]
        n = len(frames) if count is None else min(count, len(frames))
        out: list[GraphParts] = []
        for k in range(n):
            p = built[k]
            if p is None:
                p = built[k] = _frame_parts(frames, k, cutoff)
            out.append(p)
        return out

    @property
    def built(self) -> int:
        """How many frames' lists have been built (over every frame set and cutoff)."""
        return sum(p is not None for _, parts in self._sets.values() for p in parts)


def frames_to_parts(
    frames: Frames, cutoff: float, neighbours: NeighbourLists | None = None, count: int | None = None
) -> list[GraphParts]:
    """The parts of the first ``count`` frames (all: None), from ``neighbours`` when given (built
    there once), else built now."""
    if neighbours is not None:
        return neighbours.parts(frames, cutoff, count)
    n = len(frames) if count is None else min(count, len(frames))
    return [_frame_parts(frames, k, cutoff) for k in range(n)]


def collate(
    parts: Sequence[GraphParts], dtype: torch.dtype = torch.float32, species: Sequence[int] | None = None
) -> AtomicGraph:
    """Batch structures into one :class:`AtomicGraph` (edge indices offset per structure)."""
    n = np.array([len(p.numbers) for p in parts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n)[:-1]])
    g = AtomicGraph(
        positions=torch.from_numpy(np.concatenate([p.positions for p in parts])).to(dtype),
        atomic_numbers=torch.from_numpy(np.concatenate([p.numbers for p in parts])),
        batch=torch.from_numpy(np.repeat(np.arange(len(parts)), n)),
        cell=torch.from_numpy(np.stack([p.cell for p in parts])).to(dtype),
        pbc=torch.from_numpy(np.stack([p.pbc for p in parts])),
        edge_index=torch.from_numpy(np.concatenate([p.edge_index + o for p, o in zip(parts, offsets)], axis=1)),
        unit_shifts=torch.from_numpy(np.concatenate([p.unit_shifts for p in parts])),
        n_atoms=torch.from_numpy(n),
    )
    return g.with_species(species) if species is not None else g


def atoms_to_graph(
    atoms, cutoff: float, dtype: torch.dtype = torch.float32, species: Sequence[int] | None = None
) -> AtomicGraph:
    return collate([graph_parts(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, cutoff)], dtype, species)
