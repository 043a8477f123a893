"""Stability criteria: bond stretch, non-finite values, temperature, sliding-window RDF; summaries."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from egbench_core.analysis.rdf import RDFAccumulator
from egbench_core.analysis.stability import StabilityMonitor, bonded_pairs, stable_fraction, survival_curve


def _run(monitor, frames, dt_fs=0.5):
    """Feed frames (Atoms) at steps 0, 1, ...; return the first step that reported a failure."""
    for step, atoms in enumerate(frames):
        if monitor.update(step, dt_fs * step, atoms, -1.0, np.zeros((len(atoms), 3))):
            return step
    return None


def _stretched_water(stretch: float, at_step: int, n_steps: int = 100):
    base = molecule("H2O")
    u = (base.positions[1] - base.positions[0]) / np.linalg.norm(base.positions[1] - base.positions[0])
    for step in range(n_steps):
        a = base.copy()
        if step >= at_step:
            a.positions[1] += stretch * u
        yield a


def test_bonded_pairs_of_water_and_methane():
    i, j, _, d0 = bonded_pairs(molecule("H2O").positions, molecule("H2O").numbers, np.zeros((3, 3)), [False] * 3)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2)]  # O-H only, no H-H
    ch4 = molecule("CH4")
    assert len(bonded_pairs(ch4.positions, ch4.numbers, np.zeros((3, 3)), [False] * 3)[0]) == 4


def test_bond_stretch_of_0p6_fails_at_step_40_not_before():
    mon = StabilityMonitor(total_time_fs=50.0)
    assert _run(mon, _stretched_water(0.6, 40)) == 40
    out = mon.finish()
    assert out["failed_step"] == 40 and out["time_to_failure_fs"] == pytest.approx(20.0)
    assert not out["stable"] and "bond 0-1" in out["reason"] and out["n_bonds"] == 2


def test_bond_stretch_of_0p4_is_stable():
    mon = StabilityMonitor(total_time_fs=50.0)
    assert _run(mon, _stretched_water(0.4, 40)) is None
    out = mon.finish()
    assert out["stable"] and out["failed_step"] is None and out["time_to_failure_fs"] == 50.0


def test_nan_position_fails_immediately_and_stays_failed():
    frames = list(_stretched_water(0.0, 0, 10))
    frames[3].positions[2, 1] = np.nan
    mon = StabilityMonitor()
    assert _run(mon, frames) == 3
    assert "non-finite positions" in mon.reason
    assert mon.update(4, 2.0, frames[4], -1.0, np.zeros((3, 3))) == mon.reason  # already failed


def test_non_finite_energy_or_forces_fail():
    a = molecule("H2O")
    assert "energy" in StabilityMonitor().update(0, 0.0, a, float("inf"), np.zeros((3, 3)))
    forces = np.zeros((3, 3))
    forces[0, 0] = np.nan
    assert "forces" in StabilityMonitor().update(0, 0.0, a, -1.0, forces)


def _at_temperature(atoms: Atoms, temperature_K: float) -> Atoms:
    a = atoms.copy()
    p = np.random.default_rng(0).normal(size=(len(a), 3))
    a.set_momenta(p)
    a.set_momenta(p * np.sqrt(temperature_K / a.get_temperature()))
    return a


def test_temperature_above_five_times_target_fails():
    base = molecule("H2O")
    assert StabilityMonitor(target_temperature_K=300).update(0, 0.0, _at_temperature(base, 1400), -1.0, np.zeros((3, 3))) is None
    mon = StabilityMonitor(target_temperature_K=300)
    frames = [_at_temperature(base, 300)] * 5 + [_at_temperature(base, 1600)]
    assert _run(mon, frames) == 5
    assert "temperature" in mon.reason


def _lattice(rng, sigma):
    a, n = 3.0, 4
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3) * a
    return Atoms(numbers=np.full(len(grid), 29), positions=grid + rng.normal(0, sigma, grid.shape),
                 cell=np.eye(3) * a * n, pbc=True)


def test_bulk_rdf_window():
    rng = np.random.default_rng(0)
    acc = RDFAccumulator()
    for _ in range(10):
        acc.add_atoms(_lattice(rng, 0.1))
    g_ref = acc.result()
    # thermal lattice like the reference: stable
    mon = StabilityMonitor(g_ref=g_ref, rdf_window_steps=10)
    assert _run(mon, [_lattice(rng, 0.1) for _ in range(20)]) is None
    assert mon.finish()["max_rdf_wf"] < 50.0
    # the lattice melts into a gas after step 12: fails once the window is dominated by the gas
    gas = [Atoms(numbers=np.full(64, 29), positions=rng.uniform(0, 12, (64, 3)), cell=np.eye(3) * 12, pbc=True)
           for _ in range(20)]
    mon = StabilityMonitor(g_ref=g_ref.to_dict(), rdf_window_steps=10)
    step = _run(mon, [_lattice(rng, 0.1) for _ in range(12)] + gas)
    assert step is not None and 12 < step < 22
    assert "WF" in mon.reason and mon.finish()["failed_step"] == step
    # a run shorter than the window never checks it; a molecule ignores g_ref (bonds are checked instead)
    assert _run(StabilityMonitor(g_ref=g_ref, rdf_window_steps=10), gas[:9]) is None
    assert _run(StabilityMonitor(g_ref=g_ref, rdf_window_steps=10), _stretched_water(0.0, 0, 30)) is None


def test_stable_fraction_and_survival_curve():
    results = [{"failed_step": None}, {"failed_step": 40}, {"failed_step": None}, {"failed_step": 3}]
    assert stable_fraction(results) == 0.5
    assert np.isnan(stable_fraction([]))
    grid, s = survival_curve([10.0, 50.0, 100.0, 100.0], 100.0, [0, 10, 20, 50, 99, 100])
    np.testing.assert_allclose(s, [1.0, 0.75, 0.75, 0.5, 0.5, 0.5])
    # a failure at the very last step is only distinguishable with explicit flags
    _, s2 = survival_curve([100.0, 100.0], 100.0, [0, 100], failed=[True, False])
    np.testing.assert_allclose(s2, [1.0, 0.5])
    grid3, s3 = survival_curve([50.0], 100.0, 5)
    np.testing.assert_allclose(grid3, [0, 25, 50, 75, 100])
    np.testing.assert_allclose(s3, [1, 1, 0, 0, 0])
