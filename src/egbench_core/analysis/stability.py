"""Stability of an MD replica (docs/metrics.md, "Stability"), criterion version 2.

A replica is unstable from the first MD step at which any of these holds; each failure has a
category and names the atoms involved:

* ``non-finite``: a non-finite energy (eV), force (eV/Å) or position (Å);
* ``fragmentation`` (molecules: no periodic direction): the bond graph — pairs closer than
  1.5·(r_cov,i + r_cov,j), ASE's covalent radii — splits into more connected pieces than it had
  in the start frame. A proton moving from one oxygen to another keeps the graph in one piece
  (not a failure); an atom or a group flying off adds a piece (the atoms split off are named);
* ``collapse``: two atoms closer than 0.5·(r_cov,i + r_cov,j) (molecules and bulk; the pair is
  named);
* ``structure`` (bulk, with a reference g_ref): the RDF averaged over the saved frames of a
  sliding window of the last 100 MD steps deviates from g_ref with Wright's factor > 50 %
  (checked once a full window of steps has been seen, so runs shorter than the window never
  trip it);
* ``temperature``: the kinetic temperature exceeds 5× the target (K).

:class:`StabilityMonitor` is an MD observer with two entry points. ``check(step, time_fs,
positions, numbers, cell, pbc, temperature_K)`` runs at **every** MD step (both engines call it):
non-finite positions, fragmentation, collapse and temperature — cheap (a molecule of 30 atoms:
one vectorised distance evaluation over its 435 pairs, plus a connected-components pass only when
a bond of the start frame's spanning forest broke; bulk: a Verlet list of the pairs near the
collapse distance, rebuilt when an atom moved more than half the skin). ``update(step, time_fs,
atoms, energy, forces)`` runs at the saved frames: non-finite energy or forces, the RDF window,
and the per-step checks of that step if ``check`` was not called for it. Both return the failure
text at the first failing step (and from then on). ``stopped(...)`` tells the monitor that the
MD engine (or another observer) stopped the replica, so its verdict says why; ``finish()`` gives
the verdict: time to failure in fs (the total time if stable), category, atoms, and what was
seen (closest contact relative to the covalent sum, largest number of pieces, largest RDF WF).

:func:`replay` applies the criterion to a reference trajectory (docs/metrics.md, "Calibration").
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from egbench_core.analysis.rdf import RDFResult, bin_edges, frame_rdf, max_rdf_radius
from egbench_core.analysis.structure import wright_factor
from egbench_core.model.neighbours import MAX_EXTENT_A, neighbour_list

log = logging.getLogger(__name__)

CRITERION_VERSION = "2"
CATEGORIES = ("non-finite", "fragmentation", "collapse", "structure", "temperature")
BOND_FACTOR = 1.5  # × sum of covalent radii: bonded
COLLAPSE_FACTOR = 0.5  # × sum of covalent radii: collapsed
TEMPERATURE_FACTOR = 5.0
RDF_WINDOW_STEPS = 100
WF_THRESHOLD = 50.0  # %
SKIN_A = 1.0  # Verlet buffer of the contact list (Å)
DENSE_MAX_ATOMS = 200  # molecules up to this size: all pairs every step, no neighbour list
HUGE_A = 1e150  # coordinates beyond this (Å) overflow squared distances: checked with overflow silenced


def covalent_radii_of(numbers) -> np.ndarray:
    """ASE's covalent radii (Å) of atomic numbers."""
    from ase.data import covalent_radii

    return np.asarray(covalent_radii, dtype=np.float64)[np.asarray(numbers, dtype=np.int64).reshape(-1)]


def bond_pieces(n_atoms: int, i: np.ndarray, j: np.ndarray, weight: np.ndarray | None = None):
    """Connected pieces of the graph on ``n_atoms`` atoms with edges (i, j): ``(labels, n_pieces,
    forest)``, labels numbered 0, 1, … in order of each piece's lowest atom index, and ``forest``
    the indices of the edges of a spanning forest (the lightest edges first when ``weight`` is
    given: Kruskal with union–find)."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    parent = list(range(int(n_atoms)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    order = np.argsort(weight, kind="stable") if weight is not None else range(len(i))
    forest = []
    for k in order:
        a, b = find(int(i[k])), find(int(j[k]))
        if a != b:
            parent[max(a, b)] = min(a, b)
            forest.append(int(k))
    roots = np.array([find(a) for a in range(int(n_atoms))], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64), int(labels.max() + 1) if len(labels) else 0, np.array(forest, dtype=np.int64)


def bond_graph_pieces(
    positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray | None = None, pbc=None, factor: float = BOND_FACTOR
) -> tuple[int, np.ndarray]:
    """Number of connected pieces of the bond graph (pairs closer than ``factor`` × the sum of
    their covalent radii; periodic images through the minimum image and beyond) and each atom's
    piece label."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.zeros(3, bool) if pbc is None else np.asarray(pbc, dtype=bool).reshape(3)
    contacts = _Contacts(numbers, pbc, factor)
    i, j, _, ratio = contacts.pairs(positions, cell)
    labels, n, _ = bond_pieces(len(numbers), i[ratio < factor], j[ratio < factor])
    return n, labels


class _Contacts:
    """The pairs (i < j) of one system whose distance is below ``reach`` × the sum of their covalent
    radii (some beyond, never fewer), with that ratio. Small molecules: all pairs, every time.
    Otherwise a Verlet list at reach × (largest covalent sum) + skin, rebuilt when an atom moved
    more than skin/2 since the last build or the cell changed."""

    def __init__(
        self, numbers: np.ndarray, pbc, reach: float, skin: float = SKIN_A, dense_max_atoms: int = DENSE_MAX_ATOMS
    ):
        self.numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
        self.radii = covalent_radii_of(self.numbers)
        self.pbc = np.asarray(pbc, dtype=bool).reshape(3)
        self.n = len(self.numbers)
        self.skin = float(skin)
        self.cutoff = float(reach) * 2.0 * float(self.radii.max()) if self.n else 0.0
        self.dense = not self.pbc.any() and self.n <= dense_max_atoms
        self.rebuilds = 0
        if self.dense:
            self.i, self.j = (x.astype(np.int64) for x in np.triu_indices(self.n, 1))
            self.s = np.zeros((len(self.i), 3), np.int64)
            self.sums = self.radii[self.i] + self.radii[self.j]
        self._built_x: np.ndarray | None = None
        self._built_cell: np.ndarray | None = None

    def _build(self, x: np.ndarray, cell: np.ndarray) -> None:
        i, j, s = neighbour_list(x, cell, self.pbc, self.cutoff + self.skin)
        keep = i < j  # each pair once (a full list holds (i, j, S) and (j, i, -S)); self-images ignored
        self.i, self.j, self.s = i[keep], j[keep], s[keep]
        self.sums = self.radii[self.i] + self.radii[self.j]
        self._built_x, self._built_cell = x.copy(), cell.copy()
        self.rebuilds += 1

    def pairs(self, x: np.ndarray, cell: np.ndarray):
        """(i, j, unit shifts, d / (r_cov,i + r_cov,j)) at positions ``x`` (finite)."""
        if not self.dense:
            if (
                self._built_x is None
                or self._built_cell is None
                or not np.array_equal(cell, self._built_cell)
                or float(np.abs(x - self._built_x).max(initial=0.0)) > self.skin / 2
            ):
                self._build(x, cell)
        vec = x[self.j] - x[self.i]  # callers keep |x| < HUGE_A or silence overflow (a blown-up frame: inf)
        if self.pbc.any() and len(self.s):
            vec = vec + self.s @ cell
        return self.i, self.j, self.s, np.sqrt(np.einsum("ij,ij->i", vec, vec)) / self.sums

    @property
    def reach(self) -> float:
        """Every pair with d / covalent sum below this is among :meth:`pairs` (inf: all pairs)."""
        return float("inf") if self.dense else self.cutoff / (2.0 * float(self.radii.max()))


class StabilityMonitor:
    """MD observer applying the criterion above; the first frame it sees is the start frame.

    Parameters: ``target_temperature_K`` (None: no temperature check); ``g_ref`` (RDFResult or its
    dict; periodic systems only, None: no RDF check); ``fragmentation`` (None: molecules only);
    ``total_time_fs`` (reported as the time to failure of a stable replica; default: the last time
    seen). Thresholds: ``bond_factor`` 1.5 and ``collapse_factor`` 0.5 (× the sum of covalent
    radii), ``temperature_factor`` 5, ``rdf_window_steps`` 100 MD steps, ``wf_threshold`` 50 %.
    ``contact_factor`` (bulk only; default ``collapse_factor``): how far, in covalent sums, the
    contact list reaches — larger values cost more and only widen what ``closest_contact`` can
    report (the calibration uses 1.5, which also gives the bulk bond graph's pieces).
    """

    def __init__(
        self,
        target_temperature_K: float | None = None,
        g_ref: RDFResult | Mapping[str, Any] | None = None,
        fragmentation: bool | None = None,
        total_time_fs: float | None = None,
        bond_factor: float = BOND_FACTOR,
        collapse_factor: float = COLLAPSE_FACTOR,
        temperature_factor: float = TEMPERATURE_FACTOR,
        rdf_window_steps: int = RDF_WINDOW_STEPS,
        wf_threshold: float = WF_THRESHOLD,
        contact_factor: float | None = None,
        skin: float = SKIN_A,
        dense_max_atoms: int = DENSE_MAX_ATOMS,
    ):
        self.target_temperature_K = target_temperature_K
        self.g_ref = g_ref if (g_ref is None or isinstance(g_ref, RDFResult)) else RDFResult.from_dict(g_ref)
        self.fragmentation = fragmentation
        self.total_time_fs = total_time_fs
        self.bond_factor, self.collapse_factor = float(bond_factor), float(collapse_factor)
        self.temperature_factor = float(temperature_factor)
        self.rdf_window_steps, self.wf_threshold = int(rdf_window_steps), float(wf_threshold)
        self.contact_factor = None if contact_factor is None else float(contact_factor)
        self.skin, self.dense_max_atoms = float(skin), int(dense_max_atoms)
        self.failed_step: int | None = None
        self.failed_time_fs: float | None = None
        self.reason = ""
        self.category = ""
        self.atoms: list[int] = []
        self.last_time_fs = 0.0
        self.steps_checked = 0
        self._started = False
        self._first_step = 0
        self._checked_step: int | None = None
        self._contacts: _Contacts | None = None
        self._numbers: np.ndarray | None = None
        self._frag = False
        self._pieces_start = 0
        self._start_labels: np.ndarray | None = None
        self._n_bonds_start = 0
        self._forest: tuple[np.ndarray, ...] | None = None  # (i, j, shifts) of a spanning forest of the bond graph
        self._forest_idx: np.ndarray | None = None  # the same as indices into the (fixed) all-pairs list
        self.max_pieces = 0
        self.closest: tuple[float, int | None, list[int]] = (
            float("inf"),
            None,
            [],
        )  # (d / covalent sum, step, [i, j]) among the pairs examined
        self._edges: np.ndarray | None = None
        self._window: deque = deque()
        self.max_wf = float("nan")

    # the state the start frame sets up (``_start``): every check runs after it
    @property
    def _c(self) -> _Contacts:
        assert self._contacts is not None, "stability monitor used before its start frame"
        return self._contacts

    @property
    def _z(self) -> np.ndarray:
        assert self._numbers is not None, "stability monitor used before its start frame"
        return self._numbers

    @property
    def _labels(self) -> np.ndarray:
        assert self._start_labels is not None, "stability monitor used before its start frame"
        return self._start_labels

    # -- set-up from the start frame -------------------------------------------------------
    def _start(self, step: int, positions: np.ndarray, numbers, cell: np.ndarray, pbc) -> None:
        self._started, self._first_step = True, int(step)
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        periodic = bool(pbc.any())
        self._numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
        self._frag = self.fragmentation if self.fragmentation is not None else not periodic
        reach = self.bond_factor if self._frag else (self.contact_factor or self.collapse_factor)
        self._contacts = _Contacts(
            self._numbers, pbc, max(reach, self.collapse_factor), self.skin, self.dense_max_atoms
        )
        if self._frag:
            i, j, s, ratio = self._c.pairs(positions, cell)
            bonded = ratio < self.bond_factor
            labels, pieces, forest = bond_pieces(len(self._z), i[bonded], j[bonded], ratio[bonded])
            self._start_labels, self._pieces_start, self.max_pieces = labels, pieces, pieces
            self._n_bonds_start = int(bonded.sum())
            self._set_forest(i, j, s, np.flatnonzero(bonded)[forest])
            log.debug("stability: start frame has %d bonds in %d piece(s)", self._n_bonds_start, pieces)
        if periodic and self.g_ref is not None and len(self.g_ref.r):
            r_max = min(self.g_ref.r_max, max_rdf_radius(cell, pbc))
            self._edges = bin_edges(r_max, self.g_ref.bin_width)

    # -- criteria ---------------------------------------------------------------------------
    def _fail(self, step: int, time_fs: float, category: str, atoms, text: str) -> str:
        self.failed_step, self.failed_time_fs = int(step), float(time_fs)
        self.category, self.atoms, self.reason = category, sorted(int(a) for a in atoms), f"{category}: {text}"
        log.info("unstable at step %d (%.1f fs): %s", step, time_fs, self.reason)
        return self.reason

    def _element(self, a: int) -> str:
        from ase.data import chemical_symbols

        return f"{chemical_symbols[int(self._z[a])]}{a}"

    def _geometry(self, step: int, positions: np.ndarray, cell: np.ndarray) -> tuple[str, list[int], str] | None:
        """Fragmentation or collapse at these (finite) positions: (category, atoms, text) or None."""
        i, j, s, ratio = self._c.pairs(positions, cell)
        if len(ratio):
            k = int(np.argmin(ratio))
            if ratio[k] < self.closest[0]:
                self.closest = (float(ratio[k]), int(step), [int(i[k]), int(j[k])])
        else:
            k = -1
        frag = self._fragmentation(positions, cell, i, j, s, ratio) if self._frag else None
        if frag:
            return frag
        if k >= 0 and ratio[k] < self.collapse_factor:
            a, b = int(i[k]), int(j[k])
            s = self._c.radii[a] + self._c.radii[b]
            return (
                "collapse",
                [a, b],
                f"atoms {self._element(a)} and {self._element(b)} are {ratio[k] * s:.3f} Å "
                f"apart, {ratio[k]:.3f}x the sum of their covalent radii ({s:.3f} Å; limit "
                f"{self.collapse_factor:g}x)",
            )
        return None

    def _set_forest(self, i, j, s, idx: np.ndarray) -> None:
        """A spanning forest of the bond graph (``idx`` into the pairs): while all its edges stay
        bonds, the graph has no more pieces than now, and nothing else needs computing."""
        self._forest = (i[idx], j[idx], s[idx])
        self._forest_idx = idx if self._c.dense else None

    def _forest_holds(self, positions, cell, ratio) -> bool:
        if self._forest_idx is not None:  # all pairs, in a fixed order
            return bool((ratio[self._forest_idx] < self.bond_factor).all())
        assert self._forest is not None  # set with the start frame's bonds
        fi, fj, fs = self._forest
        if not len(fi):
            return True
        with np.errstate(over="ignore", invalid="ignore"):
            vec = positions[fj] - positions[fi] + (fs @ cell if self._c.pbc.any() else 0.0)
            d = np.sqrt((vec * vec).sum(axis=1))
        return bool((d < self.bond_factor * (self._c.radii[fi] + self._c.radii[fj])).all())

    def _fragmentation(self, positions, cell, i, j, s, ratio) -> tuple[str, list[int], str] | None:
        if self._forest_holds(positions, cell, ratio):
            return None  # no more pieces than when the forest was built (≤ the start's)
        bonded = ratio < self.bond_factor
        labels, pieces, forest = bond_pieces(len(self._z), i[bonded], j[bonded], ratio[bonded])
        self.max_pieces = max(self.max_pieces, pieces)
        if pieces <= self._pieces_start:
            self._set_forest(i, j, s, np.flatnonzero(bonded)[forest])  # e.g. a proton now on the other oxygen
            return None
        # the atoms split off: within each start piece now in several, all but its largest part
        split_off: list[int] = []
        for p in np.unique(self._labels):
            members = np.flatnonzero(self._labels == p)
            now, counts = np.unique(labels[members], return_counts=True)
            if len(now) > 1:
                keep = now[int(np.argmax(counts))]
                split_off += members[labels[members] != keep].tolist()
        d_now = ratio * self._c.sums
        broken = ""
        cand = [
            (r, a, b, dn)
            for r, a, b, dn in zip(ratio, i, j, d_now)
            if labels[a] != labels[b] and self._labels[a] == self._labels[b]
        ]
        if cand:
            r, a, b, dn = min(cand)
            broken = (
                f"; closest broken pair {self._element(a)}-{self._element(b)} at {dn:.3f} Å "
                f"({r:.3f}x the covalent sum; bonded below {self.bond_factor:g}x)"
            )
        names = ", ".join(self._element(a) for a in split_off[:12]) + (" ..." if len(split_off) > 12 else "")
        return (
            "fragmentation",
            split_off,
            f"the bond graph split into {pieces} pieces ({self._pieces_start} in the "
            f"start frame): atoms {names} split off{broken}",
        )

    def _check_temperature(self, temperature_K) -> str | None:
        if self.target_temperature_K is None or temperature_K is None:
            return None
        limit = self.temperature_factor * float(self.target_temperature_K)
        if float(temperature_K) > limit:
            return (
                f"kinetic temperature {float(temperature_K):.1f} K above {self.temperature_factor:g}x the target "
                f"({limit:.1f} K)"
            )
        return None

    def _check_rdf(self, step: int, atoms) -> str | None:
        if self._edges is None or self.g_ref is None:  # edges are set only with a g_ref
            return None
        g, _ = frame_rdf(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, self._edges)
        self._window.append((int(step), g))
        while self._window and self._window[0][0] <= step - self.rdf_window_steps:
            self._window.popleft()
        if step - self._first_step < self.rdf_window_steps - 1:
            return None
        g_win = np.mean([x[1] for x in self._window], axis=0)
        n = min(len(g_win), len(self.g_ref.g))
        wf = wright_factor(g_win[:n], np.asarray(self.g_ref.g)[:n])
        self.max_wf = wf if not np.isfinite(self.max_wf) else max(self.max_wf, wf)
        if wf > self.wf_threshold:
            return (
                f"the RDF over the last {self.rdf_window_steps} steps deviates from the reference: WF {wf:.1f} % > "
                f"{self.wf_threshold:g} %"
            )
        return None

    # -- observer interface ------------------------------------------------------------------
    def check(
        self, step: int, time_fs: float, positions: np.ndarray, numbers, cell, pbc, temperature_K: float | None = None
    ) -> str | None:
        """The per-step checks (non-finite positions, fragmentation, collapse, temperature)."""
        if self.failed_step is not None:
            return self.reason
        self.last_time_fs, self._checked_step = float(time_fs), int(step)
        self.steps_checked += 1
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        if not np.abs(positions).max(initial=0.0) < HUGE_A:  # NaN/inf (or squares that overflow): the slow road
            bad = ~np.isfinite(positions).all(axis=1)
            if bad.any():
                return self._fail(step, time_fs, "non-finite", np.flatnonzero(bad), "non-finite positions")
            if not self._started:
                self._start(step, positions, numbers, cell, pbc)
            with np.errstate(over="ignore", invalid="ignore"):
                geometric = self._geometry(step, positions, cell)
        else:
            if not self._started:
                self._start(step, positions, numbers, cell, pbc)
            geometric = self._geometry(step, positions, cell)
        if geometric:
            return self._fail(step, time_fs, geometric[0], geometric[1], geometric[2])
        text = self._check_temperature(temperature_K)
        return self._fail(step, time_fs, "temperature", [], text) if text else None

    def update(self, step: int, time_fs: float, atoms, energy: float, forces: np.ndarray) -> str | None:
        """The checks of a saved frame (non-finite energy or forces, the RDF window), and the
        per-step checks of this step unless :meth:`check` already ran them."""
        if self.failed_step is not None:
            return self.reason
        self.last_time_fs = float(time_fs)
        if not np.isfinite(energy):
            return self._fail(step, time_fs, "non-finite", [], f"non-finite energy ({energy})")
        bad = ~np.isfinite(np.asarray(forces, dtype=np.float64).reshape(-1, 3)).all(axis=1)
        if bad.any():
            return self._fail(step, time_fs, "non-finite", np.flatnonzero(bad), "non-finite forces")
        if self._checked_step != int(step):
            temperature = atoms.get_temperature() if self.target_temperature_K is not None else None
            reason = self.check(step, time_fs, atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, temperature)
            if reason:
                return reason
        text = self._check_rdf(int(step), atoms)
        return self._fail(step, time_fs, "structure", [], text) if text else None

    def stopped(self, step: int, time_fs: float, reason: str, source: str = "engine", atoms=None) -> None:
        """The replica was stopped at ``step`` by ``source`` (the MD engine: a non-finite model output
        or position, or a structure blown apart; or another observer). Unless this monitor failed
        first, the verdict becomes: a fragmentation or collapse if the positions at that step show
        one, else ``non-finite`` (engine; the atoms with non-finite positions, if any) or ``other``."""
        if self.failed_step is not None:
            return
        involved: list[int] | np.ndarray = []
        category, text = ("non-finite" if source == "engine" else "other"), reason
        if atoms is not None:
            pos = np.asarray(atoms.positions, dtype=np.float64)
            bad = ~np.isfinite(pos).all(axis=1)
            if bad.any():
                category, involved = "non-finite", np.flatnonzero(bad)
            elif self._started and (self._c.dense or float(np.abs(pos).max(initial=0.0)) < MAX_EXTENT_A):
                try:
                    with np.errstate(over="ignore", invalid="ignore"):
                        geometric = self._geometry(step, pos, np.asarray(atoms.cell.array, dtype=np.float64))
                except Exception as exc:  # noqa: BLE001 - a neighbour list refusing wild positions
                    log.debug("stability: no geometric verdict on the stopped frame: %s", exc)
                    geometric = None
                if geometric:
                    category, involved = geometric[0], geometric[1]
                    text = f"{reason} ({geometric[2]})"
        self.failed_step, self.failed_time_fs = int(step), float(time_fs)
        self.category, self.atoms = category, sorted(int(a) for a in involved)
        self.reason = f"{category}: {text}"
        self.last_time_fs = float(time_fs)

    def finish(self) -> dict[str, Any]:
        stable = self.failed_step is None
        total = self.total_time_fs if self.total_time_fs is not None else self.last_time_fs
        ratio, at, pair = self.closest
        reach = self._contacts.reach if self._contacts is not None else 0.0
        if not ratio < reach:  # beyond the contact list: only a bound is known
            ratio, at, pair = float("inf"), None, []
        return {
            "stable": stable,
            "time_to_failure_fs": float(total if stable or self.failed_time_fs is None else self.failed_time_fs),
            "failed_step": self.failed_step,
            "reason": self.reason,
            "category": self.category,
            "atoms": list(self.atoms),
            "last_time_fs": self.last_time_fs,
            "steps_checked": self.steps_checked,
            "fragmentation_checked": bool(self._frag),
            "n_bonds": self._n_bonds_start,
            "pieces_start": self._pieces_start if self._frag else None,
            "max_pieces": self.max_pieces if self._frag else None,
            "closest_contact": ratio if np.isfinite(ratio) else None,
            "closest_contact_step": at,
            "closest_contact_atoms": pair,
            "contact_reach": reach,
            "max_rdf_wf": self.max_wf,
            "contact_rebuilds": self._contacts.rebuilds if self._contacts is not None else 0,
            "criterion": CRITERION_VERSION,
        }


# The molecular reference trajectories the criterion is calibrated on (docs/metrics.md, "Stability"):
# (dataset id, split, frame spacing in fs; None: 1 fs, the split is not time-ordered at a known
# spacing). tests/md/test_stability_calibration.py and benchmarks/stability_calibration.py replay them.
CALIBRATION_MOLECULES: tuple[tuple[str, str, float | None], ...] = (
    ("acac", "test", None),
    ("acac", "test-600k", None),
    ("md17-aspirin", "test", 0.5),
    ("md17-ethanol", "test", 0.5),
    ("md17-naphthalene", "test", 0.5),
    ("md17-salicylic-acid", "test", 0.5),
    ("3bpa", "test", None),
)


def replay(
    frames,
    g_ref: RDFResult | Mapping[str, Any] | None = None,
    spacing_fs: float = 1.0,
    save_every: int = 1,
    **monitor_kw,
) -> dict[str, Any]:
    """The criterion applied to a reference trajectory (``Frames`` of one system, in order): frame
    ``k`` is MD step ``k`` at ``k × spacing_fs``; ``check`` runs on every frame, ``update`` (the
    non-finite labels and the RDF window) on every ``save_every``-th frame and the last. No
    temperature check: reference frames carry no velocities. Returns the monitor's ``finish()``
    with ``frames`` added."""
    from ase import Atoms

    n = int(frames.n_atoms[0])
    if (np.asarray(frames.n_atoms) != n).any():
        counts = sorted(set(frames.n_atoms.tolist()))
        raise ValueError(f"{frames.source}: replay needs frames of one system (atom counts {counts})")
    numbers = frames.numbers[:n]
    if (frames.numbers.reshape(len(frames), n) != numbers).any():
        raise ValueError(f"{frames.source}: replay needs frames of one system (the atoms differ between frames)")
    pos = frames.positions.reshape(len(frames), n, 3)
    labelled = frames.has_labels
    forces = frames.forces.reshape(len(frames), n, 3) if labelled else np.zeros((len(frames), n, 3))
    energy = frames.energy if labelled else np.zeros(len(frames))
    mon = StabilityMonitor(
        target_temperature_K=None, g_ref=g_ref, total_time_fs=(len(frames) - 1) * spacing_fs, **monitor_kw
    )
    for k in range(len(frames)):
        t = k * spacing_fs
        if mon.check(k, t, pos[k], numbers, frames.cell[k], frames.pbc[k]):
            break
        if k % save_every == 0 or k == len(frames) - 1:
            atoms = Atoms(numbers=numbers, positions=pos[k], cell=frames.cell[k], pbc=frames.pbc[k])
            if mon.update(k, t, atoms, float(energy[k]), forces[k]):
                break
    out = mon.finish()
    out["frames"] = len(frames)
    return out


def _failed_step(r: Any):
    return r.get("failed_step") if isinstance(r, Mapping) else r.failed_step


def stable_fraction(results: Sequence[Any]) -> float:
    """Fraction of replicas with ``failed_step`` None (monitor ``finish()`` dicts or ReplicaResult)."""
    if not len(results):
        return float("nan")
    return float(np.mean([_failed_step(r) is None for r in results]))


def survival_curve(
    times_to_failure: Iterable[float], total_time: float, grid=None, failed: Sequence[bool] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of replicas still stable at each time of ``grid`` (fs): S(t) = mean(t_fail > t).

    A replica is stable (survives the whole grid) if ``failed`` says so or, without ``failed``,
    if its time to failure is ≥ ``total_time``. ``grid``: times (fs), or a number of evenly
    spaced points over [0, total_time] (default 101).
    """
    t = np.asarray(list(times_to_failure), dtype=np.float64)
    if grid is None or np.isscalar(grid):
        grid = np.linspace(0.0, float(total_time), 101 if grid is None else int(grid))  # type: ignore[arg-type]
    grid = np.asarray(grid, dtype=np.float64)
    if len(t) == 0:
        return grid, np.full(len(grid), np.nan)
    is_failed = (t < total_time) if failed is None else np.asarray(failed, dtype=bool)
    alive = (t[None, :] > grid[:, None]) | ~is_failed[None, :]
    return grid, alive.mean(axis=1)
