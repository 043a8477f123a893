"""Stages: train once, simulate once, score anywhere — each keyed by the code and data it uses.

* which stages a code edit recomputes (the CLI, the report, the HTML: none; the trainer: all; the
  MD engine: simulate and score, not train; a metric: score only), on a copy of core's sources;
* one training for a dataset's ``standard`` and ``ood-temperature`` cells, giving the numbers of a
  fresh training; the same on a real Dask cluster; two concurrent runs share one training;
* a metric plugin installed later re-scores from the stored stages (``egbench run`` and
  ``egbench score``) without training or MD, every earlier number unchanged;
* a store written by the layout before stages is read by ``report`` and named by ``run``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest

from egbench_core.plugins import load_catalog
from egbench_core.run.planning import plan_cells
from egbench_core.stages import code_paths
from egbench_core.store import Store
from egbench_core.testing.fakes import FakeModelPlugin

pytestmark = pytest.mark.slow

METRIC_PLUGIN = """
from egbench_core.interfaces import MetricResult, MetricSpec, Shown, ValueSpec
from egbench_core.hookspecs import hookimpl

MAX_F = ValueSpec(
    "max_force_error", "eV/Å", "lower", "largest force-component error", per_split=True,
    shown=(Shown("static", 90, "max F err (meV/Å)", "meV/Å", 1, split=None),),
)


def compute(outputs):
    return MetricResult([
        MAX_F(float(abs(p.forces - p.reference.forces).max()), split=s, n=p.forces.size)
        for s, p in outputs.predictions.items()
    ])


@hookimpl
def register_metrics(register):
    register(MetricSpec(name="max_force", compute=compute, values=(MAX_F,), version="1"))
"""


OBSERVER_PLUGIN = """
from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import MetricResult, MetricSpec, ObserverSpec, ValueSpec

PROBE = ValueSpec("frames_probe", "eV", "neither", "sum over saved frames of energy, |positions| and |forces|")


class Probe:
    def __init__(self):
        self.n, self.total, self.stop = 0, 0.0, None

    def update(self, step, time_fs, atoms, energy, forces):
        self.n += 1
        self.total += energy + abs(atoms.positions).sum() + abs(forces).sum() + abs(atoms.get_momenta()).sum()

    def stopped(self, step, time_fs, reason, source, atoms):
        self.stop = [step, source, float(abs(atoms.positions).sum())]

    def finish(self):
        return {"n": self.n, "total": float(self.total), "stop": self.stop}
@CHECK@

OBSERVER = ObserverSpec("frames-probe", lambda outputs: Probe(), saved_frames_only=@SAVED@)


def compute(outputs):
    seen = [OBSERVER.of(r) for r in outputs.md]
    total, n = sum(x["total"] for x in seen), sum(x["n"] for x in seen)
    return MetricResult([PROBE(total, n=n, note=str([x["stop"] for x in seen]))])


@hookimpl
def register_metrics(register):
    register(MetricSpec(name="frames_probe", compute=compute, values=(PROBE,), version="1", observer=OBSERVER))
"""
EVERY_STEP = """
    def check(self, step, time_fs, positions, numbers, cell, pbc, temperature_K):
        return None
"""


# -- which stages a code edit recomputes ---------------------------------------------------------
@pytest.fixture
def core_copy(tmp_path, monkeypatch):
    """A copy of core's sources that the stage keys are computed from (``edit(path)`` changes a file)."""
    copy = tmp_path / "egbench_core"
    shutil.copytree(code_paths.ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code_paths, "ROOT", copy)

    def edit(rel: str) -> None:
        f = copy / rel
        f.write_text(f.read_text() + "\n# an edit\n")

    return edit


KINDS = ("train", "evaluate:test", "simulate", "cell")


def _keys(emt_env) -> tuple[str, ...]:
    cat = load_catalog(entry_points=False, extra_plugins=[FakeModelPlugin()])
    (cell,) = plan_cells(cat, "toy-pair", "synthetic-emt", "standard", "smoke", 0)
    return tuple(cell.stages[k] for k in KINDS[:-1]) + (cell.key,)


@pytest.mark.parametrize(
    ("edited", "recomputed"),
    [
        ("cli.py", ()),
        ("report/leaderboard.py", ()),
        ("report/html/render.py", ()),
        ("model/train.py", KINDS),
        ("stages/evaluate.py", ("evaluate:test", "cell")),
        ("md/ase_engine.py", ("simulate", "cell")),
        ("default_plugins/metrics.py", ("cell",)),
    ],
)
def test_a_code_edit_recomputes_the_stages_on_its_path(emt_env, core_copy, edited, recomputed):
    before = _keys(emt_env)
    core_copy(edited)
    after = _keys(emt_env)
    assert tuple(kind for kind, x, y in zip(KINDS, before, after, strict=True) if x != y) == recomputed


def test_no_stage_path_reaches_the_cli_the_report_or_the_html():
    for stage, entries in code_paths.ENTRIES.items():
        modules = code_paths.closure(entries)
        assert not [m for m in modules if m.partition(".")[2].split(".")[0] in ("cli", "report", "console")], stage
    assert "egbench_core.md.ase_engine" not in code_paths.closure(code_paths.ENTRIES["train"])


# -- sharing, through the egbench command ----------------------------------------------------------
def _run(site, *args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    res = subprocess.run(site.egbench + list(args), env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _stages_line(res: subprocess.CompletedProcess) -> str:
    return next(line for line in res.stdout.splitlines() if line.startswith("stages: "))


@pytest.fixture
def site(toy_site):
    """toy-pair, the OOD tasks and (once installed) a metric plugin, in subprocesses."""
    toy_site.plugins = "toy,ood"
    toy_site.run_env = lambda: toy_site.env(EGBENCH_LOAD_PLUGINS=toy_site.plugins)
    return toy_site


def _install_metric(site) -> None:
    (site.path / "max_force_metric.py").write_text(METRIC_PLUGIN)
    info = site.path / "max_force_metric-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: max-force-metric\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[egbench]\nmax-force = max_force_metric\n")
    site.plugins += ",max-force"


RUN = ["run", "--models", "toy-pair", "--datasets", "acac", "--preset", "smoke"]


def _install(site, name: str, source: str) -> None:
    (site.path / f"{name}.py").write_text(source)
    info = site.path / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[egbench]\n{name.replace('_', '-')} = {name}\n")
    site.plugins += f",{name.replace('_', '-')}"


def _probe(out) -> tuple[float, str]:
    store = Store.open_readonly(out)
    (row,) = [m for c in store.cells("done") for m in store.metrics(c.key) if m["name"] == "frames_probe"]
    return row["value"], row["note"]


def test_an_observer_of_saved_frames_added_later_is_replayed_exactly_without_md(site, tmp_path):
    """The replayed observer gives, to the last bit, what it gives when it watches the MD live
    (replicas stopped by the stability criterion included); an every-step observer simulates again."""
    _run(site, *RUN, "--out", str(tmp_path / "later"), env=site.run_env())
    _install(site, "frames_probe_metric", OBSERVER_PLUGIN.replace("@CHECK@", "").replace("@SAVED@", "True"))
    later = _run(site, *RUN, "--out", str(tmp_path / "later"), env=site.run_env())
    assert (
        _stages_line(later) == "stages: train: 1 reused · evaluate: 1 reused · simulate: 1 reused · score: 1 computed"
    )
    live = _run(site, *RUN, "--out", str(tmp_path / "live"), env=site.run_env())
    assert (
        _stages_line(live)
        == "stages: train: 1 computed · evaluate: 1 computed · simulate: 1 computed · score: 1 computed"
    )
    (value, note), (live_value, live_note) = _probe(tmp_path / "later"), _probe(tmp_path / "live")
    assert value == live_value and note == live_note and "stability" in note  # a replica was stopped
    site.plugins = "toy,ood"
    _install(site, "every_step_probe", OBSERVER_PLUGIN.replace("@CHECK@", EVERY_STEP).replace("@SAVED@", "False"))
    again = _run(site, *RUN, "--out", str(tmp_path / "later"), env=site.run_env())
    assert (
        _stages_line(again) == "stages: train: 1 reused · evaluate: 1 reused · simulate: 1 computed · score: 1 computed"
    )


def test_one_training_for_standard_and_ood_temperature_with_the_numbers_of_a_fresh_one(site, tmp_path, stored_numbers):
    shared = _run(site, *RUN, "--tasks", "standard,ood-temperature", "--out", str(tmp_path / "a"), env=site.run_env())
    assert (
        _stages_line(shared)
        == "stages: train: 1 computed, 1 reused · evaluate: 2 computed · simulate: 2 computed · score: 2 computed"
    )
    store = Store.open_readonly(tmp_path / "a")
    (train,) = {r[0] for r in store.db.execute("SELECT stage_key FROM cell_stages WHERE kind='train'")}
    checkpoints = {p.read_bytes() for p in (tmp_path / "a" / "artifacts").glob("*/model.pt")}
    assert len(checkpoints) == 1 and train
    alone = _run(site, *RUN, "--tasks", "ood-temperature", "--out", str(tmp_path / "b"), env=site.run_env())
    assert _stages_line(alone).startswith("stages: train: 1 computed · evaluate: 1 computed · simulate: 1 computed")
    shared_ood, fresh = (stored_numbers(tmp_path / out, task="ood-temperature") for out in ("a", "b"))
    assert len(fresh) > 20 and shared_ood == fresh  # the reused training gives a fresh one's numbers
    # the second task in the same folder later: nothing trained
    again = _run(site, *RUN, "--tasks", "ood-temperature", "--out", str(tmp_path / "a"), env=site.run_env())
    assert "1 cached" in again.stdout


def test_a_metric_plugin_installed_later_rescores_without_training_or_md(site, tmp_path, stored_numbers):
    out = str(tmp_path / "res")
    first = _run(site, *RUN, "--out", out, env=site.run_env())
    assert (
        _stages_line(first)
        == "stages: train: 1 computed · evaluate: 1 computed · simulate: 1 computed · score: 1 computed"
    )
    before = stored_numbers(tmp_path / "res")
    _install_metric(site)
    scored = _run(site, "score", "--out", out, env=site.run_env())
    assert "re-scored toy-pair[smoke] × acac × standard (seed 0): max_force (new)" in scored.stdout
    assert scored.stdout.strip().splitlines()[-1] == (
        "score: 1 cell(s) re-scored, 0 failed — stages: "
        "train: 1 reused · evaluate: 1 reused · simulate: 1 reused · score: 1 computed"
    )
    after = stored_numbers(tmp_path / "res")
    new = {k: v for k, v in after.items() if k not in before}
    assert {k[3] for k in new} == {"max_force_error"} and all(v[0] > 0 for v in new.values())
    assert {k: after[k] for k in before} == before  # every earlier number, from the stored stages
    rerun = _run(site, *RUN, "--out", out, env=site.run_env())
    assert "1 cached" in rerun.stdout  # `score` reached the key `run` plans
    nothing = _run(site, "score", "--out", out, env=site.run_env())
    assert "nothing to re-score: 1 cell(s) already scored with the installed metrics" in nothing.stdout


def test_run_rescores_a_new_metric_from_the_stored_stages(site, tmp_path, stored_numbers):
    out = str(tmp_path / "res")
    _run(site, *RUN, "--out", out, env=site.run_env())
    before = stored_numbers(tmp_path / "res")
    _install_metric(site)
    again = _run(site, *RUN, "--out", out, env=site.run_env())
    assert (
        _stages_line(again) == "stages: train: 1 reused · evaluate: 1 reused · simulate: 1 reused · score: 1 computed"
    )
    after = stored_numbers(tmp_path / "res")
    assert {k: after[k] for k in before} == before and len(after) > len(before)


def test_the_graph_on_a_dask_cluster_shares_the_training_and_equals_local(site, tmp_path, stored_numbers):
    args = [*RUN, "--tasks", "standard,ood-temperature"]
    local = _run(site, *args, "--out", str(tmp_path / "local"), env=site.run_env())
    dask = _run(
        site, *args, "--executor", "dask", "--workers", "2", "--out", str(tmp_path / "dask"), env=site.run_env()
    )
    assert _stages_line(dask) == _stages_line(local)
    a, b = stored_numbers(tmp_path / "local"), stored_numbers(tmp_path / "dask")
    assert len(a) > 20 and a == b


def test_two_concurrent_runs_share_one_training(site, tmp_path):
    out = str(tmp_path / "res")
    procs = [
        subprocess.Popen(
            site.egbench + [*RUN, "--tasks", task, "--out", out],
            env=site.run_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for task in ("standard", "ood-temperature")
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    lines = sorted(next(x for x in o[0].splitlines() if x.startswith("stages: ")) for o in outs)
    assert lines == [
        "stages: train: 1 computed · evaluate: 1 computed · simulate: 1 computed · score: 1 computed",
        "stages: train: 1 reused · evaluate: 1 computed · simulate: 1 computed · score: 1 computed",
    ]


def test_a_store_of_the_layout_before_stages_is_reported_and_named_by_run(site, tmp_path):
    out = tmp_path / "res"
    _run(site, *RUN, "--out", str(out), env=site.run_env())
    db = sqlite3.connect(out / "egbench.sqlite")  # the previous layout: no stages, keys over all of core
    (key, prov) = db.execute("SELECT key, provenance FROM cells WHERE status='done'").fetchone()
    old = {k: v for k, v in json.loads(prov).items() if k not in ("layout", "stages", "score_code")}
    old_key = "0ld" + key[3:]
    db.execute(
        "UPDATE cells SET provenance=?, key=?, checksum=NULL WHERE key=?",
        (json.dumps({**old, "core": {"source": "x"}}), old_key, key),
    )
    db.execute("UPDATE metrics SET cell_key=? WHERE cell_key=?", (old_key, key))
    db.execute("UPDATE artifacts SET cell_key=? WHERE cell_key=?", (old_key, key))
    db.executescript("DELETE FROM stages; DELETE FROM stage_artifacts; DELETE FROM cell_stages;")
    db.commit()
    db.close()
    report = _run(site, "report", "--out", str(out), "--format", "csv", env=site.run_env())
    assert "toy-pair" in report.stdout
    again = _run(site, *RUN, "--out", str(out), env=site.run_env())
    said = " ".join((again.stdout + again.stderr).split())
    assert "1 cell(s) of this run were stored in" in said and "by egbench's layout before stages" in said
    assert "1 computed, 0 cached" in again.stdout


def test_report_provenance_shows_each_stage(site, tmp_path):
    out = str(tmp_path / "res")
    _run(site, *RUN, "--out", out, env=site.run_env())
    shown = _run(site, "report", "--out", out, "--provenance", env=site.run_env()).stdout
    keys = dict(Store.open_readonly(tmp_path / "res").db.execute("SELECT kind, stage_key FROM cell_stages"))
    assert keys["train"][:16] in shown and keys["simulate"][:16] in shown and "computed" in shown


def test_the_zero_shot_cells_share_the_training_of_their_source_dataset(mirror, tmp_path, monkeypatch):
    """md17 zero-shot (aspirin → naphthalene) trains on md17-aspirin's splits: the same training as
    ``md17-aspirin × standard``, one key, one training."""
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(tmp_path / "data"))
    cat = load_catalog()
    cells = plan_cells(cat, "painn", "md17-aspirin,md17-naphthalene", "standard,zero-shot", "smoke")
    runnable = {(c.dataset, c.task): c for c in cells if not c.skip_reason}
    aspirin, zero_shot = runnable[("md17-aspirin", "standard")], runnable[("md17-naphthalene", "zero-shot")]
    assert zero_shot.plan.train_dataset == "md17-aspirin"
    assert zero_shot.stages["train"] == aspirin.stages["train"]
    assert zero_shot.stages["simulate"] != aspirin.stages["simulate"]  # evaluated and simulated elsewhere
    assert runnable[("md17-naphthalene", "standard")].stages["train"] != aspirin.stages["train"]
