"""Non-finite numbers tell the truth: a NaN validation loss fails the cell with the reason (never
the untrained weights as a result); an MD step that produces non-finite or exploded positions is an
instability, not a crash; the report says ``error`` for a failed or non-finite metric and ``n/a``
only for one that does not apply."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from egbench_core.interfaces import MDPlan
from egbench_core.md.ase_engine import run_replica
from egbench_core.plugins import load_catalog
from egbench_core.report.leaderboard import TABLES, leaderboard, to_csv, to_markdown
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store


def _nan_when_evaluating(toy):
    def build(species, cutoff, params, stats):
        model = toy.build(species, cutoff, params, stats)
        inner = model.forward

        def forward(graph):
            out = inner(graph)
            return out if model.training else out * float("nan")  # validation (eval mode) diverges

        model.forward = forward
        return model

    return build


@pytest.mark.slow
def test_nan_validation_loss_fails_the_cell_with_the_reason(toy, tmp_path):
    cat = load_catalog(
        extra_plugins=[toy.Plugin(toy.spec("toy-nan", build=_nan_when_evaluating(toy)))], entry_points=False
    )
    cells = plan_cells(cat, "toy-nan", "acac", preset="smoke")
    store = Store(tmp_path / "out")
    summary = run_cells(cells, cat, store)
    assert (summary.done, summary.failed) == (0, 1)
    row = store.cell(cells[0].key)
    assert row.status == "failed" and row.reason.startswith("NonFiniteLossError: validation loss became nan at epoch 1")
    assert store.metrics(row.key) == []
    assert leaderboard(store).not_run[0][3:] == ["failed", row.reason]


class _Runaway(torch.nn.Module):
    """E = −k Σ x: a constant force k eV/Å along +x on every atom (k near the float64 limit)."""

    def __init__(self, k: float):
        super().__init__()
        self.k = k
        self.cutoff = 3.0
        self.species = (1, 6, 8)
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    @property
    def dtype(self):
        return torch.float64

    def forward(self, graph):
        x = graph.positions[:, 0].to(torch.float64)
        out = torch.zeros(graph.num_graphs, dtype=torch.float64).index_add(0, graph.batch, -self.k * x)
        return out + self.dummy


@pytest.mark.parametrize("mass, expected", [(None, "blown apart"), (1e-10, "non-finite positions")])
def test_exploding_md_step_is_an_instability_not_a_crash(mass, expected):
    """Huge forces throw atoms ~1e300 Å (vesin's cell list would kill the process with SIGFPE);
    with tiny masses the velocities overflow to inf and the positions become non-finite."""
    from ase.build import molecule

    atoms = molecule("CH3OH")
    if mass is not None:
        atoms.set_masses(np.full(len(atoms), mass))
    plan = MDPlan("test", "test", temperature_K=300.0, timestep_fs=0.5)
    res = run_replica(
        _Runaway(1e300), atoms, plan, steps=20, save_every=1, seed=0, index=0, start_frame=0, trajectory=None
    )
    assert res.failed_step is not None and res.failed_step >= 1 and res.steps_done < 20
    assert expected in res.failure, res.failure


def _store_with(tmp_path, metrics, metric_errors):
    store = Store(tmp_path / "out")
    ident = {"model": "m", "preset": "smoke", "dataset": "d", "task": "standard", "seed": 0}
    store.claim("k" * 64, 1, ident, "me:1:x", {})
    scratch = store.scratch_dir("k" * 64, "me:1:x")
    from egbench_core.interfaces import MetricValue

    values = [(MetricValue(*m), "1") for m in metrics]
    store.finish_cell("k" * 64, 1, "me:1:x", scratch, values, [], {"metric_errors": metric_errors}, 1.0)
    return store


def test_report_says_error_with_the_reason_and_na_only_when_not_applicable(tmp_path):
    store = _store_with(
        tmp_path,
        [
            (
                "energy_mae",
                math.nan,
                "eV",
                "test",
                None,
                10,
                "",
                "not applicable: composition outside the training span",
            ),
            ("force_mae", math.nan, "eV/Å", "test", None, 10, "", ""),  # computed, but non-finite
            ("energy_rmse", 0.01, "eV", "test"),
        ],
        {"train_time_per_epoch": "metric train_cost failed: ZeroDivisionError: division by zero"},
    )
    lb = leaderboard(store, columns=TABLES["static"])
    row = dict(zip(lb.headers, lb.rows[0]))
    assert row["E MAE (meV)"] == "n/a" and row["F MAE (meV/Å)"] == "error" and row["E RMSE (meV)"] == "10.00"
    assert row["train s/epoch"] == "error" and row["epochs"] == "—"
    md = to_markdown(lb)
    assert "error (the metric gave a non-finite value (NaN))" in md
    assert "error (metric train_cost failed: ZeroDivisionError: division by zero)" in md
    csv_text = to_csv(lb)
    assert "metric train_cost failed" in csv_text and ",n/a," in csv_text


def test_metric_that_raises_is_recorded_per_value(tmp_path, toy):
    """A metric plugin whose compute raises: the cell is kept, every value it emits says why."""
    from egbench_core.interfaces import MetricSpec, ValueSpec
    from egbench_core.run.execute import score

    def explode(outputs):
        raise RuntimeError("metric exploded on purpose")

    spec = MetricSpec(
        name="exploding",
        compute=explode,
        values=(ValueSpec("ex_a", "1", "lower", "a"), ValueSpec("ex_b", "1", "lower", "b")),
    )
    values, errors, artifacts = score(object(), [spec])
    assert values == [] and artifacts == [] and set(errors) == {"exploding", "ex_a", "ex_b"}
    assert json.dumps(errors) and all("metric exploded on purpose" in e for e in errors.values())
