"""Planning (cell keys, skip reasons), running cells into the store, resuming, failures, reports."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
import torch

from egbench_core.data.readers import read_extxyz
from egbench_core.interfaces import Capabilities
from egbench_core.plugins import load_catalog
from egbench_core.report.leaderboard import leaderboard, to_csv, to_markdown
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store

DATASETS = "acac,synthetic-emt"


def _broken_build(species, cutoff, params, stats):
    raise RuntimeError("build exploded on purpose")


@pytest.fixture
def make_catalog(toy):
    def make():
        return load_catalog(
            extra_plugins=[
                toy.Plugin(
                    toy.spec(),
                    toy.spec("toy-molecular", capabilities=Capabilities(periodic=False)),
                    toy.spec("toy-needs-pkg", requires=["definitely-not-installed-pkg>=1"]),
                    toy.spec("toy-broken", build=_broken_build),
                )
            ],
            entry_points=False,
        )

    return make


def _by(cells):
    return {(c.model, c.dataset): c for c in cells}


# -- planning ---------------------------------------------------------------------------
def test_cell_keys_distinct_stable_and_sensitive(make_catalog):
    cat = make_catalog()
    a = plan_cells(cat, "toy-pair", DATASETS, preset="smoke", seed=0)
    assert [(c.model, c.dataset, c.task, c.preset, c.seed) for c in a] == [
        ("toy-pair", "acac", "standard", "smoke", 0),
        ("toy-pair", "synthetic-emt", "standard", "smoke", 0),
    ]
    assert all(not c.skip_reason for c in a)
    keys = [c.key for c in a]
    assert len(set(keys)) == 2 and all(len(k) == 64 for k in keys)
    # stable: the same plan again, even from a freshly loaded catalog
    assert [c.key for c in plan_cells(cat, "toy-pair", DATASETS, preset="smoke", seed=0)] == keys
    assert [c.key for c in plan_cells(make_catalog(), "toy-pair", DATASETS, preset="smoke", seed=0)] == keys
    # sensitive to the seed and to the preset
    seed1 = [c.key for c in plan_cells(cat, "toy-pair", DATASETS, preset="smoke", seed=1)]
    quick = [c.key for c in plan_cells(cat, "toy-pair", DATASETS, preset="quick", seed=0)]
    assert not set(seed1) & set(keys) and not set(quick) & set(keys) and not set(seed1) & set(quick)
    # the plan itself is kept on runnable cells
    plan = a[0].plan
    assert plan.train_split == "train" and plan.val_split == "val" and plan.eval_splits == ("test",)
    assert plan.md.temperature_K == 300.0 and plan.md.timestep_fs == 0.5


def test_cell_key_changes_with_the_model_preset_content(make_catalog):
    cat = make_catalog()
    key = plan_cells(cat, "toy-pair", "acac", preset="smoke")[0].key
    cat.models["toy-pair"].presets["smoke"]["train"]["epochs"] = 4
    assert plan_cells(cat, "toy-pair", "acac", preset="smoke")[0].key != key


def test_skip_reasons(make_catalog):
    cat = make_catalog()
    cells = _by(plan_cells(cat, "toy-molecular,toy-needs-pkg", DATASETS, preset="smoke"))
    periodic = cells[("toy-molecular", "synthetic-emt")].skip_reason
    assert "periodic" in periodic and "toy-molecular" in periodic
    assert cells[("toy-molecular", "acac")].skip_reason == ""  # a molecule is fine
    for d in ("acac", "synthetic-emt"):
        why = cells[("toy-needs-pkg", d)].skip_reason
        assert why.startswith("missing dependency") and "definitely-not-installed-pkg>=1" in why
    no_preset = plan_cells(cat, "toy-pair", "acac", preset="paper")[0].skip_reason
    assert "no preset 'paper'" in no_preset
    with pytest.raises(KeyError, match="toy-pair"):
        plan_cells(cat, "toy-nope", "acac", preset="smoke")


def test_dataset_not_available_offline_is_skipped(tmp_path, monkeypatch, make_catalog):
    reg = tmp_path / "reg.toml"
    reg.write_text(f"""
[files."fake/remote.xyz"]
url = "https://example.invalid/remote.xyz"
sha256 = "{"e" * 64}"
format = "extxyz"

[datasets.remote-only]
elements = ["H"]
periodic = false
temperature_K = 300.0
timestep_fs = 0.5
[datasets.remote-only.splits.train]
file = "fake/remote.xyz"
[datasets.remote-only.splits.val]
file = "fake/remote.xyz"
[datasets.remote-only.splits.test]
file = "fake/remote.xyz"
""")
    monkeypatch.setenv("EGBENCH_REGISTRY", str(reg))
    cell = plan_cells(make_catalog(), "toy-pair", "remote-only", preset="smoke")[0]
    assert "not available offline" in cell.skip_reason and "https://example.invalid/remote.xyz" in cell.skip_reason


# -- running ----------------------------------------------------------------------------
@pytest.fixture
def finished_run(emt_env, tmp_path, make_catalog):
    """One smoke run: toy-pair (2 done), toy-broken (2 failed), 2 skipped cells."""
    torch.manual_seed(12345)  # execute_cell must reseed: this must not matter
    cat = make_catalog()
    cells = plan_cells(cat, "toy-pair,toy-broken", DATASETS, preset="smoke", seed=0) + plan_cells(
        cat, "toy-molecular,toy-needs-pkg", "synthetic-emt", preset="smoke", seed=0
    )
    store = Store(tmp_path / "results")
    summary = run_cells(cells, cat, store, argv=["pytest"])
    return cat, cells, store, summary


def test_run_cells_stores_results(finished_run):
    cat, cells, store, summary = finished_run
    assert (summary.done, summary.failed, summary.skipped, summary.cached) == (2, 2, 2, 0)
    done = {c.dataset: c for c in store.cells("done")}
    assert set(done) == {"acac", "synthetic-emt"} and all(c.model == "toy-pair" for c in done.values())
    for ds, row in done.items():
        ms = {(m["name"], m["split"]): m for m in store.metrics(row.key)}
        for name, split in (
            ("energy_mae", "test"),
            ("force_mae", "test"),
            ("train_time_per_epoch", ""),
            ("md_time_per_step", ""),
        ):
            v = ms[(name, split)]["value"]
            assert math.isfinite(v) and v > 0, (ds, name, v)
        assert ms[("epochs", "")]["value"] == 3.0
        assert ms[("energy_mae", "test")]["unit"] == "eV" and ms[("md_time_per_step", "")]["unit"] == "ms"
        arts = store.artifacts(row.key)
        kinds = [k for k, _ in arts]
        assert kinds.count("checkpoint") == 1 and kinds.count("trajectory") == 2 and "predictions" in kinds
        assert all(p.exists() for _, p in arts)
        ckpt = torch.load(dict(arts)["checkpoint"], weights_only=False)
        assert ckpt["model"] == "toy-pair" and ckpt["preset"] == "smoke" and "model.weights" in ckpt["state_dict"]
        # the stored metric is the MAE of the stored predictions (smoke: the first 50 test frames)
        pred = np.load(dict(arts)["predictions"])
        assert len(pred["energy"]) == 50
        assert ms[("energy_mae", "test")]["value"] == pytest.approx(
            np.mean(np.abs(pred["energy"] - pred["ref_energy"]))
        )
        assert ms[("force_mae", "test")]["value"] == pytest.approx(np.mean(np.abs(pred["forces"] - pred["ref_forces"])))
        for _, path in (a for a in arts if a[0] == "trajectory"):
            traj = read_extxyz(path)
            assert len(traj) == 21 and np.isfinite(traj.energy).all() and np.isfinite(traj.forces).all()
        info = row.info
        assert info["seeds"] == {"cell": 0, "replicas": [0, 1]}
        assert info["n_frames"] == {"train": 40, "val": 10, "test": 50}
        assert info["train"]["epochs_run"] == 3 and info["metric_errors"] == {}
    # failed cells keep the traceback; skipped ones their reason
    failed = store.cells("failed")
    assert {c.dataset for c in failed} == {"acac", "synthetic-emt"} and all(c.model == "toy-broken" for c in failed)
    for c in failed:
        assert c.reason == "RuntimeError: build exploded on purpose"
        assert c.error.startswith("Traceback (most recent call last)") and "_broken_build" in c.error
        assert store.metrics(c.key) == []
    skipped = {c.model: c.reason for c in store.cells("skipped")}
    assert "periodic" in skipped["toy-molecular"]
    assert skipped["toy-needs-pkg"].startswith("missing dependency")


def test_cells_train_reproducibly(finished_run):
    """Same key, same seed: a fresh store computes the same errors."""
    cat, cells, store, _ = finished_run
    row = next(c for c in store.cells("done") if c.dataset == "acac")
    cell = next(c for c in cells if c.key == row.key)
    other = Store(store.root.parent / "again")
    run_cells([cell], cat, other)
    a = {(m["name"], m["split"]): m["value"] for m in store.metrics(row.key)}
    b = {(m["name"], m["split"]): m["value"] for m in other.metrics(row.key)}
    for name in ("energy_mae", "force_mae", "energy_rmse", "force_rmse"):
        assert a[(name, "test")] == b[(name, "test")]


def test_second_run_computes_nothing(finished_run):
    cat, cells, store, first = finished_run
    runnable = [c for c in cells if not c.skip_reason]
    assert len(runnable) == 4
    again = run_cells(cells, cat, store, retry_failed=False)
    assert (again.cached, again.failed_kept, again.done, again.failed, again.skipped) == (2, 2, 0, 0, 2)
    assert again.run_id == first.run_id + 1
    # with retry_failed (the default) only the failed cells are attempted again
    retry = run_cells(cells, cat, store)
    assert (retry.cached, retry.done, retry.failed) == (2, 0, 2)
    assert len(store.cells("done")) == 2


def test_report_lists_done_skipped_and_failed(finished_run):
    _, _, store, _ = finished_run
    lb = leaderboard(store)
    assert len(lb.rows) == 2
    rows = {r[1]: dict(zip(lb.headers, r)) for r in lb.rows}
    assert set(rows) == {"acac", "synthetic-emt"}
    for ds, r in rows.items():
        assert r["model"] == "toy-pair [smoke]" and r["task"] == "standard" and r["test split"] == "test"
        row = next(c for c in store.cells("done") if c.dataset == ds)
        mae = next(m["value"] for m in store.metrics(row.key) if m["name"] == "energy_mae")
        assert r["E MAE (meV)"] == f"{mae * 1e3:.2f}"
        assert r["F MAE (meV/Å)"] != "—" and r["MD ms/step"] != "—" and r["epochs"] == "3"
    not_run = {(r[0], r[1]): r for r in lb.not_run}
    assert set(not_run) == {
        ("toy-broken [smoke]", "acac"),
        ("toy-broken [smoke]", "synthetic-emt"),
        ("toy-molecular [smoke]", "synthetic-emt"),
        ("toy-needs-pkg [smoke]", "synthetic-emt"),
    }
    assert not_run[("toy-broken [smoke]", "acac")][3:] == ["failed", "RuntimeError: build exploded on purpose"]
    assert not_run[("toy-molecular [smoke]", "synthetic-emt")][3] == "skipped"

    md = to_markdown(lb)
    table = [ln for ln in md.splitlines() if ln.startswith("| toy-pair [smoke] |")]
    assert len(table) == 2
    line = next(ln for ln in md.splitlines() if ln.startswith("Cells not run:"))  # grouped by reason
    statuses = [r[3] for r in lb.not_run]
    assert f"{statuses.count('failed')} failed" in line and f"{statuses.count('skipped')} skipped" in line
    assert "| toy-broken" not in md  # no row per cell (`egbench report --skipped` lists them)
    assert "build exploded on purpose" in md and "missing dependency" in md and "periodic" in md

    rows_csv = list(csv.reader(io.StringIO(to_csv(lb))))
    header = rows_csv[0]
    assert header[:4] == ["model", "dataset", "task", "test split"] and header[-2:] == ["status", "reason"]
    assert len(rows_csv) == 1 + 2 + 4
    assert all(len(r) == len(header) for r in rows_csv)
    status = {(r[0], r[1]): (r[-2], r[-1]) for r in rows_csv[1:]}
    assert status[("toy-pair [smoke]", "acac")] == ("done", "")
    assert status[("toy-needs-pkg [smoke]", "synthetic-emt")][0] == "skipped"
    assert "definitely-not-installed-pkg" in status[("toy-needs-pkg [smoke]", "synthetic-emt")][1]

    only_other_task = leaderboard(store, task="no-such-task")
    assert only_other_task.rows == [] and only_other_task.not_run == []
