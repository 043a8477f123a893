"""Errors where the model goes (docs/metrics.md): the oracle on the frames each replica visited.

* ``md_force_mae`` (eV/Å): force MAE of the model against the oracle on the sampled stable frames;
* ``md_energy_mae_per_atom`` (eV/atom): |Ê − (E_oracle − offset)| / N, the oracle's calibrated
  constant offset removed (none for an exact oracle);
* ``md_force_drift`` = md_force_mae / the test split's force_mae: above 1, the simulation wanders
  where the model was not trained.

Each is the mean ± sample std (ddof = 1) over replicas of the per-replica value, with the number of
frames used; the per-replica values are in the note and in ``oracle.json``. For an expensive
(calibrated) oracle the energy and force violations EV/FV in ``oracle`` mode come from the same
frames (an exact oracle streams them during the MD: ``md_metrics.py``).
"""

from __future__ import annotations

import math

import numpy as np

from egbench_core.analysis import energy_violation
from egbench_core.default_plugins import declared_metrics as d
from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import MetricResult, MetricSpec, MetricValue
from egbench_core.model.stats import energy_transfer_reason


def _na(reason: str) -> MetricResult:
    why = reason if reason.startswith("not applicable") else f"not applicable: {reason}"
    return MetricResult([v(math.nan, note=why) for v in (d.MD_FORCE_MAE, d.MD_ENERGY_MAE_PER_ATOM, d.MD_FORCE_DRIFT)])


def _summary(per_replica: list[float]) -> tuple[float, float | None]:
    x = np.asarray(per_replica, dtype=float)
    return float(x.mean()), (float(x.std(ddof=1)) if len(x) > 1 else None)


def _test_force_mae(outputs) -> float | None:
    split = outputs.plan.eval_splits[0] if outputs.plan and outputs.plan.eval_splits else None
    p = outputs.predictions.get(split) if split else None
    if p is None:
        return None
    return float(np.mean(np.abs(p.forces - p.reference.forces)))


def _oracle_metrics(outputs) -> MetricResult:
    info = outputs.oracle
    if not outputs.md:
        return MetricResult()
    if not info or not info.get("samples"):
        return _na((info or {}).get("reason") or "no oracle for this dataset")
    reps = [r for r in info["samples"]["replicas"] if r.get("frames")]
    if not reps:
        return _na("no stable frame after the start frame to evaluate")
    offset = (info.get("calibration") or {}).get("energy_offset_mean", 0.0)
    level = info["oracle"]["level"]
    n_frames = sum(r["frames"] for r in reps)
    f_rep = [float(np.sum(r["force_abs_err_sum"]) / np.sum(r["n_force"])) for r in reps]
    f_mean, f_std = _summary(f_rep)
    per = "; ".join(f"replica {r['replica']}: {v * 1e3:.1f} meV/Å on {r['frames']} frames" for r, v in zip(reps, f_rep))
    note = f"{level}; {n_frames} frames over {len(reps)} replicas ({per})"
    out = [d.MD_FORCE_MAE(f_mean, std=f_std, n=n_frames, mode="oracle", note=note)]
    why = energy_transfer_reason(outputs.stats, outputs.md_reference) if outputs.md_reference is not None else None
    if why:
        out.append(d.MD_ENERGY_MAE_PER_ATOM(math.nan, n=n_frames, mode="oracle", note=why))
    else:
        e_rep = [
            float(
                np.mean(np.abs(np.asarray(r["energy_model"]) - (np.asarray(r["energy_oracle"]) - offset)))
                / r["n_atoms"]
            )
            for r in reps
        ]
        e_mean, e_std = _summary(e_rep)
        out.append(
            d.MD_ENERGY_MAE_PER_ATOM(
                e_mean,
                std=e_std,
                n=n_frames,
                mode="oracle",
                note=f"{level}; calibrated offset {offset * 1e3:+.2f} meV removed",
            )
        )
    test = _test_force_mae(outputs)
    if test:
        d_mean, d_std = _summary([v / test for v in f_rep])
        out.append(
            d.MD_FORCE_DRIFT(
                d_mean,
                std=d_std,
                n=n_frames,
                mode="oracle",
                note=f"md_force_mae / test force_mae ({test * 1e3:.1f} meV/Å)",
            )
        )
    if not info["oracle"].get("exact"):
        out.extend(_violations(reps, offset, level, n_frames))
    return MetricResult(out)


def _violations(reps, offset: float, level: str, n_frames: int) -> list[MetricValue]:
    """EV and FV on the sampled frames: geometric mean over a replica's frames, mean ± sample std
    over replicas (docs/metrics.md)."""
    ev, fv = [], []
    for r in reps:
        e = energy_violation(np.asarray(r["energy_model"]), np.asarray(r["energy_oracle"]) - offset)
        ev.append(float(np.exp(np.mean(np.log(np.maximum(e, 1e-12))))))
        fv.append(float(np.exp(np.mean(np.log(np.maximum(np.asarray(r["fv"]), 1e-12))))))
    note = f"{level}, on the sampled frames; calibrated offset removed from the oracle's energies"
    (ev_m, ev_s), (fv_m, fv_s) = _summary(ev), _summary(fv)
    return [
        d.ORACLE_EV(ev_m * 1e5, std=ev_s * 1e5 if ev_s is not None else None, n=n_frames, mode="oracle", note=note),
        d.ORACLE_FV(fv_m, std=fv_s, n=n_frames, mode="oracle", note=note),
    ]


@hookimpl
def register_metrics(register):
    register(
        MetricSpec(
            name="oracle",
            compute=_oracle_metrics,
            values=d.ORACLE,
            version="1",
            description="errors where the model goes: md_force_mae, md_energy_mae_per_atom, "
            "md_force_drift against the dataset's oracle on each replica's stable frames",
        )
    )
