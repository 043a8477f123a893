"""What every built-in metric emits: one :class:`ValueSpec` per stored value (id, unit, which
direction is better, meaning, when it is emitted, the report columns that show it).

The metric modules (``metrics.py``, ``md_metrics.py``, ``oracle_metrics.py``) declare their values
from these and make their :class:`MetricValue` objects with them (``WF(x, n=...)``), so a unit is
written once. This module imports nothing heavy: the report reads its tables from here without
loading torch. Definitions: docs/metrics.md.
"""

from __future__ import annotations

from typing import Any

from egbench_core.interfaces import Shown, ValueSpec


def _split_error(id_: str, unit: str, what: str, *shown: Shown) -> ValueSpec:
    """A static error, lower is better, once per evaluation split over the whole split at once."""
    return ValueSpec(id_, unit, "lower", f"{what}, over the whole split at once", per_split=True, shown=shown)


def _static_column(order: int, header: str, unit: str) -> Shown:
    """A static-table column of a split error: the task's first evaluation split, 2 digits."""
    return Shown("static", order, header, unit, 2, split=None)


def _md(id_: str, unit: str, better: str, description: str, *shown: Shown, **kw: Any) -> ValueSpec:
    """A value of a cell's MD (``when="md"`` unless ``kw`` says otherwise)."""
    kw.setdefault("when", "md")
    return ValueSpec(id_, unit, better, description, shown=shown, **kw)


_DYN_MODES = ("oracle", "aligned", "")  # "" on a "not applicable" value
_ORACLE_MODES = ("oracle", "")  # "" on a "not applicable" value

# The declarations are a table: one value a row (id, unit, better, meaning, then its report
# columns). Formatted one argument a line, the rows could not be read side by side.
# fmt: off

# -- static errors, per evaluation split -------------------------------------------------------
ENERGY_MAE = _split_error("energy_mae", "eV", "MAE of the total energy over the structures",
                          _static_column(10, "E MAE (meV)", "meV"))
ENERGY_RMSE = _split_error("energy_rmse", "eV", "RMSE of the total energy over the structures",
                           _static_column(30, "E RMSE (meV)", "meV"))
ENERGY_PER_ATOM_MAE = _split_error("energy_per_atom_mae", "eV/atom", "MAE of the energy per atom over the structures")
FORCE_MAE = _split_error("force_mae", "eV/Å", "MAE over all force components",
                         _static_column(20, "F MAE (meV/Å)", "meV/Å"))
FORCE_RMSE = _split_error("force_rmse", "eV/Å", "RMSE over all force components",
                          _static_column(40, "F RMSE (meV/Å)", "meV/Å"))
STATIC = (ENERGY_MAE, FORCE_MAE, ENERGY_RMSE, FORCE_RMSE, ENERGY_PER_ATOM_MAE)

# -- cost -------------------------------------------------------------------------------------
TRAIN_TIME_PER_EPOCH = ValueSpec("train_time_per_epoch", "s", "lower", "wall-clock training time per epoch",
                                 shown=(Shown("static", 50, "train s/epoch", digits=2),))
TRAIN_TIME_TOTAL = ValueSpec("train_time_total", "s", "lower", "wall-clock training time, all epochs")
EPOCHS = ValueSpec("epochs", "epochs", "neither", "epochs run (the note says why training stopped)",
                   shown=(Shown("static", 60, "epochs", digits=0),))
BEST_EPOCH = ValueSpec("best_epoch", "epoch", "neither", "the epoch whose weights were kept (best validation loss)")
TRAIN_COST = (TRAIN_TIME_PER_EPOCH, TRAIN_TIME_TOTAL, EPOCHS, BEST_EPOCH)
MD_TIME_PER_STEP = _md("md_time_per_step", "ms", "lower",
                       "MD wall-clock time per step, mean ± std over replicas (hardware in the note)",
                       Shown("static", 70, "MD ms/step", digits=2))
MD_THROUGHPUT = _md("md_throughput", "atom·steps/s", "higher", "MD throughput over all replicas")
MD_COST = (MD_TIME_PER_STEP, MD_THROUGHPUT)

# -- stability --------------------------------------------------------------------------------
STABLE_FRACTION = _md("stable_fraction", "fraction", "higher",
                      "fraction of replicas that stayed stable over the whole simulation",
                      Shown("stability", 10, "stable fraction", digits=2))
TIME_TO_FAILURE = _md("time_to_failure", "fs", "higher",
                      "time to failure per replica (the total time if stable), mean ± std over replicas",
                      Shown("stability", 20, "time stable (fs)", digits=1))
FAILURE_CATEGORIES = ("non-finite", "fragmentation", "collapse", "structure", "temperature")  # analysis.CATEGORIES
FAILURES = {c: _md(f"failures_{c.replace('-', '_')}", "replicas", "lower", f"replicas that failed by {c}")
            for c in FAILURE_CATEGORIES}
STABILITY = (STABLE_FRACTION, TIME_TO_FAILURE, *FAILURES.values())

# -- structure --------------------------------------------------------------------------------
WF = _md("wf", "%", "lower", "Wright's factor of the replica-averaged RDF against the reference RDF",
         Shown("structure", 20, "WF (%)", digits=2))
WF_NOSQRT = _md("wf_nosqrt", "%", "lower", "Wright's factor without the square root (the paper's code)",
                Shown("structure", 30, "WF no sqrt (%)", digits=2))
JSD = _md("jsd", "nat", "lower", "Jensen–Shannon divergence of the RDF against the reference RDF (≤ ln 2)",
          Shown("structure", 10, "JSD (nat)", digits=4))
STRUCTURE = (WF, WF_NOSQRT, JSD)

# -- dynamics ---------------------------------------------------------------------------------
EV = _md("ev", "1e-5", "lower",
         "energy violation (Ê−E)²/(Ê²+E²), geometric mean over the stable frames, mean ± sample std over replicas, "
         "×1e-5",
         Shown("dynamics", 40, "EV oracle (×1e-5)", digits=2, mode="oracle"),
         Shown("dynamics", 70, "EV aligned (×1e-5)", digits=2, mode="aligned"), modes=_DYN_MODES)
FV = _md("fv", "1", "lower",
         "force violation ‖F̂−F‖/(‖F̂‖+‖F‖), geometric mean over the stable frames, mean ± sample std over replicas",
         Shown("dynamics", 50, "FV oracle", digits=3, mode="oracle"),
         Shown("dynamics", 80, "FV aligned", digits=3, mode="aligned"), modes=_DYN_MODES)
ALIGNED_FORCE_MAE = _md("aligned_force_mae", "eV/Å", "lower",
                        "force MAE against the reference frame at the same time, first 50 fs of each replica",
                        Shown("dynamics", 60, "aligned F MAE (meV/Å)", "meV/Å", 1, mode="aligned"),
                        modes=("aligned",), when="aligned")
DYNAMICS = (EV, FV, ALIGNED_FORCE_MAE)

# -- errors where the model goes (oracle) -----------------------------------------------------
MD_FORCE_MAE = _md("md_force_mae", "eV/Å", "lower",
                   "force MAE against the dataset's oracle on the replicas' stable frames",
                   Shown("dynamics", 10, "MD F MAE oracle (meV/Å)", "meV/Å", 1, "oracle"), modes=_ORACLE_MODES)
MD_ENERGY_MAE_PER_ATOM = _md("md_energy_mae_per_atom", "eV/atom", "lower",
                             "energy error per atom against the oracle, its calibrated offset removed",
                             Shown("dynamics", 30, "MD E MAE oracle (meV/atom)", "meV/atom", 2, "oracle"),
                             modes=_ORACLE_MODES)
MD_FORCE_DRIFT = _md("md_force_drift", "1", "lower", "md_force_mae / the test split's force_mae",
                     Shown("dynamics", 20, "F drift (MD/test)", digits=2, mode="oracle"), modes=_ORACLE_MODES)
# fmt: on

# EV and FV on the frames a calibrated (not exact) oracle labelled after the MD (an exact one
# streams them during the MD: dynamics' EV/FV)
ORACLE_EV, ORACLE_FV = (
    ValueSpec(
        v.id,
        v.unit,
        v.better,
        v.description + "; on the oracle's sampled frames",
        modes=("oracle",),
        when="approximate-oracle",
    )
    for v in (EV, FV)
)
ORACLE = (MD_FORCE_MAE, MD_ENERGY_MAE_PER_ATOM, MD_FORCE_DRIFT, ORACLE_EV, ORACLE_FV)

BUILTIN_VALUES: tuple[ValueSpec, ...] = (*STATIC, *TRAIN_COST, *MD_COST, *STABILITY, *STRUCTURE, *DYNAMICS, *ORACLE)
