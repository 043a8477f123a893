"""Built-in simulation metrics (docs/metrics.md): stability, structure (RDF → WF, JSD), dynamics (EV, FV).

Each has a streaming observer (:class:`ObserverSpec`) fed while the MD runs and a ``compute`` over
the finished replicas. The structure and dynamics observers declare that they come after the
stability observer (``after=(STABILITY_OBSERVER,)``), so the frame at which a replica fails never
enters the RDF or the violations — every structure/dynamics value covers the stable part only, and
its note says how much that was. ``compute`` returns the arrays behind the numbers (RDFs,
EV(t)/FV(t), survival) as artifacts; core writes them next to the cell's other files.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from egbench_core.analysis import (
    CATEGORIES,
    OracleObserver,
    RDFObserver,
    StabilityMonitor,
    aligned_series,
    average_rdfs,
    jsd,
    max_rdf_radius,
    rdf_of_frames,
    summarise_violations,
    survival_curve,
    wright_factor,
    wright_factor_nosqrt,
)
from egbench_core.analysis import stability as _criterion
from egbench_core.data.readers import read_extxyz
from egbench_core.default_plugins import declared_metrics as d
from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import Artifact, ArtifactSpec, MetricResult, MetricSpec, MetricValue, ObserverSpec

log = logging.getLogger(__name__)

R_MAX, BIN_WIDTH = 6.0, 0.05
MAX_REFERENCE_FRAMES = 1000  # g_ref from at most this many evenly spaced reference frames


def _md(outputs):
    return outputs.plan.md if outputs.plan is not None else None


def _r_max(outputs) -> float:
    ref = outputs.md_reference
    if ref is not None and ref.pbc[0].any():
        return min(R_MAX, max_rdf_radius(ref.cell[0], ref.pbc[0]))
    return R_MAX


def reference_rdf(outputs):
    """g_ref of the cell's MD reference split (cached on the outputs)."""
    if "g_ref" not in outputs.cache:
        ref = outputs.md_reference
        if len(ref) > MAX_REFERENCE_FRAMES:
            ref = ref.subset(np.linspace(0, len(ref) - 1, MAX_REFERENCE_FRAMES).astype(int))
        outputs.cache["g_ref"] = rdf_of_frames(ref, _r_max(outputs), BIN_WIDTH)
    return outputs.cache["g_ref"]


def _stable_note(outputs) -> str:
    md = _md(outputs)
    done = sum(r.steps_done for r in outputs.md) * md.timestep_fs
    asked = sum(r.steps_requested for r in outputs.md) * md.timestep_fs
    return f"stable part: {done:g} of {asked:g} fs over {len(outputs.md)} replicas"


# -- stability --------------------------------------------------------------------------
def _stability_observer(outputs):
    md = _md(outputs)
    periodic = bool(outputs.md_reference.pbc[0].any())
    return StabilityMonitor(
        target_temperature_K=md.temperature_K,
        g_ref=reference_rdf(outputs) if periodic else None,
        total_time_fs=outputs.md_total_time_fs,
    )


assert tuple(d.FAILURES) == CATEGORIES, "declared_metrics.FAILURE_CATEGORIES must list analysis.CATEGORIES"
STABILITY_OBSERVER = ObserverSpec(
    "stability",
    _stability_observer,
    description="the stability criterion at every step; its failure ends the stable part",
)


def time_to_failure(outputs) -> list[tuple[float, bool]]:
    """(time to failure in fs, stable?) per replica, from the monitor and from MD's own stops."""
    md = _md(outputs)
    out = []
    for r in outputs.md:
        if r.failed_step is not None:
            out.append((r.failed_step * md.timestep_fs, False))
        else:
            out.append((r.steps_requested * md.timestep_fs, True))
    return out


def failure_of(r) -> dict:
    """Category and atoms of a replica's failure ({} if stable): the stability monitor's verdict
    (which also hears of the engine's stops), or ``non-finite`` for an MD stop it never saw."""
    if r.failed_step is None:
        return {}
    v = STABILITY_OBSERVER.of(r)
    if v.get("category") and v.get("failed_step") == r.failed_step:
        return {"category": v["category"], "atoms": list(v.get("atoms") or []), "reason": r.failure}
    return {"category": "non-finite" if "non-finite" in r.failure else "other", "atoms": [], "reason": r.failure}


def _stability(outputs) -> MetricResult:
    if not outputs.md:
        return MetricResult()
    ttf = time_to_failure(outputs)
    t = np.array([x for x, _ in ttf])
    stable = [s for _, s in ttf]
    failures = [failure_of(r) for r in outputs.md]
    counts = {c: sum(f.get("category") == c for f in failures) for c in CATEGORIES}
    others = sum(bool(f) and f["category"] not in CATEGORIES for f in failures)
    total = float(outputs.md_total_time_fs)
    grid, surv = survival_curve(t, total, grid=101, failed=[not s for s in stable])
    seen = [STABILITY_OBSERVER.of(r) for r in outputs.md]
    artifact = Artifact(
        "stability.json",
        "stability",
        {
            "criterion": {
                "version": _criterion.CRITERION_VERSION,
                "bond_factor": _criterion.BOND_FACTOR,
                "collapse_factor": _criterion.COLLAPSE_FACTOR,
                "temperature_factor": _criterion.TEMPERATURE_FACTOR,
                "rdf_window_steps": _criterion.RDF_WINDOW_STEPS,
                "wf_threshold": _criterion.WF_THRESHOLD,
            },
            "time_to_failure_fs": t,
            "stable": stable,
            "total_time_fs": total,
            "failed_step": [r.failed_step for r in outputs.md],
            "reasons": [r.failure for r in outputs.md],
            "categories": [f.get("category", "") for f in failures],
            "atoms": [f.get("atoms", []) for f in failures],
            "counts": counts,
            "survival": {"time_fs": grid, "fraction": surv},
            "closest_contact": [v.get("closest_contact") for v in seen],
            "max_pieces": [v.get("max_pieces") for v in seen],
            "pieces_start": [v.get("pieces_start") for v in seen],
        },
    )
    tally = ", ".join(f"{c} {n}" for c, n in counts.items() if n) + (f", other {others}" if others else "")
    reasons = "; ".join(
        f"replica {r.index}: {r.failure}" + (f" (atoms {f['atoms']})" if f.get("atoms") else "")
        for r, f in zip(outputs.md, failures)
        if f
    )
    note = f"failures: {tally}; {reasons}" if tally else ""
    n = len(stable)
    values = [
        d.STABLE_FRACTION(float(np.mean(stable)), n=n, note=note),
        d.TIME_TO_FAILURE(
            float(t.mean()), std=float(t.std()), n=n, note=f"of {outputs.md_total_time_fs:g} fs per replica"
        ),
    ] + [d.FAILURES[c](float(counts[c]), n=n, note=f"replicas that failed by {c}") for c in CATEGORIES]
    return MetricResult(values, [artifact])


# -- structure --------------------------------------------------------------------------
def _rdf_observer(outputs):
    return RDFObserver(r_max=reference_rdf(outputs).r_max, bin_width=BIN_WIDTH)


RDF_OBSERVER = ObserverSpec(
    "structure",
    _rdf_observer,
    after=(STABILITY_OBSERVER,),
    description="the RDF of the saved frames of the stable part",
    saved_frames_only=True,
)


def _structure(outputs) -> MetricResult:
    rdfs = [RDF_OBSERVER.of(r) for r in outputs.md]
    rdfs = [x for x in rdfs if x and x.get("n_frames", 0) > 0]
    if not rdfs:
        return MetricResult()
    g = average_rdfs(rdfs)
    g_ref = reference_rdf(outputs)
    n = min(len(g.g), len(g_ref.g))
    note = _stable_note(outputs)
    artifact = Artifact(
        "rdf.json",
        "rdf",
        {
            "r": g_ref.r[:n],
            "g": g.g[:n],
            "g_ref": g_ref.g[:n],
            "periodic": g.periodic,
            "n_frames": g.n_frames,
            "replicas": len(rdfs),
        },
    )
    return MetricResult(
        [
            d.WF(wright_factor(g.g[:n], g_ref.g[:n]), n=len(rdfs), note=note),
            d.WF_NOSQRT(
                wright_factor_nosqrt(g.g[:n], g_ref.g[:n]),
                n=len(rdfs),
                note="paper-code variant (no square root); " + note,
            ),
            d.JSD(jsd(g.g[:n], g_ref.g[:n]), n=len(rdfs), note=note),
        ],
        [artifact],
    )


# -- dynamics ---------------------------------------------------------------------------
def _oracle_observer(outputs):
    if outputs.dataset is None or outputs.dataset.oracle() is None:
        return None
    return OracleObserver(outputs.dataset.oracle)


ORACLE_OBSERVER = ObserverSpec(
    "dynamics",
    _oracle_observer,
    after=(STABILITY_OBSERVER,),
    description="an exact oracle on every saved frame of the stable part (EV(t), FV(t))",
    saved_frames_only=True,
)

ALIGNED_WINDOW_FS = 50.0  # aligned comparisons stop here: the trajectories decorrelate within a few hundred fs


def _segment_end(ref, start: int) -> int:
    """The last reference index of the contiguous segment holding ``start`` (a reference split made
    of several trajectories labels its frames with ``info["segment"]`` or ``info["system"]``)."""
    labels = ref.info.get("segment", ref.info.get("system"))
    if labels is None:
        return len(ref) - 1
    labels = np.asarray(labels)
    same = np.flatnonzero(labels[start:] != labels[start])
    return start + int(same[0]) - 1 if len(same) else len(ref) - 1


def _aligned(outputs, window_fs: float = ALIGNED_WINDOW_FS) -> tuple[list[dict], list[float]]:
    """Per replica: EV(t), FV(t) against the reference frame at the same time, over the stable part
    of the first ``window_fs`` fs only, and the force MAE over those frames (eV/Å)."""
    md = _md(outputs)
    ref = outputs.md_reference
    series, force_mae = [], []
    for r in outputs.md:
        if not r.trajectory or not Path(r.trajectory).exists() or r.steps_done == 0:
            continue
        traj = read_extxyz(Path(r.trajectory))
        n = traj.n_atoms[0]
        t = np.asarray(r.times_fs[: len(traj)])  # the saved frames, in order
        limit = window_fs if r.failed_step is None else min(window_fs, r.failed_step * md.timestep_fs - 1e-9)
        keep = np.flatnonzero(t <= limit)  # the stable part, and the window
        end = _segment_end(ref, r.start_frame) + 1
        ref_f = ref.forces[: int(ref.offsets[end])].reshape(end, n, 3)
        fm = traj.forces.reshape(len(traj), n, 3)[keep]
        s = aligned_series(
            t[keep],
            traj.energy[keep],
            fm,
            ref.energy[:end],
            ref_f,
            md.reference_spacing_fs,
            ref_start_index=r.start_frame,
        )
        if len(s.time_fs):
            d = s.to_dict()
            model_idx = np.searchsorted(t[keep], s.time_fs)
            d["force_mae"] = float(np.mean(np.abs(fm[model_idx] - ref_f[s.ref_index])))
            series.append(d)
            force_mae.append(d["force_mae"])
    return series, force_mae


def _dynamics(outputs) -> MetricResult:
    md = _md(outputs)
    if not outputs.md:
        return MetricResult()
    note = _stable_note(outputs)
    values: list[MetricValue] = []
    artifacts: list[Artifact] = []
    modes = {}
    oracle = [x for x in (ORACLE_OBSERVER.of(r) for r in outputs.md) if x]
    if oracle:
        modes["oracle"] = oracle
    aligned_mae: list[float] = []
    if md.start_velocities == "reference" and md.reference_spacing_fs:
        aligned, aligned_mae = _aligned(outputs)
        if aligned:
            modes["aligned"] = aligned
    if not modes:
        why = (
            "not applicable: no oracle labelled this cell's frames while it ran, and the reference split is not "
            "a time-contiguous trajectory"
        )
        return MetricResult([d.EV(math.nan, note=why), d.FV(math.nan, note=why)])
    if aligned_mae:
        x = np.asarray(aligned_mae)
        values.append(
            d.ALIGNED_FORCE_MAE(
                float(x.mean()),
                std=float(x.std(ddof=1)) if len(x) > 1 else None,
                n=len(x),
                mode="aligned",
                note=f"model vs reference frames at the same time, first "
                f"{ALIGNED_WINDOW_FS:g} fs (τ) of each replica's stable part",
            )
        )
    for mode, series in modes.items():
        s = summarise_violations(series)
        extra = (
            f"; first {ALIGNED_WINDOW_FS:g} fs (τ) only: aligned frames decorrelate within a few hundred fs "
            "(FV → √2/2 for uncorrelated forces)"
            if mode == "aligned"
            else ""
        )
        values.append(
            d.EV(s["ev"]["mean"] * 1e5, std=s["ev"]["std"] * 1e5, n=s["ev"]["n"], mode=mode, note=note + extra)
        )
        values.append(d.FV(s["fv"]["mean"], std=s["fv"]["std"], n=s["fv"]["n"], mode=mode, note=note + extra))
        artifacts.append(
            Artifact(
                f"dynamics-{mode}.json",
                "dynamics",
                {"mode": mode, "series": series, "window_fs": ALIGNED_WINDOW_FS if mode == "aligned" else None},
            )
        )
    return MetricResult(values, artifacts)


_ABOUT_STABILITY = (
    "stable_fraction, time_to_failure and failures per category, checked every MD "
    "step: non-finite values, fragmentation of a molecule's bond graph (1.5× covalent "
    "radii) into more pieces than at the start, collapse (two atoms closer than 0.5× "
    "their covalent radii), sliding-window RDF WF > 50 % for bulk, T > 5× target"
)
_ABOUT_STRUCTURE = "RDF vs the reference split: wf (Wright's factor, %), wf_nosqrt, jsd (nat)"
_ABOUT_DYNAMICS = (
    "energy/force violation, geometric mean over time, mean ± sample std over "
    "replicas, stable part only; mode oracle (an exact oracle streamed on the model's "
    "frames) or aligned (first 50 fs, with aligned_force_mae)"
)
_STABILITY_FILES = ArtifactSpec(
    "stability", "per replica: time to failure, category, atoms; counts; survival curve; the criterion"
)
_RDF_FILES = ArtifactSpec("rdf", "r, g (replica average), g_ref")
_DYNAMICS_FILES = ArtifactSpec("dynamics", "EV(t), FV(t) per replica, one file per mode")


@hookimpl
def register_metrics(register):
    for name, compute, observer, values, version, files, about in (
        ("stability", _stability, STABILITY_OBSERVER, d.STABILITY, "2", _STABILITY_FILES, _ABOUT_STABILITY),
        ("structure", _structure, RDF_OBSERVER, d.STRUCTURE, "1", _RDF_FILES, _ABOUT_STRUCTURE),
        ("dynamics", _dynamics, ORACLE_OBSERVER, d.DYNAMICS, "2", _DYNAMICS_FILES, _ABOUT_DYNAMICS),
    ):
        register(
            MetricSpec(
                name=name,
                compute=compute,
                observer=observer,
                values=values,
                version=version,
                artifacts=(files,),
                description=about,
            )
        )
