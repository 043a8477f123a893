"""egbench-data-botnet: 3BPA splits, temperatures, units; BOTNet files; checksums."""

from __future__ import annotations

import re
from pathlib import Path

import egbench_data_botnet
import numpy as np
import pytest

from egbench_core.data.readers import read_extxyz
from egbench_core.data.registry import DataUnavailableError
from egbench_core.testing.plugin_tests import (
    DataPluginChecks,
    check_git_sha1_on_mirror,
    checked_dataset_tables,
    registry_toml,
)

FORMATS = {"extxyz", "nequip-npz", "deepmd"}
Z_3BPA = [1, 6, 7, 8]


def _readme_git_sha1(mirror: Path) -> dict[str, str]:
    """The git blob SHA-1 table of the mirror's README: upstream path -> sha1."""
    out = {}
    for m in re.finditer(
        r"^\| (MDBENCHGNN|BOTNet-datasets) (\S+) \| ([0-9a-f]{40}) \|$", (mirror / "README.md").read_text(), re.M
    ):
        out[("mdbenchgnn/" if m.group(1) == "MDBENCHGNN" else "botnet-datasets/") + m.group(2)] = m.group(3)
    return out


# the upstream repository and pinned commit of each source prefix in the registry
_UPSTREAM = {
    "mdbenchgnn": ("M3RG-IITD/MDBENCHGNN", "e4ee1e9022186e27568df690913cfab2b12295b0"),
    "botnet-datasets": ("davkovacs/BOTNet-datasets", "29e6d467317e4b5967b7ea5cbee54de953fa0d45"),
}


def test_every_file_entry_is_complete_and_checked_against_the_mirror(sha256sums, data_env):
    git = _readme_git_sha1(data_env)
    files = registry_toml(egbench_data_botnet)["files"]
    for name, e in files.items():
        src, _, path = name.partition("/")
        repo, commit = _UPSTREAM[src]
        assert e["url"] == f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
        assert e["format"] in FORMATS and e["licence"] and e["units"]["energy"] == "eV"
        if "sha256" in e:
            assert e["sha256"] == sha256sums[name], name
        else:
            assert e["git_sha1"] == git[name], name
            assert name not in sha256sums
    assert {n for n in git if n.startswith("botnet-datasets/dataset_3BPA/")} <= set(files)
    assert {n for n in sha256sums if "3BPA" in n or "3bpa" in n} <= set(files)


def test_every_dataset_declares_conditions_and_split_temperatures():
    for t in checked_dataset_tables(egbench_data_botnet, "botnet", periodic=False).values():
        assert t["splits"]["train"]["temperature_K"] == t["temperature_K"] == 300.0


def test_3bpa_loads_with_the_protocol_splits(datasets):
    ds = datasets["3bpa"]
    assert ds.unavailable_reason() is None
    expect = {"train": (500, 300.0), "val": (1669, 300.0), "test": (2138, 600.0)}
    for split, (n, temp) in expect.items():
        fr = ds.load(split)
        assert len(fr) == n and ds.splits[split].temperature_K == temp
        assert (fr.n_atoms == 27).all() and fr.elements == Z_3BPA
        assert not fr.pbc.any(), "the release says pbc=True around a molecule; the loader must drop it"
        assert (-660 < fr.energy / 27).all() and (fr.energy / 27 < -650).all()  # eV (kcal/mol: ~-15 000)
        f = np.linalg.norm(fr.forces, axis=1)
        assert 0.5 < f.mean() < 3.0 and f.max() < 15.0
        assert not ds.splits[split].contiguous
    assert ds.load("train").energy[0] == pytest.approx(-17660.461737861464, abs=1e-8)


def test_release_train_is_botnet_train_300k_and_val_test_temperatures(datasets, registry):
    """Which file is which: train == train_300K.xyz; the force variance of val / test against
    train (300 K) puts them at 300 K and 600 K (⟨F²⟩ ∝ T near equilibrium)."""
    ds = datasets["3bpa"]
    train = ds.load("train")
    xyz = read_extxyz(registry.fetch("botnet-datasets/dataset_3BPA/train_300K.xyz"))
    np.testing.assert_array_equal(train.positions, xyz.positions)
    np.testing.assert_array_equal(train.energy, xyz.energy)
    np.testing.assert_array_equal(train.forces, xyz.forces)
    f2 = (train.forces**2).mean()
    t_val = 300.0 * (ds.load("val").forces ** 2).mean() / f2
    t_test = 300.0 * (ds.load("test").forces ** 2).mean() / f2
    assert t_val == pytest.approx(300, rel=0.1) and t_test == pytest.approx(600, rel=0.1)


def test_ood_temperature_pairs_follow_from_the_declarations(datasets):
    def hotter(ds):
        t0 = ds.splits["train"].temperature_K
        return sorted(s for s, i in ds.splits.items() if i.temperature_K is not None and i.temperature_K > t0)

    assert hotter(datasets["3bpa"]) == ["test"]
    assert hotter(datasets["3bpa-botnet"]) == ["test-1200k", "test-600k"]
    for ds in datasets.values():
        assert all("ood-temperature" in ds.splits[s].tags for s in hotter(ds))
        assert "ood-temperature" in ds.tags


def test_botnet_layout_is_listed_and_unavailable_offline(datasets):
    ds = datasets["3bpa-botnet"]
    why = ds.unavailable_reason()
    assert why and re.search(r"dataset_3BPA/test_(300K|600K|1200K|dih)\.xyz", why)
    train, val = ds.load("train"), ds.load("val")
    assert (len(train), len(val)) == (450, 50)
    assert not set(np.round(train.energy, 8)) & set(np.round(val.energy, 8))
    assert len(ds.load("train-mixedt")) == 500
    with pytest.raises(DataUnavailableError, match="test_300K.xyz"):
        ds.load("test")
    with pytest.raises(DataUnavailableError, match="test_1200K.xyz"):
        ds.load("test-1200k")


def test_isolated_atom_energies(datasets):
    """Both 3BPA datasets declare iso_atoms.xyz (from the mirror, verified): every element, eV."""
    expect = {1: -13.587222780835477, 6: -1029.4889999855063, 7: -1484.9814568572233, 8: -2041.9816003861047}
    for name in ("3bpa", "3bpa-botnet"):
        ds = datasets[name]
        assert ds.isolated_atom_energies() == expect, name
        assert "botnet-datasets/dataset_3BPA/iso_atoms.xyz" in ds.fingerprint()
        assert "botnet-datasets/dataset_3BPA/iso_atoms.xyz" in ds.file_names()


def test_git_sha1_verification_on_a_mirror_file(tmp_path, monkeypatch, data_env):
    name = "botnet-datasets/dataset_3BPA/iso_atoms.xyz"
    url = registry_toml(egbench_data_botnet)["files"][name]["url"]
    check_git_sha1_on_mirror(data_env, name, url, "extxyz", tmp_path, monkeypatch, wrong="f" * 40)


class TestPlugin(DataPluginChecks):
    module = egbench_data_botnet
    entry_point = "botnet"
    root = Path(__file__).resolve().parents[1]
    datasets = ("3bpa", "3bpa-botnet")
    bad_registry = (
        '[datasets.bad-botnet]\nplugin = "botnet"\nelements = ["H", "C", "N", "O"]\nperiodic = false\n'
        "temperature_K = 300.0\ntimestep_fs = 0\n[datasets.bad-botnet.splits.train]\n"
        'file = "botnet-datasets/dataset_3BPA/train_300K.xyz"\n'
    )
    bad_error = "[datasets.bad-botnet] timestep_fs = 0: expected"
