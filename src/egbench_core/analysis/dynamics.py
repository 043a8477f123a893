"""Energy and force violation along a model trajectory (docs/metrics.md, "Energy and force violation").

Per saved frame t, with Ê, F̂ the model's and E, F the reference's energy (eV) and forces (eV/Å):

    EV(t) = (Ê − E)² / (Ê² + E²)            FV(t) = ‖F̂ − F‖₂ / (‖F̂‖₂ + ‖F‖₂)

(‖·‖₂ over all force components of all atoms of the frame); 0/0 counts as 0. FV lies in [0, 1].
EV lies in [0, 1] when Ê and E have the same sign (the usual case: both total energies negative)
but reaches 2 for Ê = −E, since (a − b)² ≤ 2(a² + b²); the specification's "[0, 1]" holds for FV only (docs/metrics.md).
A trajectory's score is the geometric mean over frames (floor 1e-12 inside the log); replicas
are summarised by mean ± std of their geometric means.

Two sources for the reference, and results carry which one was used (``mode``):

* ``oracle``: :class:`OracleObserver` evaluates a reference ASE calculator on the model's own
  frames during MD (meaningful: how wrong the model is where it actually goes).
* ``aligned``: :func:`aligned_series` compares the model frame at time t with a contiguous
  reference trajectory's frame at the same physical time (the paper's setting). Chaos
  decorrelates the trajectories within a few hundred fs, after which FV tends to √2/2 ≈ 0.707
  for uncorrelated forces of similar size: this mostly measures decorrelation, not accuracy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

GEOMETRIC_FLOOR = 1e-12


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.shape(num)), where=den > 0)


def energy_violation(e_model, e_ref):
    """EV per frame: (Ê − E)² / (Ê² + E²), in [0, 2] (≤ 1 for same-sign energies).

    Energies in eV (scalars or arrays [T]); a float for scalars.
    """
    em, er = np.asarray(e_model, dtype=np.float64), np.asarray(e_ref, dtype=np.float64)
    out = _ratio((em - er) ** 2, em**2 + er**2)
    out = np.where(np.isfinite(em) & np.isfinite(er), out, np.nan)
    return float(out) if out.ndim == 0 else out


def force_violation(f_model, f_ref):
    """FV per frame: ‖F̂ − F‖₂ / (‖F̂‖₂ + ‖F‖₂), norms over all atoms' components (eV/Å).

    One frame [N,3] gives a float; a series [T,N,3] gives an array [T].
    """
    fm, fr = np.asarray(f_model, dtype=np.float64), np.asarray(f_ref, dtype=np.float64)
    if fm.shape != fr.shape:
        raise ValueError(f"force arrays differ in shape: {fm.shape} vs {fr.shape}")
    single = fm.ndim <= 2
    if single:
        fm, fr = fm.reshape(1, -1), fr.reshape(1, -1)
    else:
        fm, fr = fm.reshape(len(fm), -1), fr.reshape(len(fr), -1)
    num = np.linalg.norm(fm - fr, axis=1)
    out = _ratio(num, np.linalg.norm(fm, axis=1) + np.linalg.norm(fr, axis=1))
    out = np.where(np.isfinite(num), out, np.nan)
    return float(out[0]) if single else out


def geometric_mean(x, floor: float = GEOMETRIC_FLOOR) -> float:
    """exp(mean(log(max(x, floor)))); NaN if ``x`` is empty or holds a NaN."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if len(x) == 0 or np.isnan(x).any():
        return float("nan")
    return float(np.exp(np.mean(np.log(np.maximum(x, floor)))))


def aggregate_replicas(
    per_replica: Iterable[Sequence[float] | np.ndarray], floor: float = GEOMETRIC_FLOOR, ddof: int = 0
) -> dict[str, Any]:
    """Mean ± std (``ddof``) over replicas of each replica's geometric mean of its series.

    Replicas with no (or NaN) values are left out and counted in ``n_skipped``.
    """
    gms = np.array([geometric_mean(s, floor) for s in per_replica], dtype=np.float64)
    ok = gms[np.isfinite(gms)]
    return {
        "mean": float(ok.mean()) if len(ok) else float("nan"),
        "std": float(ok.std(ddof=ddof)) if len(ok) > ddof else float("nan"),
        "n": int(len(ok)),
        "n_skipped": int(len(gms) - len(ok)),
        "per_replica": gms.tolist(),
    }


@dataclass
class ViolationSeries:
    """EV(t), FV(t) of one replica; ``mode`` is ``"oracle"`` or ``"aligned"``; times in fs."""

    mode: str
    time_fs: np.ndarray
    ev: np.ndarray
    fv: np.ndarray
    ref_index: np.ndarray | None = None  # aligned: index of the reference frame used
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self, floor: float = GEOMETRIC_FLOOR) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "n_frames": int(len(self.ev)),
            "ev_gmean": geometric_mean(self.ev, floor),
            "fv_gmean": geometric_mean(self.fv, floor),
        }

    def to_dict(self) -> dict[str, Any]:
        d = {
            "mode": self.mode,
            "time_fs": np.asarray(self.time_fs).tolist(),
            "ev": np.asarray(self.ev).tolist(),
            "fv": np.asarray(self.fv).tolist(),
            **self.summary(),
            **self.extra,
        }
        if self.ref_index is not None:
            d["ref_index"] = np.asarray(self.ref_index).tolist()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ViolationSeries:
        return cls(
            mode=str(d["mode"]),
            time_fs=np.asarray(d["time_fs"], float),
            ev=np.asarray(d["ev"], float),
            fv=np.asarray(d["fv"], float),
            ref_index=np.asarray(d["ref_index"]) if "ref_index" in d else None,
        )


def summarise_violations(
    series: Iterable[ViolationSeries | Mapping[str, Any]], floor: float = GEOMETRIC_FLOOR
) -> dict[str, Any]:
    """Replica summary: ``{"mode", "ev": aggregate, "fv": aggregate}`` (see :func:`aggregate_replicas`),
    the std over replicas a sample std (ddof = 1, docs/metrics.md)."""
    items = [s if isinstance(s, ViolationSeries) else ViolationSeries.from_dict(s) for s in series]
    modes = sorted({s.mode for s in items})
    if len(modes) > 1:
        raise ValueError(f"cannot pool violation series of different modes: {modes}")
    return {
        "mode": modes[0] if modes else "",
        "ev": aggregate_replicas([s.ev for s in items], floor, ddof=1),
        "fv": aggregate_replicas([s.fv for s in items], floor, ddof=1),
    }


def aligned_series(
    model_times_fs,
    model_E,
    model_F,
    ref_frames_E,
    ref_frames_F,
    ref_spacing_fs: float,
    ref_start_index: int = 0,
    rtol: float = 1e-6,
) -> ViolationSeries:
    """EV/FV of model frames against the reference frame at the same physical time.

    The model trajectory starts (t = 0) from reference frame ``ref_start_index`` of a contiguous
    reference trajectory with frames every ``ref_spacing_fs`` fs; model time t pairs with reference
    frame ``ref_start_index + t / ref_spacing_fs`` when that is a whole number (within ``rtol``) and
    inside the reference. Other model frames are skipped. Energies eV [T], forces eV/Å [T,N,3].
    """
    if not ref_spacing_fs > 0:
        raise ValueError("ref_spacing_fs must be positive")
    t = np.asarray(model_times_fs, dtype=np.float64).reshape(-1)
    em = np.asarray(model_E, dtype=np.float64).reshape(-1)
    er = np.asarray(ref_frames_E, dtype=np.float64).reshape(-1)
    k = t / ref_spacing_fs
    kr = np.rint(k)
    idx = kr.astype(np.int64) + int(ref_start_index)
    sel = np.flatnonzero((np.abs(k - kr) <= rtol * np.maximum(1.0, np.abs(k))) & (idx >= 0) & (idx < len(er)))
    fm = np.asarray(model_F, dtype=np.float64)[sel]
    fr = np.asarray(ref_frames_F, dtype=np.float64)[idx[sel]]
    if len(sel) == 0:
        log.warning("no model frame falls on a reference frame time (spacing %.4g fs)", ref_spacing_fs)
        return ViolationSeries("aligned", np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, np.int64))
    return ViolationSeries(
        "aligned",
        t[sel],
        np.atleast_1d(energy_violation(em[sel], er[idx[sel]])),
        np.atleast_1d(force_violation(fm.reshape(len(sel), -1, 3), fr.reshape(len(sel), -1, 3))),
        idx[sel],
    )


class OracleObserver:
    """MD observer: evaluates a reference ASE calculator on every ``every``-th saved model frame.

    ``calculator_factory()`` builds the reference calculator once (lazily). Frames with
    non-finite model output or positions are skipped; a reference that raises is logged and
    counted (``n_reference_errors``) rather than stopping the MD. ``update`` never reports a
    failure. ``finish()`` returns :meth:`ViolationSeries.to_dict` (mode ``"oracle"``) plus the
    model and reference energies (eV) of the evaluated frames.
    """

    def __init__(self, calculator_factory: Callable[[], Any], every: int = 1):
        self.factory = calculator_factory
        self.every = max(int(every), 1)
        self._calc = None
        self._seen = 0
        self.time_fs: list[float] = []
        self.ev: list[float] = []
        self.fv: list[float] = []
        self.e_model: list[float] = []
        self.e_ref: list[float] = []
        self.n_reference_errors = 0
        self.first_error = ""

    def update(self, step: int, time_fs: float, atoms, energy: float, forces: np.ndarray) -> str | None:
        k, self._seen = self._seen, self._seen + 1
        if k % self.every:
            return None
        forces = np.asarray(forces, dtype=np.float64)
        if not (np.isfinite(energy) and np.isfinite(forces).all() and np.isfinite(atoms.positions).all()):
            return None
        if self._calc is None:
            self._calc = self.factory()
        ref = atoms.copy()
        ref.calc = self._calc
        try:
            e_ref = float(ref.get_potential_energy())
            f_ref = np.asarray(ref.get_forces(), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - any reference failure (SCF, bad geometry...)
            self.n_reference_errors += 1
            self.first_error = self.first_error or f"step {step}: {type(exc).__name__}: {exc}"
            log.warning("oracle failed at step %d: %s", step, exc)
            return None
        self.time_fs.append(float(time_fs))
        self.e_model.append(float(energy))
        self.e_ref.append(e_ref)
        self.ev.append(energy_violation(energy, e_ref))
        self.fv.append(force_violation(forces, f_ref))
        return None

    def series(self) -> ViolationSeries:
        return ViolationSeries(
            "oracle",
            np.array(self.time_fs),
            np.array(self.ev),
            np.array(self.fv),
            extra={
                "energy_model": list(self.e_model),
                "energy_ref": list(self.e_ref),
                "n_reference_errors": self.n_reference_errors,
                "first_error": self.first_error,
            },
        )

    def finish(self) -> dict[str, Any]:
        return self.series().to_dict()
