"""The batched MD engine against the reference path: velocity Verlet at zero friction (1e-8 Å over
200 steps), the same trajectories as ASE's Langevin with the same seeds, a batch equal to its
replicas run alone, a failed replica dropped while the others go on, and canonical sampling of
the kinetic temperature."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egbench_core.data.readers import Frames
from egbench_core.interfaces import MDPlan
from egbench_core.md.ase_engine import MDSettings, run_md, start_state
from egbench_core.md.batched import run_md_batched
from egbench_core.model.potential import NormalisedPotential
from egbench_core.model.stats import compute_stats

pytestmark = pytest.mark.slow


class _Positions:
    """An observer recording the positions of every saved frame."""

    def __init__(self):
        self.frames: list[np.ndarray] = []

    def update(self, step, time_fs, atoms, energy, forces):
        self.frames.append(atoms.positions.copy())

    def finish(self):
        return {"n": len(self.frames)}


def _recorders(n: int):
    rec = [_Positions() for _ in range(n)]
    return rec, (lambda r: {"positions": rec[r]})


@pytest.fixture(scope="module")
def acac_pot():
    """A float64 toy pair potential fitted to nothing (random smooth weights) for acac's species."""
    from egbench_core.plugins import load_catalog
    from egbench_core.testing.fakes import FakeModelPlugin

    with pytest.MonkeyPatch.context() as mp:
        import tempfile

        mp.setenv("EGBENCH_DATA_DIR", tempfile.mkdtemp())
        cat = load_catalog(extra_plugins=[FakeModelPlugin()], entry_points=False)
        ds = cat.datasets["acac"]
        train, test = ds.load("train"), ds.load("test")
    st = compute_stats(train, 4.0)
    torch.manual_seed(0)
    pot = NormalisedPotential(cat.models["toy-pair"].build(list(st.species), 4.0, {"n_basis": 8}, st).double(), st, 4.0)
    return pot.eval(), test


def test_zero_friction_is_velocity_verlet_to_1e_8(acac_pot):
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from egbench_core.md.calculator import EgbenchCalculator

    pot, frames = acac_pot
    plan = MDPlan("test", "test", temperature_K=300.0, timestep_fs=0.5, friction_per_ps=0.0)
    rec, make = _recorders(1)
    (res,) = run_md_batched(pot, frames, plan, MDSettings(1, 200, 10, 0), None, make)
    assert res.steps_done == 200 and not res.failure
    atoms = start_state(frames.to_atoms(0), plan, np.random.default_rng(0))  # replica 0's seed and draw
    atoms.calc = EgbenchCalculator(pot)
    ref = [atoms.positions.copy()]
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    dyn.attach(lambda: ref.append(atoms.positions.copy()), interval=10)
    dyn.run(200)
    ref = ref[:1] + ref[2:]  # ASE also calls an observer attached with interval 10 at step 0
    assert len(rec[0].frames) == len(ref) == 21
    drift = max(np.abs(a - b).max() for a, b in zip(rec[0].frames, ref))
    assert drift < 1e-8, drift
    assert np.abs(rec[0].frames[-1] - rec[0].frames[0]).max() > 0.05  # the atoms did move


def test_same_seeds_same_trajectories_as_ases_langevin(acac_pot):
    pot, frames = acac_pot
    plan = MDPlan("test", "test", temperature_K=300.0, timestep_fs=0.5, friction_per_ps=5.0)
    settings = MDSettings(3, 100, 10, 7)
    a_rec, a_make = _recorders(3)
    b_rec, b_make = _recorders(3)
    ase_res = run_md(pot, frames, plan, settings, None, a_make, engine="ase")
    batched = run_md(pot, frames, plan, settings, None, b_make, engine="batched")
    for r in range(3):
        assert ase_res[r].seed == batched[r].seed == 7000 + r and ase_res[r].start_frame == batched[r].start_frame
        assert max(np.abs(a - b).max() for a, b in zip(a_rec[r].frames, b_rec[r].frames)) < 1e-8
        assert np.allclose(ase_res[r].potential_energy, batched[r].potential_energy, atol=1e-8, rtol=0)
        assert batched[r].observed["neighbour_rebuilds"] >= 1


def test_a_batch_equals_its_replicas_run_alone(acac_pot):
    from egbench_core.md.batched import _Batch, _Replica

    pot, frames = acac_pot
    plan = MDPlan("test", "test", temperature_K=500.0, timestep_fs=0.5, friction_per_ps=2.0)

    def replicas(indices):
        out, recs = [], []
        for r in indices:
            rng = np.random.default_rng(100 + r)
            rec = _Positions()
            out.append(
                _Replica(
                    r,
                    100 + r,
                    r * 100,
                    start_state(frames.to_atoms(r * 100), plan, rng),
                    rng,
                    60,
                    None,
                    {"positions": rec},
                )
            )
            recs.append(rec)
        return out, recs

    together, rec_together = replicas(range(4))
    _Batch(pot, together, plan, 1.0).run(60, 5, None)
    for r in range(4):
        alone, rec_alone = replicas([r])
        _Batch(pot, alone, plan, 1.0).run(60, 5, None)
        assert len(rec_alone[0].frames) == len(rec_together[r].frames) == 13
        assert max(np.abs(a - b).max() for a, b in zip(rec_alone[0].frames, rec_together[r].frames)) < 1e-10


class _FluorineRunaway(torch.nn.Module):
    """A harmonic well for H, C, O and a force of 1e300 eV/Å on every F atom."""

    def __init__(self):
        super().__init__()
        self.cutoff, self.species = 3.0, (1, 6, 8, 9)
        self.k = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))

    @property
    def dtype(self):
        return torch.float64

    def forward(self, graph):
        z = graph.atomic_numbers
        x = graph.positions.to(torch.float64)
        centre = torch.zeros(graph.num_graphs, 3, dtype=torch.float64).index_add(0, graph.batch, x)
        centre = centre / graph.n_atoms[:, None]
        e_atom = self.k * ((x - centre[graph.batch]) ** 2).sum(dim=1) - 1e300 * x[:, 0] * (z == 9)
        return torch.zeros(graph.num_graphs, dtype=torch.float64).index_add(0, graph.batch, e_atom)


def test_a_failed_replica_is_dropped_and_the_others_go_on():
    from ase.build import molecule

    good = molecule("CH3OH")
    bad = good.copy()
    bad.numbers[2] = 9  # an F atom on which the potential pushes with 1e300 eV/Å
    frames = Frames.from_atoms([good, bad, good.copy()], energies=[0.0] * 3, forces=[np.zeros((6, 3))] * 3)
    plan = MDPlan("test", "test", temperature_K=300.0, timestep_fs=0.5, friction_per_ps=1.0)
    rec, make = _recorders(3)
    results = run_md_batched(_FluorineRunaway(), frames, plan, MDSettings(3, 50, 5, 0), None, make)
    assert results[1].failed_step is not None and results[1].failed_step <= 2 and "blown apart" in results[1].failure
    for r in (0, 2):
        assert results[r].steps_done == 50 and not results[r].failure and len(rec[r].frames) == 11
    # replica 0 and 2 followed exactly the trajectories they follow without their failed batch-mate
    alone_rec, alone_make = _recorders(3)
    alone = Frames.from_atoms([good, good.copy(), good.copy()], energies=[0.0] * 3, forces=[np.zeros((6, 3))] * 3)
    run_md_batched(_FluorineRunaway(), alone, plan, MDSettings(3, 50, 5, 0), None, alone_make)
    for r in (0, 2):
        assert max(np.abs(a - b).max() for a, b in zip(rec[r].frames, alone_rec[r].frames)) < 1e-10


class _Wells(torch.nn.Module):
    """A float64 test potential: every atom in a harmonic well at its place in ``centres`` (k eV/Å²)."""

    def __init__(self, centres: np.ndarray, species: tuple[int, ...], k: float = 2.0):
        super().__init__()
        self.cutoff, self.species = 3.0, species
        self.centres = torch.as_tensor(centres, dtype=torch.float64)
        self.k = torch.nn.Parameter(torch.tensor(k, dtype=torch.float64))

    @property
    def dtype(self):
        return torch.float64

    def well(self, graph) -> torch.Tensor:
        x = graph.positions.to(torch.float64)
        return 0.5 * self.k * ((x - self.centres.repeat(graph.num_graphs, 1)) ** 2).sum(dim=1)

    def forward(self, graph):
        return torch.zeros(graph.num_graphs, dtype=torch.float64).index_add(0, graph.batch, self.well(graph))


class _Einstein(_Wells):
    """E = ½ k Σ |x − x0|²: every atom in its own harmonic well."""

    def __init__(self, centres: np.ndarray, k: float = 2.0):
        super().__init__(centres, (29, 79), k)


def test_kinetic_temperature_is_canonical_on_the_emt_box(emt_frames):
    """16 replicas of the synthetic-emt box (32 Cu/Au atoms), 6000 steps of 1 fs at 600 K, friction
    10 ps⁻¹: mean kinetic temperature within 2 % of the target, its variance within 15 % of the
    canonical 2T²/(3N) (3N = 96 degrees of freedom: nothing is constrained)."""
    test = emt_frames["test"]
    n = int(test.n_atoms[0])
    plan = MDPlan("test", "test", temperature_K=600.0, timestep_fs=1.0, friction_per_ps=10.0)
    pot = _Einstein(test.positions[test.atoms_slice(0)])
    results = run_md_batched(pot, test, plan, MDSettings(16, 6000, 5, 3), None)
    t = np.concatenate([np.asarray(r.temperature_K)[200:] for r in results])  # after 1 ps
    assert all(r.steps_done == 6000 for r in results)
    assert abs(t.mean() / 600.0 - 1) < 0.02, t.mean()
    canonical = 2 * 600.0**2 / (3 * n)
    assert abs(t.var() / canonical - 1) < 0.15, (t.var(), canonical)


class _PullOff(_Wells):
    """Every atom in a harmonic well at its place in ``centres``, except F atoms, pulled along −x
    (away from methanol's C, for its atom 2) by a constant force of ``f`` eV/Å."""

    def __init__(self, centres: np.ndarray, f: float = 20.0, k: float = 2.0):
        super().__init__(centres, (1, 6, 8, 9), k)
        self.f = f

    def forward(self, graph):
        z = graph.atomic_numbers
        e_atom = self.well(graph) * (z != 9) + self.f * graph.positions.to(torch.float64)[:, 0] * (z == 9)
        return torch.zeros(graph.num_graphs, dtype=torch.float64).index_add(0, graph.batch, e_atom)


def test_per_step_stability_checks_give_the_same_verdict_in_both_engines():
    """An F atom pulled off methanol: both engines stop the replica at the same MD step — between
    saved frames (save_every 5), as with every frame saved — with category fragmentation and the F
    atom named; its batch-mate (no F) goes on."""
    from ase.build import molecule

    from egbench_core.analysis import StabilityMonitor

    good = molecule("CH3OH")
    bad = good.copy()
    bad.numbers[2] = 9  # the methyl H2 becomes F
    frames = Frames.from_atoms([bad, good], energies=[0.0] * 2, forces=[np.zeros((6, 3))] * 2)
    plan = MDPlan("test", "test", temperature_K=300.0, timestep_fs=0.5, friction_per_ps=1.0)
    verdicts = {}
    for engine, save_every in (("ase", 5), ("batched", 5), ("batched", 1)):
        res = run_md(
            _PullOff(good.positions),
            frames,
            plan,
            MDSettings(2, 80, save_every, 0),
            None,
            lambda r: {"stability": StabilityMonitor(None, total_time_fs=40.0)},
            engine=engine,
        )
        v = res[0].observed["stability"]
        assert res[0].failed_step is not None and v["failed_step"] == res[0].failed_step
        assert v["category"] == "fragmentation" and v["atoms"] == [2], v
        assert res[0].failure.startswith("stability: fragmentation") and "F2" in res[0].failure
        assert v["steps_checked"] == res[0].failed_step + 1  # every step from the start frame on
        assert res[1].failed_step is None and res[1].observed["stability"]["stable"]
        assert res[1].observed["stability"]["steps_checked"] == 81
        verdicts[(engine, save_every)] = (res[0].failed_step, v["reason"])
    assert len(set(verdicts.values())) == 1, verdicts
    assert verdicts[("ase", 5)][0] % 5 != 0  # a step with no saved frame: found by the per-step check
