"""Radial distribution function g(r), streamed frame by frame (docs/metrics.md, "Radial distribution function").

Units: distances Å, number densities Å⁻³, molecular g(r) Å⁻¹.

* Periodic cells: pair distances from :func:`egbench_core.model.graph.neighbour_list` (the models'
  own neighbour list, minimum image plus any further images the radius needs). Per frame
  ``g(r) = n(r) / (N · ρ · V_shell)`` with ``n(r)`` the ordered pairs (i ≠ j) in the shell
  ``[r_lo, r_hi)``, ``ρ = N / V`` and ``V_shell = 4/3·π·(r_hi³ − r_lo³)``. An ideal gas gives
  g ≈ 1 (exactly (N−1)/N).
* Molecules (no periodic direction): the normalised pair-distance histogram
  ``g(r) = n(r) / (N·(N−1)·Δr)``, a probability density over r (Å⁻¹) that integrates to the
  fraction of pairs closer than r_max. The cell never enters.
* Partial g_ab(r) (Z_a ≤ Z_b): ordered pairs with i of species a and j of species b, normalised
  by ``N_a · (N_b/V) · V_shell`` (periodic) or ``N_a · (N_b − δ_ab) · Δr`` (molecules). For
  periodic cells ``g = Σ_ab x_a·x_b·g_ab`` over ordered species pairs (x = mole fractions).

Frames are averaged with equal weight (each frame's g is normalised with its own volume).
Replica averages: :func:`average_rdfs`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from egbench_core.model.neighbours import neighbour_list

log = logging.getLogger(__name__)

DEFAULT_R_MAX = 6.0  # Å
DEFAULT_BIN_WIDTH = 0.05  # Å

PairKey = tuple[int, int]


def max_rdf_radius(cell: np.ndarray, pbc: Sequence[bool] | np.ndarray | None = None) -> float:
    """Half the smallest perpendicular cell height (Å) over the periodic directions.

    The height along lattice vector a_i is ``V / |a_j × a_k|``. ``pbc=None`` means all three
    directions periodic; with no periodic direction the radius is unbounded (``inf``).
    """
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.ones(3, bool) if pbc is None else np.asarray(pbc, dtype=bool).reshape(3)
    if not pbc.any():
        return float("inf")
    volume = abs(np.linalg.det(cell))
    if volume < 1e-12:
        raise ValueError("periodic cell with zero volume")
    cross = np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)  # |a1×a2|, |a2×a0|, |a0×a1|
    heights = volume / cross
    return float(0.5 * heights[pbc].min())


def bin_edges(r_max: float, bin_width: float) -> np.ndarray:
    """Edges ``0, Δr, 2Δr, …`` up to r_max (rounded down to a whole number of bins), Å."""
    n = int(np.floor(r_max / bin_width + 1e-9))
    if n < 1:
        raise ValueError(f"r_max={r_max} Å is smaller than one bin ({bin_width} Å)")
    return np.arange(n + 1, dtype=np.float64) * bin_width


def pair_distances(positions: np.ndarray, cell: np.ndarray, pbc: Sequence[bool] | np.ndarray, r_max: float):
    """Ordered pairs (i, j, d) with i ≠ j (or a periodic image of i) and d < r_max, d in Å."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    if pbc.any():
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        i, j, s = neighbour_list(positions, cell, pbc, r_max)
        d = np.linalg.norm(positions[j] - positions[i] + s @ cell, axis=1)
    else:
        n = len(positions)
        diff = positions[None, :, :] - positions[:, None, :]
        dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        i, j = np.nonzero(~np.eye(n, dtype=bool))
        d = dist[i, j]
    keep = (d < r_max) & (d > 0.0)
    return i[keep], j[keep], d[keep]


def frame_rdf(
    positions: np.ndarray,
    numbers: np.ndarray,
    cell: np.ndarray,
    pbc: Sequence[bool] | np.ndarray,
    edges: np.ndarray,
    partial: bool = False,
) -> tuple[np.ndarray, dict[PairKey, np.ndarray]]:
    """One frame's total g(r) on ``edges`` (Å) and, if ``partial``, g_ab(r) keyed by (Z_a, Z_b), Z_a ≤ Z_b."""
    numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    n_bins, width = len(edges) - 1, float(edges[1] - edges[0])
    n_atoms = len(numbers)
    i, j, d = pair_distances(positions, cell, pbc, float(edges[-1]))
    b = np.minimum((d / width).astype(np.int64), n_bins - 1)
    species, s = np.unique(numbers, return_inverse=True)
    ns = len(species)
    counts = np.bincount((s[i] * ns + s[j]) * n_bins + b, minlength=ns * ns * n_bins).reshape(ns, ns, n_bins)
    n_of = np.bincount(s, minlength=ns).astype(np.float64)
    if pbc.any():
        volume = abs(np.linalg.det(np.asarray(cell, dtype=np.float64).reshape(3, 3)))
        shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
        norm_total = n_atoms * (n_atoms / volume) * shell
        norm_pair = n_of[:, None, None] * (n_of[None, :, None] / volume) * shell[None, None, :]
    else:
        norm_total = np.full(n_bins, n_atoms * (n_atoms - 1.0) * width)
        same = np.eye(ns)[:, :, None]
        norm_pair = n_of[:, None, None] * (n_of[None, :, None] - same) * width * np.ones(n_bins)
    g = _safe_div(counts.sum(axis=(0, 1)).astype(np.float64), norm_total)
    parts: dict[PairKey, np.ndarray] = {}
    if partial:
        g_ab = _safe_div(counts.astype(np.float64), norm_pair)
        for a in range(ns):
            for c in range(a, ns):
                parts[(int(species[a]), int(species[c]))] = g_ab[a, c]
    return g, parts


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.broadcast_arrays(np.asarray(num, np.float64), np.asarray(den, np.float64))
    return np.divide(num, den, out=np.zeros(num.shape), where=den > 0)


def _key_str(key: PairKey) -> str:
    return f"{key[0]}-{key[1]}"


def _key_of(text: str) -> PairKey:
    a, b = text.split("-")
    return int(a), int(b)


@dataclass
class RDFResult:
    """Frame-averaged RDF: bin centres ``r`` (Å), total ``g``, optional partials keyed (Z_a, Z_b).

    ``periodic`` tells the normalisation (True: dimensionless g; False: molecular pair density, Å⁻¹).
    """

    r: np.ndarray
    g: np.ndarray
    partial: dict[PairKey, np.ndarray] = field(default_factory=dict)
    n_frames: int = 0
    bin_width: float = DEFAULT_BIN_WIDTH
    periodic: bool = True

    @property
    def r_max(self) -> float:
        return float(len(self.r) * self.bin_width)

    @property
    def edges(self) -> np.ndarray:
        return np.arange(len(self.r) + 1, dtype=np.float64) * self.bin_width

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (lists); partial keys as ``"Za-Zb"``."""
        return {
            "r": np.asarray(self.r).tolist(),
            "g": np.asarray(self.g).tolist(),
            "partial": {_key_str(k): np.asarray(v).tolist() for k, v in self.partial.items()},
            "n_frames": int(self.n_frames),
            "bin_width": float(self.bin_width),
            "periodic": bool(self.periodic),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RDFResult:
        return cls(
            r=np.asarray(d["r"], np.float64),
            g=np.asarray(d["g"], np.float64),
            partial={_key_of(k): np.asarray(v, np.float64) for k, v in d.get("partial", {}).items()},
            n_frames=int(d.get("n_frames", 0)),
            bin_width=float(d.get("bin_width", DEFAULT_BIN_WIDTH)),
            periodic=bool(d.get("periodic", True)),
        )


class RDFAccumulator:
    """Streaming frame average of g(r): :meth:`add` one frame at a time, :meth:`result` at the end.

    Only running sums are kept (no trajectory). The grid is fixed at the first frame: ``r_max``
    (Å) capped, for periodic cells, at :func:`max_rdf_radius` of that frame's cell
    (``cap_to_cell=False`` keeps r_max: the neighbour list includes all images, so the counts stay
    exact, but beyond the half height one frame sees its own periodic copies).
    """

    def __init__(
        self,
        r_max: float = DEFAULT_R_MAX,
        bin_width: float = DEFAULT_BIN_WIDTH,
        partial: bool = False,
        cap_to_cell: bool = True,
    ):
        if bin_width <= 0 or r_max <= 0:
            raise ValueError("r_max and bin_width must be positive (Å)")
        self.r_max_requested = float(r_max)
        self.bin_width = float(bin_width)
        self.partial = bool(partial)
        self.cap_to_cell = bool(cap_to_cell)
        self.edges: np.ndarray | None = None
        self.periodic: bool | None = None
        self.n_frames = 0
        self._sum: np.ndarray | None = None
        self._psum: dict[PairKey, np.ndarray] = {}
        self._pcount: dict[PairKey, int] = {}
        self._warned = False

    def _setup(self, cell: np.ndarray, pbc: np.ndarray) -> None:
        r_max = self.r_max_requested
        self.periodic = bool(pbc.any())
        if self.periodic and self.cap_to_cell:
            cap = max_rdf_radius(cell, pbc)
            if cap < r_max:
                log.info("RDF r_max capped from %.3f to %.3f Å (half the smallest cell height)", r_max, cap)
                r_max = cap
        self.edges = bin_edges(r_max, self.bin_width)
        self._sum = np.zeros(len(self.edges) - 1)

    def add(
        self, positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray, pbc: Sequence[bool] | np.ndarray
    ) -> None:
        """Add one frame: positions [N,3] Å, atomic numbers [N], cell [3,3] Å (rows), pbc [3]."""
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        if self.edges is None:
            self._setup(cell, pbc)
        elif bool(pbc.any()) != self.periodic:
            raise ValueError("cannot mix periodic and non-periodic frames in one RDF")
        edges, total = self.edges, self._sum
        assert edges is not None and total is not None  # set by _setup
        if self.periodic and not self._warned and max_rdf_radius(cell, pbc) < edges[-1] - 1e-9:
            log.warning("cell shrank below the RDF radius (%.3f Å): counts include periodic self-images", edges[-1])
            self._warned = True
        g, parts = frame_rdf(positions, numbers, cell, pbc, edges, self.partial)
        total += g
        for k, v in parts.items():
            self._psum[k] = self._psum.get(k, 0.0) + v
            self._pcount[k] = self._pcount.get(k, 0) + 1
        self.n_frames += 1

    def add_atoms(self, atoms) -> None:
        """Add an :class:`ase.Atoms` frame."""
        self.add(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc)

    def add_frames(self, frames) -> None:
        """Add every frame of an :class:`egbench_core.data.readers.Frames`."""
        for k in range(len(frames)):
            s = frames.atoms_slice(k)
            self.add(frames.positions[s], frames.numbers[s], frames.cell[k], frames.pbc[k])

    def result(self) -> RDFResult:
        """Frame average; empty arrays and ``n_frames=0`` if nothing was added."""
        if self.edges is None or self._sum is None or self.n_frames == 0:
            return RDFResult(
                r=np.zeros(0),
                g=np.zeros(0),
                n_frames=0,
                bin_width=self.bin_width,
                periodic=bool(self.periodic) if self.periodic is not None else True,
            )
        r = 0.5 * (self.edges[1:] + self.edges[:-1])
        partial = {k: self._psum[k] / self._pcount[k] for k in sorted(self._psum)}
        return RDFResult(
            r=r,
            g=self._sum / self.n_frames,
            partial=partial,
            n_frames=self.n_frames,
            bin_width=self.bin_width,
            periodic=bool(self.periodic),
        )


def rdf_of_frames(
    frames, r_max: float = DEFAULT_R_MAX, bin_width: float = DEFAULT_BIN_WIDTH, partial: bool = False
) -> RDFResult:
    """g(r) averaged over all frames of a :class:`~egbench_core.data.readers.Frames` (e.g. the reference g_ref)."""
    acc = RDFAccumulator(r_max, bin_width, partial)
    acc.add_frames(frames)
    return acc.result()


def average_rdfs(results: Iterable[RDFResult | Mapping[str, Any]]) -> RDFResult:
    """Equal-weight average over replicas of frame-averaged RDFs (RDFResult or its ``to_dict()``).

    Replicas without frames are skipped. Grids must share the bin width; if their lengths differ
    (different caps), the common prefix is kept. Partials are averaged over the replicas having them.
    """
    items = [x if isinstance(x, RDFResult) else RDFResult.from_dict(x) for x in results]
    items = [x for x in items if x.n_frames > 0 and len(x.r) > 0]
    if not items:
        raise ValueError("no RDF with frames to average")
    width = items[0].bin_width
    if any(abs(x.bin_width - width) > 1e-12 for x in items) or len({x.periodic for x in items}) > 1:
        raise ValueError("RDFs to average must share the bin width and the periodic/molecular normalisation")
    n = min(len(x.r) for x in items)
    if any(len(x.r) != n for x in items):
        log.warning("RDF grids differ in length; averaging over the common %d bins", n)
    partial: dict[PairKey, list[np.ndarray]] = {}
    for x in items:
        for k, v in x.partial.items():
            partial.setdefault(k, []).append(np.asarray(v)[:n])
    return RDFResult(
        r=np.asarray(items[0].r)[:n],
        g=np.mean([np.asarray(x.g)[:n] for x in items], axis=0),
        partial={k: np.mean(v, axis=0) for k, v in sorted(partial.items())},
        n_frames=sum(x.n_frames for x in items),
        bin_width=width,
        periodic=items[0].periodic,
    )


def coordination_number(result: RDFResult, r_lo: float, r_hi: float, density: float | None = None) -> float:
    """∫ 4π r² ρ g(r) dr over bin centres in [r_lo, r_hi) (Å); ρ = N/V in Å⁻³ (periodic g only)."""
    if not result.periodic or density is None:
        raise ValueError("coordination numbers need a periodic RDF and the number density ρ (Å⁻³)")
    r = np.asarray(result.r)
    sel = (r >= r_lo) & (r < r_hi)
    return float(np.sum(4.0 * np.pi * r[sel] ** 2 * density * np.asarray(result.g)[sel] * result.bin_width))


class RDFObserver:
    """MD observer: adds every ``every``-th saved frame at ``time_fs ≥ discard_fs`` to an RDF.

    ``update(step, time_fs, atoms, energy, forces)`` never reports a failure (returns None);
    ``finish()`` returns :meth:`RDFResult.to_dict` (lists).
    """

    def __init__(
        self,
        r_max: float = DEFAULT_R_MAX,
        bin_width: float = DEFAULT_BIN_WIDTH,
        partial: bool = False,
        discard_fs: float = 0.0,
        every: int = 1,
    ):
        self.acc = RDFAccumulator(r_max, bin_width, partial)
        self.discard_fs = float(discard_fs)
        self.every = max(int(every), 1)
        self._seen = 0

    def update(self, step: int, time_fs: float, atoms, energy: float, forces: np.ndarray) -> str | None:
        if time_fs >= self.discard_fs:
            if self._seen % self.every == 0:
                self.acc.add_atoms(atoms)
            self._seen += 1
        return None

    def result(self) -> RDFResult:
        return self.acc.result()

    def finish(self) -> dict[str, Any]:
        return self.acc.result().to_dict()
