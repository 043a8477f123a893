"""The trainer (loss goes down, seeds, early stopping, time budget, EMA, best checkpoint) and
forward MD (replicas, trajectories, seeds, failures) with the toy pair model on synthetic-emt."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from egbench_core.data.readers import read_extxyz
from egbench_core.interfaces import MDPlan
from egbench_core.md.ase_engine import MDSettings, run_md, start_indices
from egbench_core.model.potential import NormalisedPotential
from egbench_core.model.predict import predict
from egbench_core.model.stats import compute_stats
from egbench_core.model.train import TrainConfig, train

CUTOFF = 4.0


@pytest.fixture
def small(emt_frames):
    """40 training and 10 validation frames of synthetic-emt (32 atoms each)."""
    return emt_frames["train"].subset(np.arange(40)), emt_frames["val"].subset(np.arange(10))


@pytest.fixture
def make_pot(toy):
    """``make_pot(frames, seed, dtype)``: a seeded toy pair potential normalised on ``frames``."""

    def make(frames, seed: int, dtype=torch.float32) -> NormalisedPotential:
        stats = compute_stats(frames, CUTOFF)
        torch.manual_seed(seed)
        # only the model is cast: the reference energies stay float64 (NormalisedPotential.to(float32)
        # would cast them too)
        return NormalisedPotential(toy.Model(len(stats.species), CUTOFF, n_basis=6).to(dtype), stats, CUTOFF)

    return make


def _cfg(**kw) -> TrainConfig:
    base = {"epochs": 3, "batch_size": 8, "lr": 1e-2}
    base.update(kw)
    return TrainConfig.from_dict(base)


def _loss(pot, frames, cfg: TrainConfig) -> float:
    """The documented loss, computed independently from predictions."""
    e, f = predict(pot, frames)
    s = float(pot.scale)
    le = np.mean(((e - frames.energy) / (frames.n_atoms * s)) ** 2)
    lf = np.mean(((f - frames.forces) / s) ** 2)
    return cfg.energy_weight * le + cfg.force_weight * lf


def _weights(pot) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in pot.state_dict().items()}


def _strip_times(history):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]


# -- training ---------------------------------------------------------------------------
def test_training_lowers_validation_loss(small, make_pot):
    tr, va = small
    pot = make_pot(tr, seed=0)
    cfg = _cfg(epochs=8)
    before = _loss(pot, va, cfg)
    f_rmse_before = np.sqrt(np.mean((predict(pot, va)[1] - va.forces) ** 2))
    rec = train(pot, tr, va, cfg, seed=0)
    after = _loss(pot, va, cfg)
    assert rec.epochs_run == 8 and rec.stop_reason == "epoch limit 8 reached"
    assert after < 0.8 * before
    assert rec.best_val_loss < rec.history[0]["val_loss"]
    assert np.sqrt(np.mean((predict(pot, va)[1] - va.forces) ** 2)) < f_rmse_before
    assert rec.n_parameters == 2 * 2 * 6 and rec.seed == 0
    assert rec.time_per_epoch_s > 0 and rec.total_time_s >= rec.time_per_epoch_s
    assert [r["epoch"] for r in rec.history] == list(range(1, 9))


def test_same_seed_is_bit_identical_different_seed_differs(small, make_pot):
    tr, va = small
    runs = []
    for seed in (7, 7, 8):
        pot = make_pot(tr, seed=seed)
        rec = train(pot, tr, va, _cfg(epochs=2), seed=seed)
        runs.append((_weights(pot), _strip_times(rec.history)))
    (w1, h1), (w2, h2), (w3, h3) = runs
    assert h1 == h2
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert h1 != h3
    assert not torch.equal(w1["model.weights"], w3["model.weights"])


def test_batch_order_follows_the_training_seed(small, make_pot):
    tr, va = small
    out = []
    for seed in (1, 2):
        pot = make_pot(tr, seed=0)  # same initial weights
        train(pot, tr, va, _cfg(epochs=1, batch_size=4), seed=seed)
        out.append(_weights(pot)["model.weights"])
    assert not torch.equal(out[0], out[1])


def test_early_stopping_stops_at_patience(small, make_pot):
    tr, va = small
    pot = make_pot(tr, seed=0)
    rec = train(pot, tr, va, _cfg(epochs=50, lr=0.0, min_lr=0.0, early_stop_patience=3), seed=0)
    # lr 0: the validation loss never improves after epoch 1
    assert rec.best_epoch == 1
    assert rec.epochs_run == 4
    assert rec.stop_reason == "early stop: no validation improvement for 3 epochs"
    assert len({r["val_loss"] for r in rec.history}) == 1


def test_learning_rate_floor_stops_training(small, make_pot):
    tr, va = small
    rec = train(make_pot(tr, seed=0), tr, va, _cfg(epochs=50, lr=1e-7), seed=0)
    assert rec.epochs_run == 1 and "min_lr" in rec.stop_reason


def test_wall_clock_budget_stops_training(small, make_pot):
    tr, va = small
    rec = train(make_pot(tr, seed=0), tr, va, _cfg(epochs=10_000, max_time_s=1.0), seed=0)
    assert 1 <= rec.epochs_run < 10_000
    assert rec.total_time_s >= 1.0
    assert rec.truncated and rec.stop_reason.startswith("truncated: the wall-clock guard of 1 s fired after")
    assert f"after {rec.epochs_run} of 10000 epochs" in rec.stop_reason


def test_sub_second_budget_is_named_exactly(small, make_pot):
    tr, va = small
    rec = train(make_pot(tr, seed=0), tr, va, _cfg(epochs=10_000, max_time_s=0.25), seed=0)
    assert "0.25 s" in rec.stop_reason


def test_ema_runs_and_changes_the_result(small, make_pot):
    tr, va = small
    plain = make_pot(tr, seed=3)
    train(plain, tr, va, _cfg(epochs=3), seed=3)
    ema = make_pot(tr, seed=3)
    cfg = _cfg(epochs=3, ema_decay=0.5)
    rec = train(ema, tr, va, cfg, seed=3)
    assert rec.epochs_run == 3 and all(math.isfinite(r["val_loss"]) for r in rec.history)
    assert not torch.equal(_weights(plain)["model.weights"], _weights(ema)["model.weights"])
    # validation ran on the averaged weights, and those are what the potential holds now
    assert _loss(ema, va, cfg) == pytest.approx(rec.best_val_loss, rel=1e-5)


def test_best_checkpoint_is_restored(small, make_pot):
    tr, va = small
    pot = make_pot(tr, seed=0)

    def sabotage(epoch, total, row):  # after epoch 3 the weights are wrecked: epochs 4-5 are worse
        if epoch == 3:
            with torch.no_grad():
                pot.model.weights.mul_(-40.0)

    cfg = _cfg(epochs=5, lr=1e-3)
    rec = train(pot, tr, va, cfg, seed=0, on_epoch=sabotage)
    vals = [r["val_loss"] for r in rec.history]
    assert rec.epochs_run == 5 and rec.best_epoch == 3
    assert rec.best_val_loss == vals[2] == min(vals)
    assert vals[3] > 2 * rec.best_val_loss and vals[4] > 2 * rec.best_val_loss
    assert _loss(pot, va, cfg) == pytest.approx(rec.best_val_loss, rel=1e-5)
    assert not pot.training


def test_float64_training(small, make_pot):
    tr, va = small
    pot = make_pot(tr, seed=0)
    cfg = _cfg(epochs=2, dtype="float64")
    rec = train(pot, tr, va, cfg, seed=0)
    assert pot.dtype == torch.float64
    assert _loss(pot, va, cfg) == pytest.approx(rec.best_val_loss, rel=1e-10)


def test_training_keeps_reference_energies_in_float64(small, make_pot):
    tr, va = small
    tr, va = tr.subset(np.arange(len(tr))), va.subset(np.arange(len(va)))  # copies
    for f in (tr, va):  # all-electron-like reference energies: -1029.84 eV per Cu, -2041.56 eV per Au
        offset = np.where(f.numbers == 29, -1029.84, -2041.56)
        f.energy = f.energy + np.array([offset[f.atoms_slice(k)].sum() for k in range(len(f))])
    pot = make_pot(tr, seed=0)
    e0 = pot.e0.clone()
    assert e0.dtype == torch.float64 and e0[0] < -1000
    train(pot, tr, va, _cfg(epochs=1), seed=0)
    # 32 atoms: float32 rounding of E0 (~1e-4 eV at 2000 eV) shifts total energies by up to ~meV
    assert float((pot.e0 - e0).abs().max()) * 32 < 1e-6


def test_normalised_potential_survives_float32_cast(small, toy):
    tr, _ = small
    stats = compute_stats(tr, CUTOFF)
    pot = NormalisedPotential(toy.Model(len(stats.species), CUTOFF), stats, CUTOFF).float()
    e, _ = predict(pot, tr.subset([0]))
    assert pot.e0.dtype == torch.float64 and np.isfinite(e).all()


def test_train_config_validation():
    with pytest.raises(ValueError, match="epochz"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="sgd"):
        TrainConfig.from_dict({"optimizer": "sgd"})
    with pytest.raises(ValueError, match="float16"):
        TrainConfig.from_dict({"dtype": "float16"})


# -- MD ---------------------------------------------------------------------------------
def test_start_indices_are_evenly_spaced():
    assert start_indices(1000, 5) == [0, 200, 400, 600, 800]
    assert start_indices(100, 2) == [0, 50]
    assert start_indices(7, 7) == list(range(7))
    with pytest.raises(ValueError, match="replicas"):
        start_indices(3, 4)


def _md_plan(T=600.0) -> MDPlan:
    return MDPlan(start_split="test", reference_split="test", temperature_K=T, timestep_fs=1.0, friction_per_ps=0.5)


@pytest.fixture
def md_setup(emt_frames, make_pot):
    test = emt_frames["test"]
    pot = make_pot(emt_frames["train"].subset(np.arange(20)), seed=0, dtype=torch.float64)
    with torch.no_grad():
        pot.model.weights.mul_(0.1)  # gentle forces: 10 steps stay physical
    return pot, test


def test_run_md_writes_trajectories(md_setup, tmp_path):
    pot, test = md_setup
    results = run_md(pot, test, _md_plan(), MDSettings(replicas=2, steps=10, save_every=1, seed=3), tmp_path / "md")
    assert len(results) == 2
    assert [r.start_frame for r in results] == start_indices(len(test), 2) == [0, 50]
    assert [r.seed for r in results] == [3000, 3001]
    for r in results:
        assert r.failed_step is None and r.failure == ""
        assert r.steps_done == 10 and r.steps_requested == 10 and r.n_atoms == 32
        assert r.time_per_step_ms > 0
        assert r.times_fs == [float(k) for k in range(11)]
        traj = read_extxyz(tmp_path / "md" / f"replica-{r.index}.extxyz")
        assert r.trajectory == str(tmp_path / "md" / f"replica-{r.index}.extxyz")
        assert len(traj) == 11 and (traj.n_atoms == 32).all() and traj.pbc.all()
        assert np.isfinite(traj.energy).all() and np.isfinite(traj.forces).all()
        np.testing.assert_allclose(traj.energy, r.potential_energy, atol=1e-9)
        start = test.subset([r.start_frame])
        np.testing.assert_allclose(traj.positions[:32], start.positions, atol=1e-7)
        np.testing.assert_allclose(traj.cell[0], start.cell[0], atol=1e-7)
        assert not np.allclose(traj.positions[-32:], start.positions, atol=1e-4)  # atoms moved
        # the stored forces are the model's at the saved positions
        e, f = predict(pot, traj.subset([10]))
        np.testing.assert_allclose(f, traj.forces[-32:], atol=1e-6)
        assert e[0] == pytest.approx(traj.energy[-1], abs=1e-6)
        assert len(r.temperature_K) == 11 and all(t > 0 for t in r.temperature_K)


def test_md_same_seed_same_trajectory(md_setup, tmp_path):
    pot, test = md_setup
    texts = []
    for k, seed in enumerate((5, 5, 6)):
        out = tmp_path / f"run{k}"
        run_md(pot, test, _md_plan(), MDSettings(replicas=1, steps=8, seed=seed), out)
        texts.append((out / "replica-0.extxyz").read_text())
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


class NaNAfter(torch.nn.Module):
    """Returns NaN energies from the ``after``-th call on."""

    def __init__(self, inner: torch.nn.Module, after: int):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def forward(self, graph):
        self.calls += 1
        out = self.inner(graph)
        return out * float("nan") if self.calls >= self.after else out


def test_md_failure_ends_replica_without_exception(md_setup, tmp_path):
    pot, test = md_setup
    pot.model = NaNAfter(pot.model, after=5)  # call 1: initial forces, call k+1: step k
    results = run_md(pot, test, _md_plan(), MDSettings(replicas=1, steps=10, seed=0), tmp_path)
    r = results[0]
    assert r.failed_step == 4
    assert "non-finite" in r.failure and "step 4" in r.failure
    assert r.steps_done == 3
    assert math.isfinite(r.time_per_step_ms) and r.time_per_step_ms > 0
    traj = read_extxyz(tmp_path / "replica-0.extxyz")
    assert len(traj) == 4 and np.isfinite(traj.energy).all()  # steps 0-3 only, no NaN frame written


def test_md_failure_on_the_start_frame_is_recorded(md_setup, tmp_path):
    pot, test = md_setup
    pot.model = NaNAfter(pot.model, after=1)
    r = run_md(pot, test, _md_plan(), MDSettings(replicas=1, steps=5, seed=0), tmp_path)[0]
    assert r.failed_step == 0 and "non-finite" in r.failure and r.steps_done == 0


def test_max_batch_atoms_caps_frames_per_batch(small, make_pot):
    from egbench_core.model.train import frames_per_batch

    tr, va = small  # 32 atoms per frame
    assert frames_per_batch(_cfg(batch_size=10), tr) == 10
    assert frames_per_batch(_cfg(batch_size=10, max_batch_atoms=150), tr) == 5  # round(150 / 32)
    assert frames_per_batch(_cfg(batch_size=10, max_batch_atoms=10), tr) == 1  # never zero
    rec = train(make_pot(tr, seed=0), tr, va, _cfg(epochs=1, batch_size=10, max_batch_atoms=150), seed=0)
    assert rec.frames_per_batch == 5


def test_statistics_training_and_predictions_share_one_set_of_neighbour_lists(small, toy, monkeypatch):
    """With one NeighbourLists, each frame's list is built once for compute_stats, train and predict,
    and every number is the same as with lists built separately by each."""
    from egbench_core.model import graph, neighbours

    tr, va = small

    def run(neighbours):
        stats = compute_stats(tr, CUTOFF, neighbours=neighbours)
        torch.manual_seed(0)
        pot = NormalisedPotential(toy.Model(len(stats.species), CUTOFF, n_basis=6), stats, CUTOFF)
        rec = train(pot, tr, va, _cfg(epochs=2), seed=0, neighbours=neighbours)
        return stats, [r["val_loss"] for r in rec.history], predict(pot, va, neighbours=neighbours)

    separate = run(None)
    calls = []
    real = neighbours.neighbour_list
    monkeypatch.setattr(neighbours, "neighbour_list", lambda *a: calls.append(1) or real(*a))
    cache = graph.NeighbourLists()
    shared = run(cache)
    assert len(calls) == len(tr) + len(va) == cache.built
    assert shared[0] == separate[0] and shared[1] == separate[1]
    for a, b in zip(shared[2], separate[2]):
        np.testing.assert_array_equal(a, b)
