"""Shared fixtures for core's tests.

* every test runs with its own empty data cache (``EGBENCH_DATA_DIR`` → tmp), no mirror, no
  extra registry, no plugin selection and ``EGBENCH_OFFLINE=1`` (nothing may touch the network);
* ``mirror`` points ``EGBENCH_DATA_MIRROR`` at ``../shared/data`` (skips if it is absent);
* ``emt_data_dir`` generates the ``synthetic-emt`` dataset once per session;
* ``toy`` fixture: a tiny, learnable, pure-torch pair potential (``toy.Model``), its ModelSpec
  factory (``toy.spec``) and a fake plugin registering specs (``toy.Plugin``) — written here on
  purpose: core's tests do not depend on ``egbench_core.testing``.

Test modules reach these through fixtures, never ``from conftest import ...``: when several test
folders are collected in one session (core's and the plugins'), ``conftest`` in ``sys.modules``
is whichever folder's conftest was loaded last.
"""

from __future__ import annotations

import copy
import math
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec
from egbench_core.testing.fakes import FakeModelPlugin

MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Tiny tensors: intra-op threading only adds wake-up latency (≈ 8 ms per op on a 2-vCPU VM, against
# ≈ 10 µs single-threaded), and one thread keeps reductions bit-reproducible.
torch.set_num_threads(1)

ENV_VARS = ("EGBENCH_DATA_DIR", "EGBENCH_DATA_MIRROR", "EGBENCH_REGISTRY", "EGBENCH_LOAD_PLUGINS", "EGBENCH_OFFLINE")


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch, tmp_path):
    """Fresh cache, no mirror, offline: a test opts into the mirror with the ``mirror`` fixture."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "egbench-cache"
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(cache))
    monkeypatch.setenv("EGBENCH_OFFLINE", "1")
    monkeypatch.setenv("EGBENCH_ENVS_DIR", str(tmp_path / "no-envs"))  # model environments of the machine stay out
    import egbench_core.plugins as plugins

    monkeypatch.setattr(plugins, "_CATALOG", None)
    return cache


@pytest.fixture
def mirror(monkeypatch) -> Path:
    if not MIRROR.is_dir():
        pytest.skip(f"offline data mirror {MIRROR} is absent (it lives beside the repository as ../shared/data)")
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", str(MIRROR))
    return MIRROR


TIMINGS = {"train_time_per_epoch", "train_time_total", "md_time_per_step", "md_throughput"}


@pytest.fixture
def stored_numbers():
    """``numbers(out)``: what two runs must agree on, every metric but the timings of the done cells of
    the store at ``out``, ``{(model, dataset, seed, name, split, mode): (value, std)}``."""
    from egbench_core.store import Store

    def numbers(out, task: str | None = None, by_task: bool = False) -> dict:
        """``task``: the cells of that task only; ``by_task``: the task in every key."""
        store = Store.open_readonly(out)
        return {
            ((c.task,) if by_task else ()) + (c.model, c.dataset, c.seed, m["name"], m["split"], m["mode"]): (
                m["value"],
                m["std"],
            )
            for c in store.cells("done")
            if task is None or c.task == task
            for m in store.metrics(c.key)
            if m["name"] not in TIMINGS
        }

    return numbers


# --------------------------------------------------------------------------------------
# toy-pair: E = ½ Σ_(i,j) Σ_k W[s_i, s_j, k] exp(-γ (r_ij - μ_k)²) f_c(r_ij)
# --------------------------------------------------------------------------------------
class ToyPair(torch.nn.Module):
    """Smooth pair potential over the edges of an AtomicGraph; energy [B] in normalised units."""

    def __init__(self, n_species: int, cutoff: float, n_basis: int = 6, r_min: float = 0.5):
        super().__init__()
        self.cutoff = float(cutoff)
        self.register_buffer("centres", torch.linspace(r_min, cutoff, n_basis))
        self.gamma = float((n_basis / (cutoff - r_min)) ** 2)
        self.weights = torch.nn.Parameter(0.1 * torch.randn(n_species, n_species, n_basis))

    def forward(self, graph) -> torch.Tensor:
        vec = graph.edge_vectors()
        r = torch.linalg.norm(vec, dim=-1)
        i, j = graph.edge_index
        w = 0.5 * (self.weights + self.weights.transpose(0, 1))
        basis = torch.exp(-self.gamma * (r[:, None] - self.centres.to(r.dtype)) ** 2)
        fc = 0.5 * (torch.cos(math.pi * r / self.cutoff) + 1.0) * (r < self.cutoff).to(r.dtype)
        e_edge = 0.5 * (w[graph.species[i], graph.species[j]] * basis).sum(-1) * fc
        out = torch.zeros(graph.num_graphs, dtype=vec.dtype, device=vec.device)
        return out.index_add(0, graph.batch[i], e_edge)


def build_toy(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats) -> ToyPair:
    return ToyPair(len(species), cutoff, **dict(params))


TOY_PRESETS = {
    "smoke": {"cutoff": 4.0, "model": {"n_basis": 6}, "train": {"epochs": 3, "batch_size": 8, "lr": 1e-2}},
    "quick": {"cutoff": 4.0, "model": {"n_basis": 8}, "train": {"epochs": 10, "batch_size": 8, "lr": 1e-2}},
}


def toy_spec(
    name: str = "toy-pair",
    build=build_toy,
    capabilities: Capabilities | None = None,
    requires: list[str] | None = None,
    presets: dict | None = None,
) -> ModelSpec:
    return ModelSpec(
        name=name,
        build=build,
        presets=copy.deepcopy(presets or TOY_PRESETS),
        version="1",
        description="toy pair potential (tests)",
        licence="MIT",
        requires=list(requires or []),
        capabilities=capabilities or Capabilities(),
    )


class ToyPlugin(FakeModelPlugin):
    """In-process plugin registering this file's ``toy-pair`` (or the given specs) through the real hook."""

    def __init__(self, *specs: ModelSpec):
        super().__init__(*(specs or (toy_spec(),)))


@pytest.fixture(scope="session")
def toy():
    """``toy.Model(n_species, cutoff, n_basis)``, ``toy.spec(name, build=, capabilities=, requires=)``,
    ``toy.Plugin(*specs)``, ``toy.build``."""
    return types.SimpleNamespace(Model=ToyPair, spec=toy_spec, Plugin=ToyPlugin, build=build_toy, presets=TOY_PRESETS)


# --------------------------------------------------------------------------------------
# synthetic-emt, generated once per session (≈ 10–30 s of EMT dynamics)
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def emt_data_dir(tmp_path_factory) -> Path:
    """A data folder holding the generated synthetic-emt dataset (and, later, acac's files)."""
    from egbench_core.plugins import load_catalog

    path = tmp_path_factory.mktemp("emt-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EGBENCH_DATA_DIR", str(path))
        mp.setenv("EGBENCH_OFFLINE", "1")
        ds = load_catalog(entry_points=False).datasets["synthetic-emt"]
        for split in ds.splits:
            ds.load(split)
    return path


@pytest.fixture
def emt_env(monkeypatch, emt_data_dir) -> Path:
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(emt_data_dir))
    return emt_data_dir


@pytest.fixture
def emt_frames(emt_env):
    """The synthetic-emt splits as Frames: dict split -> Frames."""
    from egbench_core.plugins import load_catalog

    ds = load_catalog(entry_points=False).datasets["synthetic-emt"]
    return {s: ds.load(s) for s in ds.splits}


# --------------------------------------------------------------------------------------
# an installed plugin distribution for tests that run `egbench` in other processes
# --------------------------------------------------------------------------------------
@pytest.fixture
def toy_site(tmp_path):
    """A site folder holding the distribution ``toy-egbench-plugin 1.0`` (entry point ``toy``,
    registering ``toy-pair`` from :mod:`egbench_core.testing.fakes`, and ``toy-crash``, whose build
    kills the process that runs it — for executor tests only), and ``env(**extra)``: the
    environment for a subprocess that sees only this plugin, the test's data cache, offline."""
    import os
    import sys
    import textwrap

    site = tmp_path / "toy-site"
    site.mkdir()
    (site / "toy_egbench_plugin.py").write_text(
        textwrap.dedent("""
        import os
        import signal

        from egbench_core.testing.fakes import FakeModelPlugin, toy_pair_spec


        def _die(species, cutoff, params, stats):  # the process running the cell is killed
            os.kill(os.getpid(), signal.SIGKILL)


        register_models = FakeModelPlugin(toy_pair_spec(), toy_pair_spec("toy-crash", build=_die)).register_models
    """)
    )
    d = site / "toy_egbench_plugin-1.0.dist-info"
    d.mkdir()
    (d / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-egbench-plugin\nVersion: 1.0\n")
    (d / "entry_points.txt").write_text("[egbench]\ntoy = toy_egbench_plugin\n")

    def env(**extra):
        e = {k: v for k, v in os.environ.items() if not k.startswith("EGBENCH_")}
        e.update(
            PYTHONPATH=str(site),
            EGBENCH_LOAD_PLUGINS="toy",
            EGBENCH_OFFLINE="1",
            EGBENCH_THREADS="1",
            EGBENCH_DATA_DIR=os.environ["EGBENCH_DATA_DIR"],
            EGBENCH_ENVS_DIR=str(tmp_path / "no-envs"),
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
        )
        e.update({k: str(v) for k, v in extra.items()})
        return e

    return types.SimpleNamespace(path=site, env=env, egbench=[sys.executable, "-m", "egbench_core.cli"])


# --------------------------------------------------------------------------------------
# a small real store for the report tests (HTML, json), run once per session
# --------------------------------------------------------------------------------------
class HotTask:
    """A tiny ``ood-temperature`` task (family ood), written here so core's tests need no plugin:
    train on the dataset's train/val splits, evaluate and simulate on its split tagged
    ``ood-temperature`` at that split's temperature (acac: test at 600 K)."""

    @hookimpl
    def register_tasks(self, register):
        from egbench_core.default_plugins.tasks import md_plan
        from egbench_core.interfaces import SkipCell, TaskPlan, TaskSpec

        def plan(dataset):
            hot = [s for s, info in dataset.splits.items() if "ood-temperature" in info.tags]
            if not hot:
                raise SkipCell(f"dataset {dataset.name} declares no split tagged 'ood-temperature'")
            temperature = dataset.splits[hot[0]].temperature_K
            return TaskPlan("train", "val", (hot[0],), md_plan(dataset, hot[0], temperature))

        register(
            TaskSpec(name="ood-temperature", plan=plan, family="ood", ood=True, description="300 K -> hotter (tests)")
        )


def _explode(species, cutoff, params, stats):
    raise RuntimeError("build exploded on purpose")


@pytest.fixture(scope="session")
def report_store(emt_data_dir, tmp_path_factory):
    """A smoke run into one store: toy-pair (seeds 0 and 1 on acac) and toy-wide (another preset,
    so other numbers) on acac and synthetic-emt, task standard and ood-temperature (acac 300 → 600 K;
    synthetic-emt has no hot split: skipped); toy-broken fails; toy-molecular is skipped on the
    periodic synthetic-emt. Returns the store (open for reading)."""
    from egbench_core.plugins import load_catalog
    from egbench_core.run.runner import plan_cells, run_cells
    from egbench_core.store import Store

    wide = {"smoke": {"cutoff": 4.5, "model": {"n_basis": 10}, "train": {"epochs": 4, "batch_size": 8, "lr": 2e-2}}}
    root = tmp_path_factory.mktemp("report-store") / "results"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EGBENCH_DATA_DIR", str(emt_data_dir))
        mp.setenv("EGBENCH_OFFLINE", "1")
        cat = load_catalog(
            extra_plugins=[
                ToyPlugin(
                    toy_spec(),
                    toy_spec("toy-wide", presets=wide),
                    toy_spec("toy-broken", build=_explode),
                    toy_spec("toy-molecular", capabilities=Capabilities(periodic=False)),
                ),
                HotTask(),
            ],
            entry_points=False,
        )
        both = "standard,ood-temperature"
        cells = (
            plan_cells(cat, "toy-pair,toy-wide", "acac,synthetic-emt", both, preset="smoke", seeds=[0])
            + plan_cells(cat, "toy-pair", "acac", "standard", preset="smoke", seeds=[1])
            + plan_cells(cat, "toy-broken", "acac", "standard", preset="smoke", seeds=[0])
            + plan_cells(cat, "toy-molecular", "synthetic-emt", "standard", preset="smoke", seeds=[0])
        )
        run_cells(cells, cat, Store(root), argv=["pytest", "report_store"])
    return Store.open_readonly(root)


@pytest.fixture(scope="session")
def pip_install():
    """``pip_install(package_folder, target)``: a real pip install of a plugin folder (its wheel built by
    its own backend, no dependencies) into the private folder ``target``, which is returned."""
    import subprocess
    import sys

    def install(package: Path, target: Path) -> Path:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(target),
                str(package),
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        return target

    return install
