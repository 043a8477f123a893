"""Energy/force violation, geometric means, replica aggregation, aligned and oracle series."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.verlet import VelocityVerlet

from egbench_core.analysis import dynamics as dyn


def test_energy_violation_values():
    assert dyn.energy_violation(-3.2, -3.2) == 0.0
    # the formula gives (2E)^2 / (2E^2) = 2 for opposite energies (not 1): EV <= 1 only for same signs
    assert dyn.energy_violation(-3.2, 3.2) == 2.0
    assert dyn.energy_violation(-3.2, 0.0) == 1.0
    assert dyn.energy_violation(-1.0, -3.0) == pytest.approx(4 / 10)
    assert dyn.energy_violation(1.0, 2.0) == pytest.approx(1 / 5)  # (1-2)^2 / (1+4)
    assert dyn.energy_violation(0.0, 0.0) == 0.0  # 0/0 counts as agreement
    np.testing.assert_allclose(dyn.energy_violation([1.0, 2.0, -1.0], [1.0, 1.0, 1.0]), [0.0, 1 / 5, 2.0])


def test_force_violation_values():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(7, 3))
    assert dyn.force_violation(f, f) == 0.0
    assert dyn.force_violation(f, -f) == pytest.approx(1.0)
    assert dyn.force_violation(2 * f, f) == pytest.approx(1 / 3)  # |F| / (2|F| + |F|)
    assert dyn.force_violation(f, np.zeros_like(f)) == pytest.approx(1.0)
    assert dyn.force_violation(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
    series = np.stack([f, f, 2 * f])
    np.testing.assert_allclose(dyn.force_violation(series, np.stack([f, -f, f])), [0.0, 1.0, 1 / 3])


def test_force_violation_uses_the_frame_norm_not_per_atom():
    # atom 0 exact, atom 1 reversed: |dF| = 2|f1|, sum of norms = 2 sqrt(|f0|^2 + |f1|^2)
    fm = np.array([[3.0, 0, 0], [0, 4.0, 0]])
    fr = np.array([[3.0, 0, 0], [0, -4.0, 0]])
    assert dyn.force_violation(fm, fr) == pytest.approx(8.0 / (2 * 5.0))


def test_geometric_mean_and_floor():
    assert dyn.geometric_mean([1e-2, 1e-4]) == pytest.approx(1e-3)
    assert dyn.geometric_mean([0.0, 1e-4]) == pytest.approx(np.sqrt(1e-12 * 1e-4))
    assert dyn.geometric_mean([0.0, 0.0]) == pytest.approx(1e-12)
    assert dyn.geometric_mean([0.0, 1e-4], floor=1e-6) == pytest.approx(1e-5)
    assert np.isnan(dyn.geometric_mean([]))


def test_aggregate_replicas():
    out = dyn.aggregate_replicas([[1e-2, 1e-4], [1e-3], [4e-3, 4e-3]])
    assert out["per_replica"] == pytest.approx([1e-3, 1e-3, 4e-3])
    assert out["mean"] == pytest.approx(2e-3)
    assert out["std"] == pytest.approx(np.std([1e-3, 1e-3, 4e-3]))
    assert out["n"] == 3 and out["n_skipped"] == 0
    skipped = dyn.aggregate_replicas([[1e-2, 1e-4], []])
    assert skipped["mean"] == pytest.approx(1e-3) and skipped["n"] == 1 and skipped["n_skipped"] == 1


def test_aligned_series_respects_the_reference_spacing():
    rng = np.random.default_rng(2)
    n_ref = 5  # reference frames at 0, 0.5, 1.0, 1.5, 2.0 fs
    e_ref = np.arange(1.0, n_ref + 1.0)
    f_ref = rng.normal(size=(n_ref, 4, 3))
    # model saved every 1 fs: t = 0..3 fs -> reference frames 0, 2, 4 (t = 3 fs is beyond the reference)
    t = np.array([0.0, 1.0, 2.0, 3.0])
    e_model = np.array([e_ref[0], -e_ref[2], e_ref[4], 0.0])
    f_model = np.stack([f_ref[0], -f_ref[2], 2 * f_ref[4], f_ref[0]])
    s = dyn.aligned_series(t, e_model, f_model, e_ref, f_ref, ref_spacing_fs=0.5)
    assert s.mode == "aligned"
    np.testing.assert_array_equal(s.ref_index, [0, 2, 4])
    np.testing.assert_allclose(s.time_fs, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(s.ev, [0.0, 2.0, 0.0])
    np.testing.assert_allclose(s.fv, [0.0, 1.0, 1 / 3])
    # model every 0.25 fs: only t = 0 and 0.5 fall on reference frames
    s2 = dyn.aligned_series([0.0, 0.25, 0.5, 0.75], e_ref[[0, 0, 1, 1]], f_ref[[0, 0, 1, 1]], e_ref, f_ref, 0.5)
    np.testing.assert_array_equal(s2.ref_index, [0, 1])
    np.testing.assert_allclose(s2.ev, 0.0)
    # starting from reference frame 2: model t = 0 <-> frame 2, t = 1 fs <-> frame 4
    s3 = dyn.aligned_series([0.0, 1.0], e_ref[[2, 4]], f_ref[[2, 4]], e_ref, f_ref, 0.5, ref_start_index=2)
    np.testing.assert_array_equal(s3.ref_index, [2, 4])
    np.testing.assert_allclose(s3.fv, 0.0)


def _emt_md(observer, steps: int = 6, energy_shift: float = 0.0):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=1)
    atoms.calc = EMT()
    atoms.set_momenta(np.random.default_rng(0).normal(0.0, 0.05, (len(atoms), 3)))  # small momenta (ASE units)
    dyn = VelocityVerlet(atoms, 2.0 * units.fs)
    for step in range(steps):
        if step:
            dyn.run(1)
        observer.update(step, 2.0 * step, atoms, atoms.get_potential_energy() + energy_shift, atoms.get_forces())
    return observer.finish()


def test_oracle_equal_to_model_gives_zero():
    out = _emt_md(dyn.OracleObserver(EMT))
    assert out["mode"] == "oracle" and out["n_frames"] == 6
    assert max(out["ev"]) < 1e-12 and max(out["fv"]) < 1e-12
    assert out["time_fs"] == pytest.approx([0, 2, 4, 6, 8, 10])
    assert out["ev_gmean"] == pytest.approx(1e-12)  # all zeros hit the floor


def test_oracle_every_and_energy_shift():
    out = _emt_md(dyn.OracleObserver(EMT, every=2), energy_shift=0.1)
    assert out["time_fs"] == pytest.approx([0, 4, 8])
    e_ref = np.array(out["energy_ref"])
    np.testing.assert_allclose(out["ev"], 0.01 / ((e_ref + 0.1) ** 2 + e_ref**2))
    assert max(out["fv"]) < 1e-12
    summary = dyn.summarise_violations([out, dyn.ViolationSeries.from_dict(out)])
    assert summary["mode"] == "oracle" and summary["ev"]["n"] == 2 and summary["ev"]["std"] == pytest.approx(0.0)


def test_oracle_skips_non_finite_frames_and_survives_reference_errors():
    class Broken:
        def get_potential_energy(self, atoms=None):
            raise RuntimeError("SCF did not converge")

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    obs = dyn.OracleObserver(lambda: EMT())
    assert obs.update(0, 0.0, atoms, float("nan"), np.zeros((4, 3))) is None
    assert obs.finish()["n_frames"] == 0
    bad = dyn.OracleObserver(lambda: Broken())
    bad.update(0, 0.0, atoms, -1.0, np.zeros((4, 3)))
    out = bad.finish()
    assert out["n_frames"] == 0 and out["n_reference_errors"] == 1 and "SCF" in out["first_error"]


def test_replica_summary_uses_the_sample_std():
    from egbench_core.analysis import ViolationSeries, summarise_violations

    series = [
        ViolationSeries("oracle", np.arange(3.0), np.full(3, v), np.full(3, 2 * v), np.zeros(0, np.int64))
        for v in (0.1, 0.2, 0.4)
    ]
    s = summarise_violations(series)
    assert s["ev"]["mean"] == pytest.approx(np.mean([0.1, 0.2, 0.4]))
    assert s["ev"]["std"] == pytest.approx(np.std([0.1, 0.2, 0.4], ddof=1))
    assert s["fv"]["std"] == pytest.approx(np.std([0.2, 0.4, 0.8], ddof=1))
