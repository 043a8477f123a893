"""Neighbour lists (vesin) of structures, without torch: the edges every model's graph is built from
(:mod:`egbench_core.model.graph` batches them into tensors), and what the structure and stability
analyses count neighbours with.

Convention: edge ``e = (i, j)`` joins the centre atom ``i`` to its neighbour ``j``; its vector is
``r_ij = pos[j] - pos[i] + unit_shifts[e] @ cell``. Lists are full (both ``(i, j)`` and ``(j, i)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
