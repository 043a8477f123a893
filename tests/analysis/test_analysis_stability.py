"""Stability criterion v2 (METRICS.md, "Stability"): non-finite values, fragmentation of a
molecule's bond graph, collapse, runaway temperature, the sliding-window RDF for bulk; each failure
with its category and atoms; acetylacetone's proton transfer is not a failure; summaries."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.data import covalent_radii

from egbench_core.analysis.rdf import RDFAccumulator
from egbench_core.analysis.stability import (
    StabilityMonitor,
    bond_graph_pieces,
    bond_pieces,
    replay,
    stable_fraction,
    survival_curve,
)
from egbench_core.data.readers import Frames


def _run(monitor, frames, dt_fs=0.5, saved_every=1):
    """Feed frames (Atoms) at steps 0, 1, ...: ``check`` every step, ``update`` every
    ``saved_every``-th; return the first step that reported a failure."""
    for step, atoms in enumerate(frames):
        if monitor.check(
            step,
            dt_fs * step,
            atoms.positions,
            atoms.numbers,
            atoms.cell.array,
            atoms.pbc,
            atoms.get_temperature() if atoms.has("momenta") else None,
        ):
            return step
        if step % saved_every == 0 and monitor.update(step, dt_fs * step, atoms, -1.0, np.zeros((len(atoms), 3))):
            return step
    return None


def _moved(base: Atoms, atoms_moved, direction, per_step: float, start: int, n_steps: int):
    """Frames of ``base`` with ``atoms_moved`` shifted by ``per_step`` Å along ``direction`` per step
    after ``start``."""
    u = np.asarray(direction, float) / np.linalg.norm(direction)
    for step in range(n_steps):
        a = base.copy()
        a.positions[list(atoms_moved)] += max(0, step - start) * per_step * u
        yield a


def _first_step_over(base, moved, direction, per_step, start, a, b, limit):
    """The first step at which |r_a − r_b| crosses ``limit`` (from below if it grows), by direct geometry."""
    for step, atoms in enumerate(_moved(base, moved, direction, per_step, start, 200)):
        d = np.linalg.norm(atoms.positions[a] - atoms.positions[b])
        d0 = np.linalg.norm(base.positions[a] - base.positions[b])
        if (d > limit) if limit > d0 else (d < limit):
            return step
    raise AssertionError("the limit is never crossed")


# -- bond graph ---------------------------------------------------------------------------------
def test_bond_graph_pieces():
    water = molecule("H2O")
    assert bond_graph_pieces(water.positions, water.numbers)[0] == 1
    two = water + water.copy()
    two.positions[3:] += [0.0, 0.0, 4.0]
    n, labels = bond_graph_pieces(two.positions, two.numbers)
    assert n == 2 and labels.tolist() == [0, 0, 0, 1, 1, 1]
    # periodic: an H2 molecule bonded only through the cell boundary is one piece, not two
    h2 = Atoms("H2", positions=[[0.1, 0, 0], [4.6, 0, 0]], cell=np.eye(3) * 5.0, pbc=True)
    assert bond_graph_pieces(h2.positions, h2.numbers, h2.cell.array, h2.pbc)[0] == 1
    assert bond_graph_pieces(h2.positions, h2.numbers)[0] == 2  # the same atoms as a molecule
    # a spanning forest picks the lightest edges
    labels, n, forest = bond_pieces(3, np.array([0, 1, 0]), np.array([1, 2, 2]), np.array([0.9, 0.8, 0.5]))
    assert n == 1 and sorted(forest.tolist()) == [1, 2]


# -- non-finite -----------------------------------------------------------------------------------
def test_exploding_run_is_non_finite_naming_the_atoms():
    frames = list(_moved(molecule("H2O"), [], [1, 0, 0], 0.0, 0, 10))
    frames[3].positions[2, 1] = np.nan
    mon = StabilityMonitor(total_time_fs=5.0)
    assert _run(mon, frames) == 3
    out = mon.finish()
    assert out["category"] == "non-finite" and out["atoms"] == [2] and "non-finite positions" in out["reason"]
    assert out["failed_step"] == 3 and out["time_to_failure_fs"] == pytest.approx(1.5) and not out["stable"]
    assert mon.check(4, 2.0, frames[4].positions, frames[4].numbers, np.zeros((3, 3)), [False] * 3) == mon.reason
    assert mon.update(4, 2.0, frames[4], -1.0, np.zeros((3, 3))) == mon.reason  # already failed


def test_non_finite_energy_or_forces_fail():
    a = molecule("H2O")
    mon = StabilityMonitor()
    assert "energy" in mon.update(0, 0.0, a, float("inf"), np.zeros((3, 3)))
    assert mon.finish()["category"] == "non-finite" and mon.finish()["atoms"] == []
    forces = np.zeros((3, 3))
    forces[1, 0] = np.nan
    mon = StabilityMonitor()
    assert "forces" in mon.update(0, 0.0, a, -1.0, forces)
    assert mon.finish()["category"] == "non-finite" and mon.finish()["atoms"] == [1]


def test_an_exploding_md_run_is_recorded_by_the_monitor_in_both_engines():
    """Tiny masses under a huge constant force: the velocities overflow, the positions become NaN
    and the engine stops; the monitor hears of it (``stopped``) and says non-finite."""
    import torch

    from egbench_core.interfaces import MDPlan
    from egbench_core.md.ase_engine import MDSettings, run_md

    class Runaway(torch.nn.Module):
        cutoff, species, dtype = 3.0, (1, 6, 8), torch.float64

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

        def forward(self, graph):
            x = graph.positions[:, 0].to(torch.float64)
            return torch.zeros(graph.num_graphs, dtype=torch.float64).index_add(0, graph.batch, -1e300 * x) + self.dummy

    atoms = molecule("CH3OH")
    atoms.set_masses(np.full(len(atoms), 1e-10))
    frames = Frames.from_atoms([atoms], energies=[0.0], forces=[np.zeros((6, 3))])
    plan = MDPlan("test", "test", temperature_K=300.0, timestep_fs=0.5)
    verdicts = []
    for engine in ("ase", "batched"):
        (res,) = run_md(
            Runaway(),
            _with_masses(frames, 1e-10),
            plan,
            MDSettings(1, 20, 5, 0),
            None,
            lambda r: {"stability": StabilityMonitor(300.0, total_time_fs=10.0)},
            engine=engine,
        )
        v = res.observed["stability"]
        assert res.failed_step is not None and res.failed_step >= 1 and v["failed_step"] == res.failed_step
        assert v["category"] == "non-finite" and not v["stable"], (engine, v)
        verdicts.append((res.failed_step, v["category"], v["atoms"]))
    assert verdicts[0] == verdicts[1]


def _with_masses(frames, mass):
    """``Frames.to_atoms`` gives default masses; a subclass that sets tiny ones."""

    class Light(Frames):
        def to_atoms(self, i):
            a = super().to_atoms(i)
            a.set_masses(np.full(len(a), mass))
            return a

    return Light(**{k: getattr(frames, k) for k in frames.__dataclass_fields__})


# -- fragmentation ---------------------------------------------------------------------------------
def test_an_atom_pulled_off_a_molecule_is_a_fragmentation_naming_it():
    water = molecule("H2O")
    direction = water.positions[1] - water.positions[0]
    limit = 1.5 * (covalent_radii[8] + covalent_radii[1])  # 1.455 Å
    expected = _first_step_over(water, [1], direction, 0.02, 10, 0, 1, limit)
    mon = StabilityMonitor(total_time_fs=50.0)
    assert _run(mon, _moved(water, [1], direction, 0.02, 10, 100)) == expected
    out = mon.finish()
    assert out["category"] == "fragmentation" and out["atoms"] == [1]
    assert "H1" in out["reason"] and "2 pieces (1 in the start frame)" in out["reason"]
    assert out["pieces_start"] == 1 and out["max_pieces"] == 2 and out["n_bonds"] == 2


def test_a_molecule_pulled_into_two_groups_names_the_smaller_group():
    """Methanol: the OH group (O1, H3) pulled away from CH3 along the C–O axis."""
    meoh = molecule("CH3OH")
    direction = meoh.positions[1] - meoh.positions[0]
    limit = 1.5 * (covalent_radii[6] + covalent_radii[8])  # 2.13 Å
    expected = _first_step_over(meoh, [1, 3], direction, 0.05, 5, 0, 1, limit)
    for dense in (200, 0):  # all pairs (small molecules) and the Verlet-list path (large ones) agree
        mon = StabilityMonitor(dense_max_atoms=dense)
        assert _run(mon, _moved(meoh, [1, 3], direction, 0.05, 5, 60)) == expected
        out = mon.finish()
        assert out["category"] == "fragmentation" and out["atoms"] == [1, 3], out
        assert "C0-O1" in out["reason"]


def test_a_stretched_but_connected_molecule_is_stable():
    """Ethanol's C–C bond stretched by 0.6 Å (the old criterion's limit was 0.5 Å): still below
    1.5× the covalent sum (2.28 Å), so the graph stays in one piece."""
    etoh = molecule("CH3CH2OH")
    direction = etoh.positions[0] - etoh.positions[1]
    frames = list(_moved(etoh, [0, 6, 7, 8], direction, 0.01, 0, 61))
    assert np.linalg.norm(frames[-1].positions[0] - frames[-1].positions[1]) - np.linalg.norm(
        direction
    ) == pytest.approx(0.6)
    mon = StabilityMonitor(total_time_fs=30.0)
    assert _run(mon, frames) is None
    out = mon.finish()
    assert out["stable"] and out["time_to_failure_fs"] == 30.0 and out["max_pieces"] == 1 and out["category"] == ""


def test_molecules_that_start_apart_may_stay_apart():
    """Two waters 4 Å apart: two pieces at the start, so two pieces is not a fragmentation; three is."""
    two = molecule("H2O") + molecule("H2O")
    two.positions[3:] += [0.0, 0.0, 4.0]
    mon = StabilityMonitor()
    assert _run(mon, _moved(two, [3, 4, 5], [0, 0, 1], 0.1, 0, 30)) is None
    assert mon.finish()["pieces_start"] == 2
    mon = StabilityMonitor()
    step = _run(mon, _moved(two, [4], [0, 0, 1], 0.1, 0, 30))
    assert step is not None and mon.finish()["category"] == "fragmentation" and mon.finish()["atoms"] == [4]


# -- acetylacetone's proton ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def acac_test():
    from egbench_core.plugins import load_catalog

    with pytest.MonkeyPatch.context() as mp:
        import tempfile

        mp.setenv("EGBENCH_DATA_DIR", tempfile.mkdtemp())
        return load_catalog(entry_points=False).datasets["acac"].load("test")


def _enol_h(frames):
    """(H, donor O, acceptor O) of frame 0: the H within bonding distance of an oxygen."""
    n = int(frames.n_atoms[0])
    z, x = frames.numbers[:n], frames.positions[:n]
    oxygens = np.flatnonzero(z == 8)
    for h in np.flatnonzero(z == 1):
        d = np.linalg.norm(x[oxygens] - x[h], axis=1)
        if d.min() < 1.2:
            return int(h), int(oxygens[np.argmin(d)]), int(oxygens[np.argmax(d)])
    raise AssertionError("no enol H")


def test_acac_proton_transfer_is_not_a_failure(acac_test):
    """The enol H moved along the O···O line onto the other oxygen (0.98 Å from it): the old
    criterion called this unstable (O–H stretched by > 0.5 Å); the bond graph stays one piece."""
    n = int(acac_test.n_atoms[0])
    start = acac_test.to_atoms(0)
    h, donor, acceptor = _enol_h(acac_test)
    o_d, o_a = start.positions[donor], start.positions[acceptor]
    u = (o_a - o_d) / np.linalg.norm(o_a - o_d)
    end = o_a - 0.98 * u
    frames = []
    for t in np.linspace(0.0, 1.0, 40):
        a = start.copy()
        a.positions[h] = (1 - t) * start.positions[h] + t * end
        frames.append(a)
    assert np.linalg.norm(frames[-1].positions[h] - o_d) - np.linalg.norm(start.positions[h] - o_d) > 0.5
    mon = StabilityMonitor(total_time_fs=19.5)
    assert _run(mon, frames) is None
    out = mon.finish()
    assert out["stable"] and out["max_pieces"] == 1 and out["closest_contact"] > 0.5
    # ... while pulling the same H out of the molecule, away from both oxygens, is a fragmentation
    away = np.cross(u, start.positions[(donor + 1) % n] - o_d)
    mon = StabilityMonitor()
    assert _run(mon, _moved(start, [h], away, 0.05, 0, 60)) is not None
    assert mon.finish()["category"] == "fragmentation" and mon.finish()["atoms"] == [h]


def test_acac_reference_trajectory_hops_and_stays_stable(acac_test):
    """The DFT test split itself: the enol proton changes oxygen (the issue counted 12 hops); as
    a trajectory it has no failure."""
    n = int(acac_test.n_atoms[0])
    h, donor, acceptor = _enol_h(acac_test)
    x = acac_test.positions.reshape(len(acac_test), n, 3)
    on_acceptor = np.linalg.norm(x[:, h] - x[:, acceptor], axis=1) < np.linalg.norm(x[:, h] - x[:, donor], axis=1)
    assert on_acceptor.sum() > 50 and int(np.abs(np.diff(on_acceptor.astype(int))).sum()) >= 10
    out = replay(acac_test)
    assert out["stable"] and out["failed_step"] is None and out["pieces_start"] == 1 and out["max_pieces"] == 1
    assert out["steps_checked"] == len(acac_test) == 650


# -- collapse ----------------------------------------------------------------------------------------
def test_two_atoms_pushed_together_collapse_naming_them():
    water = molecule("H2O")
    direction = water.positions[2] - water.positions[1]
    limit = 0.5 * 2 * covalent_radii[1]  # 0.31 Å
    expected = _first_step_over(water, [1], direction, 0.02, 5, 1, 2, limit)
    mon = StabilityMonitor()
    assert _run(mon, _moved(water, [1], direction, 0.02, 5, 100)) == expected
    out = mon.finish()
    assert out["category"] == "collapse" and out["atoms"] == [1, 2] and "H1 and H2" in out["reason"]


def test_bulk_collapse_across_the_cell_boundary():
    """A simple cubic Cu lattice (3 Å) in which atom 0 walks towards the image of its neighbour
    across the boundary: found by the Verlet contact list (rebuilt as it moves), pair named."""
    a, n = 3.0, 4
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3) * a
    lattice = Atoms(numbers=np.full(len(grid), 29), positions=grid, cell=np.eye(3) * a * n, pbc=True)
    neighbour = int(np.flatnonzero((grid == [a * (n - 1), 0, 0]).all(axis=1))[0])  # atom 0's image neighbour at −x
    limit = 0.5 * 2 * covalent_radii[29]  # 1.32 Å
    per_step = 0.05
    expected = next(s for s in range(200) if a - max(0, s - 3) * per_step < limit)
    mon = StabilityMonitor(total_time_fs=100.0)
    assert _run(mon, _moved(lattice, [0], [-1, 0, 0], per_step, 3, 100)) == expected
    out = mon.finish()
    assert out["category"] == "collapse" and out["atoms"] == sorted([0, neighbour]), out
    assert out["contact_rebuilds"] > 1 and out["fragmentation_checked"] is False and out["pieces_start"] is None


# -- temperature --------------------------------------------------------------------------------------
def _at_temperature(atoms: Atoms, temperature_K: float) -> Atoms:
    a = atoms.copy()
    p = np.random.default_rng(0).normal(size=(len(a), 3))
    a.set_momenta(p)
    a.set_momenta(p * np.sqrt(temperature_K / a.get_temperature()))
    return a


def test_hot_runaway_fails_on_temperature():
    base = molecule("H2O")
    mon = StabilityMonitor(target_temperature_K=300)
    assert mon.update(0, 0.0, _at_temperature(base, 1400), -1.0, np.zeros((3, 3))) is None  # update runs check
    mon = StabilityMonitor(target_temperature_K=300)
    frames = [_at_temperature(base, 300 * (1 + 0.45 * k)) for k in range(12)]  # 300, 435, ... 1380, 1515 K
    assert _run(mon, frames, saved_every=100) == 9  # 1515 K > 1500 K, found by the per-step check alone
    out = mon.finish()
    assert out["category"] == "temperature" and out["atoms"] == [] and "1515.0 K" in out["reason"]
    # no target, or no temperature given: not checked
    assert _run(StabilityMonitor(), frames) is None


# -- bulk structure -------------------------------------------------------------------------------------
def _lattice(rng, sigma):
    a, n = 3.0, 4
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3) * a
    return Atoms(
        numbers=np.full(len(grid), 29),
        positions=grid + rng.normal(0, sigma, grid.shape),
        cell=np.eye(3) * a * n,
        pbc=True,
    )


def _gas(rng, n=64, box=12.0, d_min=2.0):
    """Random positions at least ``d_min`` Å apart (minimum image): a gas that does not collapse."""
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, box, 3)
        d = np.asarray(pos) - p if pos else np.zeros((0, 3))
        d -= box * np.round(d / box)
        if not len(pos) or np.linalg.norm(d, axis=1).min() > d_min:
            pos.append(p)
    return Atoms(numbers=np.full(n, 29), positions=np.array(pos), cell=np.eye(3) * box, pbc=True)


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
    gas = [_gas(rng) for _ in range(20)]
    mon = StabilityMonitor(g_ref=g_ref.to_dict(), rdf_window_steps=10)
    step = _run(mon, [_lattice(rng, 0.1) for _ in range(12)] + gas)
    assert step is not None and 12 < step < 22
    out = mon.finish()
    assert "WF" in mon.reason and out["failed_step"] == step and out["category"] == "structure" and out["atoms"] == []
    # a run shorter than the window never checks it; a molecule ignores g_ref (its bond graph is checked instead)
    assert _run(StabilityMonitor(g_ref=g_ref, rdf_window_steps=10), gas[:9]) is None
    assert _run(StabilityMonitor(g_ref=g_ref, rdf_window_steps=10), [molecule("H2O")] * 30) is None


# -- engine stops, replay, summaries -------------------------------------------------------------------
def test_engine_stop_gets_the_geometric_category_when_the_frame_shows_one():
    water = molecule("H2O")
    mon = StabilityMonitor()
    assert mon.check(0, 0.0, water.positions, water.numbers, np.zeros((3, 3)), [False] * 3) is None
    blown = water.copy()
    blown.positions[2] += [0.0, -1e200, 0.0]  # finite, but far beyond any bond: the engine refused it
    mon.stopped(4, 2.0, "non-finite at step 4: the structure spans 1e+200 Å: it has blown apart", "engine", blown)
    out = mon.finish()
    assert out["category"] == "fragmentation" and out["atoms"] == [2] and out["failed_step"] == 4
    assert "blown apart" in out["reason"] and out["time_to_failure_fs"] == 2.0
    mon = StabilityMonitor()
    mon.stopped(0, 0.0, "non-finite model output at the start frame", "engine", water)  # never started
    assert mon.finish()["category"] == "non-finite" and mon.finish()["failed_step"] == 0
    mon = StabilityMonitor()
    mon.stopped(3, 1.5, "other: said so", "other-observer", None)
    assert mon.finish()["category"] == "other"


def test_replay_of_frames():
    meoh = molecule("CH3OH")
    direction = meoh.positions[1] - meoh.positions[0]
    traj = list(_moved(meoh, [1, 3], direction, 0.05, 5, 40))
    frames = Frames.from_atoms(traj, energies=[0.0] * len(traj), forces=[np.zeros((6, 3))] * len(traj))
    out = replay(frames, spacing_fs=0.5)
    assert out["category"] == "fragmentation" and out["atoms"] == [1, 3] and out["frames"] == 40
    assert out["time_to_failure_fs"] == pytest.approx(0.5 * out["failed_step"])
    ok = replay(frames.subset(range(10)), spacing_fs=0.5)
    closest = min(
        np.linalg.norm(a.positions[i] - a.positions[j]) / (covalent_radii[a.numbers[i]] + covalent_radii[a.numbers[j]])
        for a in traj[:10]
        for i in range(6)
        for j in range(i + 1, 6)
    )
    assert (
        ok["stable"] and ok["time_to_failure_fs"] == 4.5 and ok["closest_contact"] == pytest.approx(closest, rel=1e-12)
    )


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
