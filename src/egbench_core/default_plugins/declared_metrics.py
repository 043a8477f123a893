"""What every built-in metric emits: one :class:`ValueSpec` per stored value (id, unit, which
direction is better, meaning, when it is emitted, the report columns that show it).

The metric modules (``metrics.py``, ``md_metrics.py``, ``oracle_metrics.py``) declare their values
from these and make their :class:`MetricValue` objects with them (``WF(x, n=...)``), so a unit is
written once. This module imports nothing heavy: the report reads its tables from here without
loading torch. Definitions: docs/metrics.md (METRICS.md).
"""

from __future__ import annotations

from ..interfaces import Shown, ValueSpec

# -- static errors, per evaluation split -------------------------------------------------------
_WHOLE_SPLIT = "over the whole split at once"
ENERGY_MAE = ValueSpec(
    "energy_mae",
    "eV",
    "lower",
    f"MAE of the total energy over the structures, {_WHOLE_SPLIT}",
    per_split=True,
    shown=(Shown("static", 10, "E MAE (meV)", "meV", 2, split=None),),
)
ENERGY_RMSE = ValueSpec(
    "energy_rmse",
    "eV",
    "lower",
    f"RMSE of the total energy over the structures, {_WHOLE_SPLIT}",
    per_split=True,
    shown=(Shown("static", 30, "E RMSE (meV)", "meV", 2, split=None),),
)
ENERGY_PER_ATOM_MAE = ValueSpec(
    "energy_per_atom_mae",
    "eV/atom",
    "lower",
    f"MAE of the energy per atom over the structures, {_WHOLE_SPLIT}",
    per_split=True,
)
FORCE_MAE = ValueSpec(
    "force_mae",
    "eV/Å",
    "lower",
    f"MAE over all force components, {_WHOLE_SPLIT}",
    per_split=True,
    shown=(Shown("static", 20, "F MAE (meV/Å)", "meV/Å", 2, split=None),),
)
FORCE_RMSE = ValueSpec(
    "force_rmse",
    "eV/Å",
    "lower",
    f"RMSE over all force components, {_WHOLE_SPLIT}",
    per_split=True,
    shown=(Shown("static", 40, "F RMSE (meV/Å)", "meV/Å", 2, split=None),),
)
STATIC = (ENERGY_MAE, FORCE_MAE, ENERGY_RMSE, FORCE_RMSE, ENERGY_PER_ATOM_MAE)

# -- cost -------------------------------------------------------------------------------------
TRAIN_TIME_PER_EPOCH = ValueSpec(
    "train_time_per_epoch",
    "s",
    "lower",
    "wall-clock training time per epoch",
    shown=(Shown("static", 50, "train s/epoch", digits=2),),
)
TRAIN_TIME_TOTAL = ValueSpec("train_time_total", "s", "lower", "wall-clock training time, all epochs")
EPOCHS = ValueSpec(
    "epochs",
    "epochs",
    "neither",
    "epochs run (the note says why training stopped)",
    shown=(Shown("static", 60, "epochs", digits=0),),
)
BEST_EPOCH = ValueSpec("best_epoch", "epoch", "neither", "the epoch whose weights were kept (best validation loss)")
TRAIN_COST = (TRAIN_TIME_PER_EPOCH, TRAIN_TIME_TOTAL, EPOCHS, BEST_EPOCH)
MD_TIME_PER_STEP = ValueSpec(
    "md_time_per_step",
    "ms",
    "lower",
    "MD wall-clock time per step, mean ± std over replicas (hardware in the note)",
    when="md",
    shown=(Shown("static", 70, "MD ms/step", digits=2),),
)
MD_THROUGHPUT = ValueSpec("md_throughput", "atom·steps/s", "higher", "MD throughput over all replicas", when="md")
MD_COST = (MD_TIME_PER_STEP, MD_THROUGHPUT)

# -- stability --------------------------------------------------------------------------------
STABLE_FRACTION = ValueSpec(
    "stable_fraction",
    "fraction",
    "higher",
    "fraction of replicas that stayed stable over the whole simulation",
    when="md",
    shown=(Shown("stability", 10, "stable fraction", digits=2),),
)
TIME_TO_FAILURE = ValueSpec(
    "time_to_failure",
    "fs",
    "higher",
    "time to failure per replica (the total time if stable), mean ± std over replicas",
    when="md",
    shown=(Shown("stability", 20, "time stable (fs)", digits=1),),
)
FAILURE_CATEGORIES = ("non-finite", "fragmentation", "collapse", "structure", "temperature")  # analysis.CATEGORIES
FAILURES = {
    c: ValueSpec(f"failures_{c.replace('-', '_')}", "replicas", "lower", f"replicas that failed by {c}", when="md")
    for c in FAILURE_CATEGORIES
}
STABILITY = (STABLE_FRACTION, TIME_TO_FAILURE, *FAILURES.values())

# -- structure --------------------------------------------------------------------------------
WF = ValueSpec(
    "wf",
    "%",
    "lower",
    "Wright's factor of the replica-averaged RDF against the reference RDF",
    when="md",
    shown=(Shown("structure", 20, "WF (%)", digits=2),),
)
WF_NOSQRT = ValueSpec(
    "wf_nosqrt",
    "%",
    "lower",
    "Wright's factor without the square root (the paper's code)",
    when="md",
    shown=(Shown("structure", 30, "WF no sqrt (%)", digits=2),),
)
JSD = ValueSpec(
    "jsd",
    "nat",
    "lower",
    "Jensen–Shannon divergence of the RDF against the reference RDF (≤ ln 2)",
    when="md",
    shown=(Shown("structure", 10, "JSD (nat)", digits=4),),
)
STRUCTURE = (WF, WF_NOSQRT, JSD)

# -- dynamics ---------------------------------------------------------------------------------
_DYN_MODES = ("oracle", "aligned", "")  # "" on a "not applicable" value
EV = ValueSpec(
    "ev",
    "1e-5",
    "lower",
    "energy violation (Ê−E)²/(Ê²+E²), geometric mean over the stable frames, mean ± sample std over replicas, ×1e-5",
    modes=_DYN_MODES,
    when="md",
    shown=(
        Shown("dynamics", 40, "EV oracle (×1e-5)", digits=2, mode="oracle"),
        Shown("dynamics", 70, "EV aligned (×1e-5)", digits=2, mode="aligned"),
    ),
)
FV = ValueSpec(
    "fv",
    "1",
    "lower",
    "force violation ‖F̂−F‖/(‖F̂‖+‖F‖), geometric mean over the stable frames, mean ± sample std over replicas",
    modes=_DYN_MODES,
    when="md",
    shown=(
        Shown("dynamics", 50, "FV oracle", digits=3, mode="oracle"),
        Shown("dynamics", 80, "FV aligned", digits=3, mode="aligned"),
    ),
)
ALIGNED_FORCE_MAE = ValueSpec(
    "aligned_force_mae",
    "eV/Å",
    "lower",
    "force MAE against the reference frame at the same time, first 50 fs of each replica",
    modes=("aligned",),
    when="aligned",
    shown=(Shown("dynamics", 60, "aligned F MAE (meV/Å)", "meV/Å", 1, mode="aligned"),),
)
DYNAMICS = (EV, FV, ALIGNED_FORCE_MAE)

# -- errors where the model goes (oracle) -----------------------------------------------------
_ORACLE_MODES = ("oracle", "")  # "" on a "not applicable" value
MD_FORCE_MAE = ValueSpec(
    "md_force_mae",
    "eV/Å",
    "lower",
    "force MAE against the dataset's oracle on the replicas' stable frames",
    modes=_ORACLE_MODES,
    when="md",
    shown=(Shown("dynamics", 10, "MD F MAE oracle (meV/Å)", "meV/Å", 1, "oracle"),),
)
MD_ENERGY_MAE_PER_ATOM = ValueSpec(
    "md_energy_mae_per_atom",
    "eV/atom",
    "lower",
    "energy error per atom against the oracle, its calibrated offset removed",
    modes=_ORACLE_MODES,
    when="md",
    shown=(Shown("dynamics", 30, "MD E MAE oracle (meV/atom)", "meV/atom", 2, "oracle"),),
)
MD_FORCE_DRIFT = ValueSpec(
    "md_force_drift",
    "1",
    "lower",
    "md_force_mae / the test split's force_mae",
    modes=_ORACLE_MODES,
    when="md",
    shown=(Shown("dynamics", 20, "F drift (MD/test)", digits=2, mode="oracle"),),
)
# EV and FV on the frames a calibrated (not exact) oracle labelled after the MD (an exact one
# streams them during the MD: dynamics' EV/FV)
ORACLE_EV = ValueSpec(
    EV.id,
    EV.unit,
    EV.better,
    EV.description + "; on the oracle's sampled frames",
    modes=("oracle",),
    when="approximate-oracle",
)
ORACLE_FV = ValueSpec(
    FV.id,
    FV.unit,
    FV.better,
    FV.description + "; on the oracle's sampled frames",
    modes=("oracle",),
    when="approximate-oracle",
)
ORACLE = (MD_FORCE_MAE, MD_ENERGY_MAE_PER_ATOM, MD_FORCE_DRIFT, ORACLE_EV, ORACLE_FV)

BUILTIN_VALUES: tuple[ValueSpec, ...] = (*STATIC, *TRAIN_COST, *MD_COST, *STABILITY, *STRUCTURE, *DYNAMICS, *ORACLE)
