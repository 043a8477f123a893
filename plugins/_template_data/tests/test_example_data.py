"""The template data plugin's tests: its registry entries match the files it ships, and the dataset
registers through egbench's plugin manager and loads offline with the values EMT gave."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from egbench_core.data.registry import file_hash
from egbench_core.plugins import load_catalog
from egbench_core.testing.plugin_tests import DataPluginChecks, plugin_registry_file
from egbench_core.testing.source import plugin_module

# installed, or else from this folder's src/ (how egbench's CI runs the template)
egbench_data_example = plugin_module("egbench_data_example", __file__)

ROOT = Path(__file__).resolve().parents[1]
E_MIN = 9.361357881525024  # eV: EMT energy of the relaxed Cu13 icosahedron


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """A fresh cache, no mirror, no user registry, no network: only the copies inside the package."""
    for var in ("EGBENCH_DATA_MIRROR", "EGBENCH_REGISTRY", "EGBENCH_LOAD_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EGBENCH_OFFLINE", "1")


@pytest.fixture
def catalog():
    cat = load_catalog(extra_plugins=[egbench_data_example], entry_points=False)
    info = cat.plugins["egbench_data_example"]
    assert info.status == "ok", info.error
    assert not {k: v for k, v in cat.problems.items() if "example" in k}
    return cat


@pytest.fixture
def ds(catalog):
    return catalog.datasets["example-cu13"]


class TestPlugin(DataPluginChecks):
    module = egbench_data_example
    entry_point = "example-data"
    root = ROOT
    datasets = ("example-cu13",)
    # a user registry file whose one table has an impossible time step
    bad_registry = (
        '[datasets.example-broken]\nplugin = "example-data"\nelements = ["Cu"]\nperiodic = false\n'
        "temperature_K = 300.0\ntimestep_fs = 0.0\n[datasets.example-broken.splits.train]\n"
        'file = "egbench-data-example/cu13_emt_300K.xyz"\n'
    )
    bad_error = "[datasets.example-broken] timestep_fs = 0.0: expected a number with 0 < timestep_fs <= 10 (fs)"


def test_every_file_entry_matches_the_shipped_file():
    with open(plugin_registry_file(egbench_data_example), "rb") as fh:
        files = tomllib.load(fh)["files"]
    assert len(files) == 3
    for name, e in files.items():
        package, _, resource = e["embedded"].partition(":")
        shipped = Path(egbench_data_example.__file__).parent / resource
        assert package == "egbench_data_example" and shipped.is_file(), name
        assert file_hash(shipped, "sha256") == e["sha256"], f"{name}: update its sha256 in registry.toml"


def test_the_dataset_registers_through_the_plugin(ds):
    assert ds.plugin == "egbench_data_example"
    assert ds.elements == ["Cu"] and ds.periodic is False
    assert (ds.temperature_K, ds.timestep_fs, ds.friction_per_ps) == (300.0, 2.0, 0.5)
    assert ds.unavailable_reason() is None  # the embedded copies: no network, no mirror
    assert ds.isolated_atom_energies() == {29: 3.51}


def test_splits_load_in_ev_with_the_emt_values(ds):
    assert {s: len(ds.load(s)) for s in ds.splits} == {"train": 18, "val": 6, "test": 10, "test-600k": 10}
    train, val = ds.load("train"), ds.load("val")
    # a seeded split of one 24-frame file: disjoint, together the whole file
    assert sorted(np.concatenate([train.info["file_frame"], val.info["file_frame"]]).tolist()) == list(range(24))
    test = ds.load("test")
    assert test.elements == [29] and (test.n_atoms == 13).all() and not test.pbc.any()
    assert test.energy[0] == pytest.approx(9.915145530438586, abs=1e-9)
    assert ds.load("test-600k").energy[0] == pytest.approx(10.15767662146932, abs=1e-9)
    for split in ds.splits:
        fr = ds.load(split)
        net = np.add.reduceat(fr.forces, fr.offsets[:-1], axis=0)
        assert np.abs(net).max() < 1e-6  # EMT forces sum to zero on every frame
    # thermal: the potential energy above the minimum is about (3N - 6)/2 kT per temperature
    for split, temperature in (("train", 300.0), ("test-600k", 600.0)):
        excess = ds.load(split).energy.mean() - E_MIN
        assert excess == pytest.approx(33 / 2 * 8.617333e-5 * temperature, rel=0.3)


def test_the_splits_join_the_standard_task(catalog, ds):
    plan = catalog.tasks["standard"].plan(ds)
    assert plan.eval_splits == ("test",)
    # a contiguous split with its frame spacing: MD starts from the reference velocities
    assert plan.md.start_velocities == "reference" and plan.md.reference_spacing_fs == 2.0


def test_the_600k_split_joins_ood_temperature(ds):
    ood = pytest.importorskip("egbench_task_ood")
    plan = ood.make_plan("ood-temperature")(ds)
    assert plan.eval_splits == ("test-600k",) and plan.md.temperature_K == 600.0 and plan.train_dataset is None
