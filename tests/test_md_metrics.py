"""Simulation metrics end to end: a model trained briefly on the EMT dataset, simulated, scored
against EMT on its own frames (oracle mode); the same model as its own oracle gives EV = FV = 0."""
from __future__ import annotations

import math

import numpy as np

from egbench_core.calculator import EgbenchCalculator
from egbench_core.default_plugins import md_metrics
from egbench_core.plugins import load_catalog
from egbench_core.runner import plan_cells, run_cells
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


def test_model_as_its_own_oracle_gives_zero_violation(emt_data_dir, toy, tmp_path, monkeypatch):
    """Score a trained model's MD against the same model: EV = FV = 0 exactly."""
    import torch

    from egbench_core.execute import load_inputs, run_model
    from egbench_core.protocol import protocol

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

    orig_train = __import__("egbench_core.execute", fromlist=["train"]).train

    def train_and_keep(pot, *a, **k):
        holder["pot"] = pot
        return orig_train(pot, *a, **k)

    monkeypatch.setattr("egbench_core.execute.train", train_and_keep)
    art = tmp_path / "art"
    art.mkdir()
    outputs = run_model(cell, cat.models["toy-pair"], inputs, proto, art, SelfOracle(), cat.metrics.values())
    series = [r.observed["dynamics"] for r in outputs.md]
    assert len(series) == 2 and all(len(s["ev"]) == 21 for s in series)  # every saved frame, 20 steps + start
    assert all(x == 0.0 for s in series for x in s["ev"]) and all(x == 0.0 for s in series for x in s["fv"])
    values = {(v.name, v.mode): v for v in md_metrics._dynamics(outputs)}
    # the geometric mean of zeros is the floor inside the log (1e-12), printed ×1e-5 for EV
    assert math.isclose(values[("ev", "oracle")].value, 1e-12 * 1e5) and math.isclose(values[("fv", "oracle")].value, 1e-12)
    assert values[("ev", "oracle")].std == 0.0 and torch.is_tensor(holder["pot"].e0)
