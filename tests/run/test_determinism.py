"""Same command, same seed → same numbers on an idle and on a loaded machine; a wall-clock guard
that fires is marked *truncated*; several seeds give mean ± std and a ranking-stability table;
the quick preset's training subset is seeded, fixed per dataset and recorded."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from egbench_core.data.readers import Frames
from egbench_core.plugins import load_catalog
from egbench_core.report.leaderboard import leaderboard, rank_stability, to_csv, to_markdown
from egbench_core.run.execute import subset_indices
from egbench_core.run.protocol import protocol
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store


@pytest.mark.slow
def test_same_command_gives_identical_numbers_beside_a_cpu_hog(toy_site, emt_env, tmp_path, stored_numbers):
    cmd = toy_site.egbench + ["run", "--models", "toy-pair", "--datasets", "acac,synthetic-emt", "--preset", "smoke"]
    idle = subprocess.run(
        cmd + ["--out", str(tmp_path / "idle")], env=toy_site.env(), capture_output=True, text=True, timeout=600
    )
    assert idle.returncode == 0, idle.stderr[-3000:]
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        loaded = subprocess.run(
            cmd + ["--out", str(tmp_path / "loaded")], env=toy_site.env(), capture_output=True, text=True, timeout=900
        )
    finally:
        for h in hogs:
            h.kill()
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    a, b = stored_numbers(tmp_path / "idle"), stored_numbers(tmp_path / "loaded")
    assert len(a) > 20 and a.keys() == b.keys()
    assert a == b  # bit-identical, not approximately: epochs, not seconds, end training
    keys = [sorted(c.key for c in Store.open_readonly(tmp_path / p).cells()) for p in ("idle", "loaded")]
    assert keys[0] == keys[1]


@pytest.mark.slow
def test_a_guard_that_fires_marks_the_cell_truncated_in_every_format(toy, tmp_path):
    presets = {
        "smoke": {
            "cutoff": 4.0,
            "model": {"n_basis": 6},
            "train": {"epochs": 500, "batch_size": 8, "lr": 1e-2, "max_time_s": 0.5},
        }
    }
    cat = load_catalog(extra_plugins=[toy.Plugin(toy.spec("toy-guarded", presets=presets))], entry_points=False)
    cells = plan_cells(cat, "toy-guarded", "acac", preset="smoke")
    store = Store(tmp_path / "out")
    assert run_cells(cells, cat, store).done == 1
    row = store.cell(cells[0].key)
    assert row.truncated and row.info["truncated"]
    assert row.info["train"]["stop_reason"].startswith("truncated: the wall-clock guard of 0.5 s fired after")
    lb = leaderboard(store)
    assert lb.rows[0][0] == "toy-guarded [smoke] *" and "*" in lb.marks
    md = to_markdown(lb)
    assert "| toy-guarded [smoke] * |" in md and "truncated: the training hit the wall-clock guard" in md
    csv_row = [r for r in to_csv(lb).splitlines() if r.startswith("toy-guarded")][0]
    assert ',truncated,"truncated: the training hit the wall-clock guard' in csv_row


@pytest.mark.slow
def test_seeds_give_mean_and_std_and_a_ranking_stability_table(toy, tmp_path):
    wide = {"smoke": {"cutoff": 4.0, "model": {"n_basis": 12}, "train": {"epochs": 3, "batch_size": 8, "lr": 1e-2}}}
    cat = load_catalog(extra_plugins=[toy.Plugin(toy.spec(), toy.spec("toy-wide", presets=wide))], entry_points=False)
    cells = plan_cells(cat, "toy-pair,toy-wide", "acac", preset="smoke", seeds=[0, 1, 2])
    assert sorted((c.model, c.seed) for c in cells) == [(m, s) for m in ("toy-pair", "toy-wide") for s in (0, 1, 2)]
    assert len({c.key for c in cells}) == 6
    store = Store(tmp_path / "out")
    assert run_cells(cells, cat, store).done == 6
    lb = leaderboard(store)
    assert len(lb.rows) == 2
    for r in lb.rows:
        row = dict(zip(lb.headers, r))
        assert row["seeds"] == "0,1,2"
        values = [
            m["value"]
            for c in store.cells("done")
            if c.model in row["model"] and row["model"].startswith(c.model)
            for m in store.metrics(c.key)
            if m["name"] == "force_mae"
        ]
        assert len(values) == 3
        assert row["F MAE (meV/Å)"] == f"{np.mean(values) * 1e3:.2f} ± {np.std(values, ddof=1) * 1e3:.2f}"
    headers, rows = rank_stability(store)
    assert [r[3] for r in rows] and {r[3] for r in rows} == {"toy-pair", "toy-wide"}
    for r in rows:
        assert r[0] == "acac" and r[4].count("seed") == 3 and r[5].endswith(tuple("12")) and "of 3 seeds" in r[5]


def test_quick_subset_is_seeded_fixed_per_dataset_and_bounded():
    rng = np.random.default_rng(0)
    n_atoms = rng.integers(10, 40, size=1000)
    n = int(n_atoms.sum())
    frames = Frames(
        np.zeros((n, 3)),
        np.ones(n),
        n_atoms,
        np.zeros((1000, 3, 3)),
        np.zeros((1000, 3), bool),
        np.zeros(1000),
        np.zeros((n, 3)),
    )
    quick = protocol("quick")
    idx = subset_indices(frames, quick, "train")
    assert len(idx) <= quick.max_train_frames and frames.n_atoms[idx].sum() <= quick.max_train_atoms
    assert frames.n_atoms[idx].sum() > quick.max_train_atoms - 40  # filled up to the atom budget
    assert np.all(np.diff(idx) > 0) and idx.max() > 900  # sorted, drawn from the whole split
    assert np.array_equal(idx, subset_indices(frames, quick, "train"))  # no dependence on any run seed
    ev = subset_indices(frames, quick, "eval")  # evenly spaced over the split, ends included
    assert len(ev) == quick.max_eval_frames and ev[0] == 0 and ev[-1] == 999 and np.all(np.diff(ev) > 0)
    assert subset_indices(frames.subset(np.arange(quick.max_eval_frames)), quick, "eval") is None
    assert subset_indices(frames.subset(np.arange(300)), quick, "val").tolist() != list(range(50))  # seeded
    smoke = subset_indices(frames, protocol("smoke"), "train")
    assert smoke.tolist() == list(range(40))  # the smoke preset takes the first frames
