"""Oracles on the frames a model visits: the exact EMT oracle of synthetic-emt, a calibrated oracle
(accepted, its offset removed), a refused one (calibration above 5 meV/Å), the cache (a re-run
computes nothing), and the CLI switch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from egbench_core.data.datasets import GeneratedDataset, SplitInfo
from egbench_core.data.synthetic import EMT_PARAMS, emt_oracle, generate_emt
from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import OracleSpec
from egbench_core.plugins import load_catalog
from egbench_core.run.oracles import OracleCache, calibrate, frame_key, resolve, sample_indices
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store

pytestmark = pytest.mark.slow


class _Biased:
    """EMT whose energies are shifted by ``offset`` eV and forces scaled by ``scale``."""

    def __init__(self, offset: float, scale: float):
        from ase.calculators.calculator import Calculator

        class Calc(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=()):
                super().calculate(atoms, properties, system_changes)
                a = self.atoms.copy()
                a.calc = emt_oracle()
                self.results = {"energy": a.get_potential_energy() + offset, "forces": scale * a.get_forces()}

        self.calc = Calc()


class _OraclePlugin:
    """Two oracles over EMT — one offset by +0.5 eV (acceptable), one with forces 10 % too large —
    and two datasets (synthetic-emt's frames) that declare them as calibrated oracles."""

    @hookimpl
    def register_oracles(self, register):
        register(OracleSpec("shifted-emt", make=lambda p: _Biased(float(p["offset"]), 1.0).calc, version="1"))
        register(OracleSpec("stretched-emt", make=lambda p: _Biased(0.0, float(p["scale"])).calc, version="1"))

    @hookimpl
    def register_datasets(self, register, registry):
        p = EMT_PARAMS
        for name, decl in (
            (
                "emt-shifted",
                {"plugin": "shifted-emt", "level": "EMT + 0.5 eV", "params": {"offset": 0.5}, "frames_per_replica": 4},
            ),
            ("emt-stretched", {"plugin": "stretched-emt", "level": "EMT, forces × 1.1", "params": {"scale": 1.1}}),
        ):
            ds = GeneratedDataset(
                name=name,
                generate=generate_emt,
                params=p,
                oracle=None,
                splits={
                    "train": SplitInfo("train", p["train"]),
                    "val": SplitInfo("val", p["val"]),
                    "test": SplitInfo("test", p["test"], tags=("test",)),
                },
                elements=["Cu", "Au"],
                periodic=True,
                temperature_K=p["temperature_K"],
                timestep_fs=p["timestep_fs"],
                extra={"oracle": decl},
            )
            ds.cache_path = lambda: _shared_cache()  # the same generated frames as synthetic-emt
            register(ds)


def _shared_cache():
    return load_catalog(entry_points=False).datasets["synthetic-emt"].cache_path()


@pytest.fixture
def catalog(emt_env, toy):
    return load_catalog(extra_plugins=[toy.Plugin(), _OraclePlugin()], entry_points=False)


def test_exact_oracle_gives_errors_where_the_model_goes(catalog, tmp_path):
    cells = plan_cells(catalog, "toy-pair", "synthetic-emt", preset="smoke")
    assert cells[0].provenance["oracle"]["name"] == "emt"  # an exact oracle is in the key, always on
    store = Store(tmp_path / "out")
    assert run_cells(cells, catalog, store).done == 1
    key = cells[0].key
    m = {(x["name"], x["mode"]): x for x in store.metrics(key)}
    oracle_file = next(p for k, p in store.artifacts(key) if p.name == "oracle.json")
    samples = json.loads(oracle_file.read_text())
    reps = [r for r in samples["replicas"] if r["frames"]]
    assert samples["oracle"]["exact"] and len(reps) == 2
    # exact oracle: every saved stable frame after the start frame (smoke: 20 steps, every step saved)
    assert all(r["frames"] >= 1 for r in reps)
    per_rep = [np.sum(r["force_abs_err_sum"]) / np.sum(r["n_force"]) for r in reps]
    assert m[("md_force_mae", "oracle")]["value"] == pytest.approx(np.mean(per_rep))
    assert m[("md_force_mae", "oracle")]["n"] == sum(r["frames"] for r in reps)
    test_mae = next(x["value"] for x in store.metrics(key) if x["name"] == "force_mae")
    assert m[("md_force_drift", "oracle")]["value"] == pytest.approx(np.mean([v / test_mae for v in per_rep]))
    e_rep = [np.mean(np.abs(np.subtract(r["energy_model"], r["energy_oracle"]))) / r["n_atoms"] for r in reps]
    assert m[("md_energy_mae_per_atom", "oracle")]["value"] == pytest.approx(np.mean(e_rep))
    # the oracle's numbers are EMT's: recompute one sampled frame from the trajectory
    from egbench_core.data.readers import read_extxyz

    traj = read_extxyz(sorted(p for k, p in store.artifacts(key) if k == "trajectory")[reps[0]["replica"]])
    a = traj.to_atoms(int(round(reps[0]["time_fs"][0] / EMT_PARAMS["timestep_fs"])))  # smoke saves every step
    a.calc = emt_oracle()
    assert reps[0]["energy_oracle"][0] == pytest.approx(a.get_potential_energy(), abs=1e-6)


def test_a_calibrated_oracle_removes_its_offset_and_caches_every_frame(catalog, tmp_path):
    oracle, _ = resolve(catalog, catalog.datasets["emt-shifted"])
    cal = calibrate(oracle, catalog.datasets["emt-shifted"])
    assert cal.accepted and len(cal.frames) == 8 and cal.split == "test"
    assert cal.force_mae == pytest.approx(0.0, abs=1e-9) and cal.energy_offset_mean == pytest.approx(0.5, abs=1e-9)
    assert cal.energy_offset_std == pytest.approx(0.0, abs=1e-9)
    cells = plan_cells(catalog, "toy-pair", "emt-shifted", preset="smoke", oracle="on")
    store = Store(tmp_path / "out")
    assert run_cells(cells, catalog, store).done == 1
    key = cells[0].key
    m = {(x["name"], x["mode"]): x for x in store.metrics(key)}
    samples = json.loads(next(p for k, p in store.artifacts(key) if p.name == "oracle.json").read_text())
    reps = [r for r in samples["replicas"] if r["frames"]]
    assert all(r["frames"] <= 4 for r in reps)  # frames_per_replica of the declaration
    # the offset is removed: the energy error is the model's against EMT itself
    e_rep = [
        np.mean(np.abs(np.asarray(r["energy_model"]) - (np.asarray(r["energy_oracle"]) - 0.5))) / r["n_atoms"]
        for r in reps
    ]
    assert m[("md_energy_mae_per_atom", "oracle")]["value"] == pytest.approx(np.mean(e_rep))
    assert "+500.00 meV removed" in m[("md_energy_mae_per_atom", "oracle")]["note"]
    assert ("ev", "oracle") in m and ("fv", "oracle") in m  # violations on the sampled frames
    info = store.cell(key).info["oracle"]
    assert info["calibration"]["energy_offset_mean"] == pytest.approx(0.5) and info["oracle"]["level"] == "EMT + 0.5 eV"
    assert samples["computed"] == sum(r["frames"] for r in reps)
    from egbench_core.report.leaderboard import oracle_calibrations

    _, rows = oracle_calibrations(store)
    assert rows == [["emt-shifted", oracle.id, "EMT + 0.5 eV", "8", "0.00", "0.00", "+500.00 ± 0.00", "yes"]]
    # the same frames again: all from the cache
    cache = OracleCache(oracle)
    from egbench_core.data.readers import read_extxyz

    traj = read_extxyz(next(p for k, p in store.artifacts(key) if k == "trajectory"))
    cache.evaluate(traj.to_atoms(1))
    assert (cache.computed, cache.reused) == (0, 1)


def test_an_oracle_that_fails_calibration_is_refused_with_its_numbers(catalog, tmp_path):
    cells = plan_cells(catalog, "toy-pair", "emt-stretched", preset="smoke", oracle="on")
    store = Store(tmp_path / "out")
    assert run_cells(cells, catalog, store).done == 1
    m = {(x["name"], x["mode"]): x for x in store.metrics(cells[0].key)}
    hit = m[("md_force_mae", "")]
    assert hit["value"] is None and "refused" in hit["note"] and "exceeds 5 meV/Å" in hit["note"]
    cal = store.cell(cells[0].key).info["oracle"]["calibration"]
    assert not cal["accepted"] and cal["force_mae"] > 5e-3


def test_an_expensive_oracle_is_opt_in_and_in_the_key(catalog):
    off = plan_cells(catalog, "toy-pair", "emt-shifted", preset="smoke")
    on = plan_cells(catalog, "toy-pair", "emt-shifted", preset="smoke", oracle="on")
    assert "is opt-in for this preset" in off[0].provenance["oracle"]["none"]  # the note its results carry
    assert on[0].provenance["oracle"]["name"] == "shifted-emt"
    assert off[0].key != on[0].key


def test_sampling_and_frame_keys():
    from ase.build import molecule

    assert sample_indices(1, 10) == [] and sample_indices(5, 10) == [1, 2, 3, 4]
    assert sample_indices(101, 10) == [1, 12, 23, 34, 45, 56, 67, 78, 89, 100]
    assert sample_indices(101, None) == list(range(1, 101))
    a = molecule("H2O")
    b = a.copy()
    b.positions[0, 0] += 1e-10  # below the key's 1e-8 Å resolution
    c = a.copy()
    c.positions[0, 0] += 1e-6
    assert frame_key(a) == frame_key(b) != frame_key(c)
