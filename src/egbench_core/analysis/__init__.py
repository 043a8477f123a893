"""Simulation metrics (docs/metrics.md): RDF, structure (WF, JSD), dynamics (EV, FV), stability.

Pure numpy functions plus MD observers (``update(step, time_fs, atoms, energy, forces)`` at saved
frames, optionally ``check(step, time_fs, positions, numbers, cell, pbc, temperature_K)`` at every
step, ``finish()``). Units: Å, eV, eV/Å, fs, K.
"""

from __future__ import annotations

from egbench_core.analysis.dynamics import (
    OracleObserver,
    ViolationSeries,
    aggregate_replicas,
    aligned_series,
    energy_violation,
    force_violation,
    geometric_mean,
    summarise_violations,
)
from egbench_core.analysis.rdf import (
    RDFAccumulator,
    RDFObserver,
    RDFResult,
    average_rdfs,
    coordination_number,
    frame_rdf,
    max_rdf_radius,
    rdf_of_frames,
)
from egbench_core.analysis.stability import (
    CATEGORIES,
    StabilityMonitor,
    bond_graph_pieces,
    replay,
    stable_fraction,
    survival_curve,
)
from egbench_core.analysis.structure import jsd, wright_factor, wright_factor_nosqrt

__all__ = [
    "OracleObserver",
    "ViolationSeries",
    "aggregate_replicas",
    "aligned_series",
    "energy_violation",
    "force_violation",
    "geometric_mean",
    "summarise_violations",
    "RDFAccumulator",
    "RDFObserver",
    "RDFResult",
    "average_rdfs",
    "coordination_number",
    "frame_rdf",
    "max_rdf_radius",
    "rdf_of_frames",
    "CATEGORIES",
    "StabilityMonitor",
    "bond_graph_pieces",
    "replay",
    "stable_fraction",
    "survival_curve",
    "jsd",
    "wright_factor",
    "wright_factor_nosqrt",
]
