"""Simulation metrics end to end: a model trained briefly on the EMT dataset, simulated, scored
against EMT on its own frames (oracle mode); the same model as its own oracle gives EV = FV = 0."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from egbench_core.default_plugins import md_metrics
from egbench_core.md.calculator import EgbenchCalculator
from egbench_core.plugins import load_catalog
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store


def test_oracle_mode_end_to_end(emt_data_dir, toy, tmp_path, monkeypatch):
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(emt_data_dir))
    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    cells = plan_cells(cat, "toy-pair", "synthetic-emt,acac", "standard", "smoke", 0)
    store = Store(tmp_path / "res")
    assert run_cells(cells, cat, store).done == 2
    by = {c.dataset: {(m["name"], m["mode"]): m for m in store.metrics(c.key)} for c in cells}

    emt = by["synthetic-emt"]
    for name in ("ev", "fv"):
        oracle = emt[(name, "oracle")]
        assert oracle["n"] == 2 and np.isfinite(oracle["value"]) and oracle["value"] > 0
        assert "stable part" in oracle["note"]
    assert 0 < emt[("fv", "oracle")]["value"] < 1
    assert ("fv", "aligned") in emt  # the EMT test split is a contiguous trajectory
    assert emt[("wf", "")]["value"] > 0 and 0 <= emt[("jsd", "")]["value"] <= math.log(2)

    acac = by["acac"]  # no oracle, no contiguous reference: not applicable, never 0
    assert acac[("ev", "")]["value"] is None and "not applicable" in acac[("ev", "")]["note"]

    # stability v2: per-category failure counts add up to the unstable replicas; the artifact has
    # each replica's verdict (category, atoms), the counts and the survival curve
    for c in cells:
        values = by[c.dataset]
        counts = [
            values[(f"failures_{k}", "")]["value"]
            for k in ("non_finite", "fragmentation", "collapse", "structure", "temperature")
        ]
        stable = values[("stable_fraction", "")]
        assert stable["n"] == 2 and sum(counts) == round((1 - stable["value"]) * 2)
        path = dict(store.artifacts(c.key))["stability"]
        art = json.loads(Path(path).read_text())
        assert art["criterion"]["version"] == "2" and len(art["categories"]) == len(art["atoms"]) == 2
        assert sum(art["counts"].values()) == sum(counts) and len(art["survival"]["fraction"]) == 101
        assert art["survival"]["fraction"][0] == 1.0 and art["survival"]["fraction"][-1] == stable["value"]
        if c.dataset == "acac":
            assert art["pieces_start"] == [1, 1]  # a molecule: its bond graph is watched


def test_model_as_its_own_oracle_gives_zero_violation(emt_data_dir, toy, tmp_path, monkeypatch):
    """Score a trained model's MD against the same model: EV = FV = 0 up to rounding (the batched
    engine sums the float32 model's edges in another order than a fresh evaluation of one frame)."""
    import torch

    from egbench_core.cell import Execution
    from egbench_core.run.execute import load_inputs, run_model
    from egbench_core.run.model_job import ModelJob
    from egbench_core.run.protocol import protocol

    monkeypatch.setenv("EGBENCH_DATA_DIR", str(emt_data_dir))
    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    (cell,) = plan_cells(cat, "toy-pair", "synthetic-emt", "standard", "smoke", 0)
    proto = protocol("smoke")
    inputs = load_inputs(cell, cat, proto)
    ds = cat.datasets["synthetic-emt"]
    holder = {}

    class SelfOracle:  # the dataset, with the trained model itself as its oracle
        def __getattr__(self, k):
            return getattr(ds, k)

        def oracle(self):
            return EgbenchCalculator(holder["pot"])

    orig_train = __import__("egbench_core.stages.train", fromlist=["train"]).train

    def train_and_keep(pot, *a, **k):
        holder["pot"] = pot
        return orig_train(pot, *a, **k)

    monkeypatch.setattr("egbench_core.stages.train.train", train_and_keep)
    art = tmp_path / "art"
    art.mkdir()
    job = ModelJob(cell, inputs, proto, art, Execution(threads=torch.get_num_threads()))
    outputs = run_model(job, cat.models["toy-pair"], dataset=SelfOracle(), observer_metrics=cat.metrics.values())
    series = [md_metrics.ORACLE_OBSERVER.of(r) for r in outputs.md]
    assert len(series) == 2 and all(len(s["ev"]) == 21 for s in series)  # every saved frame, 20 steps + start
    assert max(x for s in series for x in s["ev"]) < 1e-12 and max(x for s in series for x in s["fv"]) < 1e-6
    values = {(v.name, v.mode): v for v in md_metrics._dynamics(outputs).values}
    # geometric means of rounding-level values (EV printed ×1e5)
    assert values[("ev", "oracle")].value <= 1.01e-12 * 1e5 and values[("fv", "oracle")].value < 1e-6  # the 1e-12 floor
    assert math.isfinite(values[("ev", "oracle")].std) and torch.is_tensor(holder["pot"].e0)


def test_aligned_mode_covers_the_first_tau_of_the_stable_part(emt_data_dir, toy, tmp_path, monkeypatch):
    """Aligned EV/FV and the aligned force error use only the frames at t ≤ τ of each replica's stable
    part; the force error is the mean |F̂ − F_ref| over those frames (synthetic-emt's test split is
    a contiguous trajectory, 5 fs apart)."""
    import torch

    from egbench_core.cell import Execution
    from egbench_core.run.execute import load_inputs, run_model
    from egbench_core.run.model_job import ModelJob
    from egbench_core.run.protocol import protocol

    monkeypatch.setenv("EGBENCH_DATA_DIR", str(emt_data_dir))
    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    (cell,) = plan_cells(cat, "toy-pair", "synthetic-emt", "standard", "smoke", 0)
    inputs = load_inputs(cell, cat, protocol("smoke"))
    art = tmp_path / "art"
    art.mkdir()
    job = ModelJob(cell, inputs, protocol("smoke"), art, Execution(threads=torch.get_num_threads()))
    outputs = run_model(
        job, cat.models["toy-pair"], dataset=cat.datasets["synthetic-emt"], observer_metrics=cat.metrics.values()
    )
    full, _ = md_metrics._aligned(outputs, window_fs=1e9)
    short, mae = md_metrics._aligned(outputs, window_fs=10.0)
    assert all(max(s["time_fs"]) <= 10.0 for s in short) and len(short) == len(mae) == 2
    assert all(len(a["time_fs"]) > len(b["time_fs"]) for a, b in zip(full, short))
    ref = outputs.md_reference
    r = outputs.md[0]
    from egbench_core.data.readers import read_extxyz

    traj = read_extxyz(Path(r.trajectory))
    n = traj.n_atoms[0]
    errs = [
        np.abs(traj.forces.reshape(len(traj), n, 3)[int(round(t))] - ref.forces.reshape(len(ref), n, 3)[k])
        for t, k in zip(short[0]["time_fs"], short[0]["ref_index"])
    ]  # smoke saves every 1 fs step
    assert mae[0] == np.mean(errs)
    values = {(v.name, v.mode): v for v in md_metrics._dynamics(outputs).values}
    assert values[("aligned_force_mae", "aligned")].n == 2 and "first 50 fs" in values[("fv", "aligned")].note
