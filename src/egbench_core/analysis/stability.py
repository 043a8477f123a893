"""Stability of an MD replica (METRICS.md, "Stability").

A replica is unstable from the first saved step at which any of these holds:

* a non-finite energy (eV), force (eV/Å) or position (Å);
* bonded pairs (molecules): pairs with d₀ < 1.2·(r_cov,i + r_cov,j) in the starting frame (ASE
  covalent radii) are bonded; failure when one is stretched by more than 0.5 Å (d − d₀ > 0.5 Å);
* bulk (periodic) with a reference g_ref: the RDF averaged over a sliding window of the last
  100 MD steps deviates from g_ref with Wright's factor > 50 % (checked once a full window
  of steps has been seen, so runs shorter than the window never trip it);
* the kinetic temperature exceeds 5× the target (K).

:class:`StabilityMonitor` is an MD observer (``update`` returns the failure reason at the first
failing step); ``finish()`` gives the time to failure in fs (the total time if stable).
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..graph import neighbour_list
from .rdf import RDFResult, bin_edges, frame_rdf, max_rdf_radius
from .structure import wright_factor

log = logging.getLogger(__name__)


def bonded_pairs(positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray, pbc, factor: float = 1.2):
    """Pairs (i < j, unit shift S, d₀ in Å) with d₀ < factor·(r_cov,i + r_cov,j)."""
    from ase.data import covalent_radii

    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    radii = covalent_radii[numbers]
    if len(numbers) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64), np.zeros(0)
    i, j, s = neighbour_list(positions, cell, pbc, factor * 2.0 * float(radii.max()))
    d = np.linalg.norm(positions[j] - positions[i] + s @ cell, axis=1)
    keep = (i < j) & (d < factor * (radii[i] + radii[j]))
    return i[keep], j[keep], s[keep], d[keep]


class StabilityMonitor:
    """MD observer applying the stability criteria above; the first call's frame is the start frame.

    Parameters: ``target_temperature_K`` (None: no temperature check); ``g_ref`` (RDFResult or its
    dict; periodic systems only, None: no RDF check); ``check_bonds`` (None: molecules only);
    ``total_time_fs`` (reported as the time to failure of a stable replica; default: the last
    time seen). Thresholds: ``bond_factor`` 1.2, ``max_stretch`` 0.5 Å, ``temperature_factor`` 5,
    ``rdf_window_steps`` 100 MD steps, ``wf_threshold`` 50 %.
    """

    def __init__(self, target_temperature_K: float | None = None, g_ref: RDFResult | Mapping[str, Any] | None = None,
                 check_bonds: bool | None = None, total_time_fs: float | None = None, bond_factor: float = 1.2,
                 max_stretch: float = 0.5, temperature_factor: float = 5.0, rdf_window_steps: int = 100,
                 wf_threshold: float = 50.0):
        self.target_temperature_K = target_temperature_K
        self.g_ref = g_ref if (g_ref is None or isinstance(g_ref, RDFResult)) else RDFResult.from_dict(g_ref)
        self.check_bonds = check_bonds
        self.total_time_fs = total_time_fs
        self.bond_factor, self.max_stretch = float(bond_factor), float(max_stretch)
        self.temperature_factor = float(temperature_factor)
        self.rdf_window_steps, self.wf_threshold = int(rdf_window_steps), float(wf_threshold)
        self.failed_step: int | None = None
        self.failed_time_fs: float | None = None
        self.reason = ""
        self.last_step: int | None = None
        self.last_time_fs = 0.0
        self._started = False
        self._first_step = 0
        self._bonds = None
        self._edges: np.ndarray | None = None
        self._window: deque = deque()
        self.max_wf = float("nan")

    # -- set-up from the start frame -------------------------------------------------------
    def _start(self, step: int, atoms) -> None:
        self._started, self._first_step = True, int(step)
        periodic = bool(np.asarray(atoms.pbc).any())
        if self.check_bonds if self.check_bonds is not None else not periodic:
            self._bonds = bonded_pairs(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, self.bond_factor)
            log.debug("stability: %d bonded pairs in the start frame", len(self._bonds[0]))
        if periodic and self.g_ref is not None and len(self.g_ref.r):
            r_max = min(self.g_ref.r_max, max_rdf_radius(atoms.cell.array, atoms.pbc))
            self._edges = bin_edges(r_max, self.g_ref.bin_width)

    # -- criteria -----------------------------------------------------------------------------
    def _check_bonds(self, atoms) -> str | None:
        if self._bonds is None or len(self._bonds[0]) == 0:
            return None
        i, j, s, d0 = self._bonds
        pos, cell = atoms.positions, atoms.cell.array
        stretch = np.linalg.norm(pos[j] - pos[i] + s @ cell, axis=1) - d0
        k = int(np.argmax(stretch))
        if stretch[k] > self.max_stretch:
            return (f"bond {int(i[k])}-{int(j[k])} stretched by {stretch[k]:.3f} Å "
                    f"(from {d0[k]:.3f} Å; limit {self.max_stretch} Å)")
        return None

    def _check_temperature(self, atoms) -> str | None:
        if self.target_temperature_K is None:
            return None
        temperature = float(atoms.get_temperature())
        limit = self.temperature_factor * float(self.target_temperature_K)
        if temperature > limit:
            return f"kinetic temperature {temperature:.1f} K above {self.temperature_factor:g}x target ({limit:.1f} K)"
        return None

    def _check_rdf(self, step: int, atoms) -> str | None:
        if self._edges is None:
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
            return f"RDF over the last {self.rdf_window_steps} steps deviates from the reference: WF {wf:.1f} % > {self.wf_threshold:g} %"
        return None

    # -- observer interface ------------------------------------------------------------------
    def update(self, step: int, time_fs: float, atoms, energy: float, forces: np.ndarray) -> str | None:
        if self.failed_step is not None:
            return self.reason
        self.last_step, self.last_time_fs = int(step), float(time_fs)
        reason = None
        if not np.isfinite(energy):
            reason = f"non-finite energy ({energy})"
        elif not np.isfinite(np.asarray(forces, dtype=np.float64)).all():
            reason = "non-finite forces"
        elif not np.isfinite(atoms.positions).all():
            reason = "non-finite positions"
        else:
            if not self._started:
                self._start(step, atoms)
            reason = self._check_bonds(atoms) or self._check_temperature(atoms) or self._check_rdf(step, atoms)
        if reason:
            self.failed_step, self.failed_time_fs, self.reason = int(step), float(time_fs), reason
            log.info("unstable at step %d (%.1f fs): %s", step, time_fs, reason)
        return reason

    def finish(self) -> dict[str, Any]:
        stable = self.failed_step is None
        total = self.total_time_fs if self.total_time_fs is not None else self.last_time_fs
        return {"stable": stable, "time_to_failure_fs": float(total if stable else self.failed_time_fs),
                "failed_step": self.failed_step, "reason": self.reason, "last_time_fs": self.last_time_fs,
                "n_bonds": int(len(self._bonds[0])) if self._bonds is not None else 0, "max_rdf_wf": self.max_wf}


def _failed_step(r: Any):
    return r.get("failed_step") if isinstance(r, Mapping) else getattr(r, "failed_step")


def stable_fraction(results: Sequence[Any]) -> float:
    """Fraction of replicas with ``failed_step`` None (monitor ``finish()`` dicts or ReplicaResult)."""
    if not len(results):
        return float("nan")
    return float(np.mean([_failed_step(r) is None for r in results]))


def survival_curve(times_to_failure: Iterable[float], total_time: float, grid=None,
                   failed: Sequence[bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of replicas still stable at each time of ``grid`` (fs): S(t) = mean(t_fail > t).

    A replica is stable (survives the whole grid) if ``failed`` says so or, without ``failed``,
    if its time to failure is ≥ ``total_time``. ``grid``: times (fs), or a number of evenly
    spaced points over [0, total_time] (default 101).
    """
    t = np.asarray(list(times_to_failure), dtype=np.float64)
    if grid is None or np.isscalar(grid):
        grid = np.linspace(0.0, float(total_time), 101 if grid is None else int(grid))
    grid = np.asarray(grid, dtype=np.float64)
    if len(t) == 0:
        return grid, np.full(len(grid), np.nan)
    is_failed = (t < total_time) if failed is None else np.asarray(failed, dtype=bool)
    alive = (t[None, :] > grid[:, None]) | ~is_failed[None, :]
    return grid, alive.mean(axis=1)
