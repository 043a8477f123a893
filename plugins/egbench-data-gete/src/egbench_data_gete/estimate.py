"""Estimating what the GeTe release does not say: the time between frames and the temperature.

The release gives positions, energies and forces, but no time step, frame spacing or temperature.
Both follow from a contiguous reference trajectory:

* **frame spacing** δ: for consecutive frames, x(t+δ) − 2x(t) + x(t−δ) = a(t) δ² + O(δ⁴), with
  a = F/m from the recorded forces. The least-squares slope of the second differences against
  F/m, over all atoms and frames, is δ² (steps taken at the minimum image);
* **temperature**: velocities by central differences, v = (x(t+δ) − x(t−δ)) / 2δ, and the kinetic
  temperature T = Σ m v² / ((3N − 3) k_B), averaged over the frames.

Consecutive frames must really be consecutive: :func:`segments` cuts a trajectory where a step is
far longer than the typical one, and the estimates use the segments only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egbench_core.data.readers import Frames

KB_EV = 8.617333262e-5  # eV/K
ACC = 9.648533212e-3  # (eV/Å)/amu in Å/fs²


def _steps(frames: Frames) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-image steps between consecutive frames [F-1, N, 3] and the masses [N]."""
    from ase.data import atomic_masses

    n = int(frames.n_atoms[0])
    if (frames.n_atoms != n).any():
        raise ValueError("a trajectory must keep the same atoms")
    R = frames.positions.reshape(len(frames), n, 3)
    d = R[1:] - R[:-1]
    if frames.pbc.any():
        inv = np.linalg.inv(frames.cell[1:])
        f = np.einsum("fni,fij->fnj", d, inv)
        f -= np.round(f) * frames.pbc[1:, None, :]
        d = np.einsum("fni,fij->fnj", f, frames.cell[1:])
    return d, atomic_masses[frames.numbers[:n]]


def segments(frames: Frames, factor: float = 4.0) -> list[tuple[int, int]]:
    """Contiguous segments ``[start, stop)``: a new one starts where the RMS step between two
    frames exceeds ``factor`` times the median RMS step."""
    d, _ = _steps(frames)
    rms = np.sqrt((d**2).sum(-1).mean(-1))
    cuts = [i + 1 for i in np.flatnonzero(rms > factor * np.median(rms))]
    bounds = [0, *cuts, len(frames)]
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


@dataclass(frozen=True)
class Estimate:
    frame_spacing_fs: float
    temperature_K: float
    temperature_std_K: float  # spread of the instantaneous kinetic temperature over the frames
    frames_used: int
    segments: tuple[tuple[int, int], ...]


def estimate(frames: Frames, min_segment: int = 10) -> Estimate:
    """Frame spacing and kinetic temperature of a trajectory (see the module doc)."""
    segs = [s for s in segments(frames) if s[1] - s[0] >= min_segment]
    num = den = 0.0
    parts = []
    for a, b in segs:
        sub = frames.subset(np.arange(a, b))
        d, m = _steps(sub)
        acc = sub.forces.reshape(len(sub), -1, 3)[1:-1] / m[None, :, None] * ACC
        sd = d[1:] - d[:-1]
        num += float((sd * acc).sum())
        den += float((acc * acc).sum())
        parts.append((d, m))
    if den == 0.0:
        raise ValueError("no contiguous segment long enough to estimate the frame spacing")
    dt = float(np.sqrt(num / den))
    temps = []
    for d, m in parts:
        v = (d[1:] + d[:-1]) / (2 * dt)
        ke = 0.5 * (m[None, :, None] * v**2).sum((1, 2)) / ACC  # eV
        temps.append(2 * ke / ((3 * len(m) - 3) * KB_EV))
    t = np.concatenate(temps)
    return Estimate(dt, float(t.mean()), float(t.std()), int(sum(b - a for a, b in segs)), tuple(segs))
