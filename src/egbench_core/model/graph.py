"""The ``AtomicGraph`` batch every model consumes, from the neighbour lists of
:mod:`egbench_core.model.neighbours` (whose names are importable from here too).

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

from egbench_core.model.neighbours import (  # noqa: F401  - re-exported: plugins import them from here
    MAX_EXTENT_A,
    ExplodedStructureError,
    GraphParts,
    NeighbourLists,
    frames_to_parts,
    graph_parts,
    neighbour_list,
)


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
