"""egbench-data-lips: LiPS (bz2 train, unavailable files) and LiPS20 (systems, crystalline /
disordered frames, OOD splits)."""

from __future__ import annotations

import bz2
import hashlib
import re
from pathlib import Path

import egbench_data_lips
import numpy as np
import pytest
from egbench_data_lips.lips20 import crystalline_prefix, unwrapped_displacement

from egbench_core.data.readers import MalformedDataError
from egbench_core.data.registry import ChecksumError, DataUnavailableError, Registry
from egbench_core.testing.plugin_tests import (
    DataPluginChecks,
    check_git_sha1_on_mirror,
    plugin_datasets,
    plugin_registry_file,
    registry_toml,
)
from egbench_core.testing.plugin_tests import checked_dataset_tables as dataset_tables

LIPS_VAL = "mdbenchgnn/Datasets/Data_lips/data/val/nequip_npz.npz"
LIPS_TRAIN = "mdbenchgnn/Datasets/Data_lips/data/train/nequip_npz.npz.bz2"
LIPS_TEST = "mdbenchgnn/Datasets/Data_lips/data/test/nequip_npz.npz"
Z_LIPS = [3, 15, 16]


def _readme_git_sha1(mirror: Path) -> dict[str, str]:
    text = (mirror / "README.md").read_text()
    return {
        "mdbenchgnn/" + m.group(1): m.group(2)
        for m in re.finditer(r"^\| MDBENCHGNN (\S+) \| ([0-9a-f]{40}) \|$", text, re.M)
    }


@pytest.fixture(scope="module")
def lips20(datasets):
    return datasets["lips20"]


# -- registry ---------------------------------------------------------------------------------
def test_every_file_has_an_entry_checked_against_the_mirror(sha256sums, data_env):
    files = registry_toml(egbench_data_lips)["files"]
    git = _readme_git_sha1(data_env)
    ours = {n for n in sha256sums if "/LiPS20/" in n or "/Data_lips/" in n}
    ours |= {n for n in git if "/LiPS20/" in n or "/Data_lips/" in n}
    assert ours == set(files)
    for name, e in files.items():
        assert (
            e["url"]
            == "https://raw.githubusercontent.com/M3RG-IITD/MDBENCHGNN/e4ee1e9022186e27568df690913cfab2b12295b0/"
            + name.split("/", 1)[1]
        )
        assert e["format"] in {"deepmd", "nequip-npz", "text"} and e["licence"]
        if e["format"] != "text":
            assert e["units"] == {"energy": "eV", "forces": "eV/Å", "length": "Å"}
        assert (e.get("sha256") == sha256sums.get(name)) if "sha256" in e else (e["git_sha1"] == git[name]), name
    assert files[LIPS_TRAIN]["compression"] == "bz2"


def test_every_dataset_declares_conditions_and_split_temperatures():
    for name, t in dataset_tables(egbench_data_lips, "lips", periodic=True).items():
        assert t["timestep_fs"] == 1.0
        for s, st in t["splits"].items():
            assert st["temperature_K"] == t["temperature_K"], (name, s)


# -- LiPS ---------------------------------------------------------------------------------------
def test_lips_val_loads_and_train_test_are_unavailable_offline(datasets):
    ds = datasets["lips"]
    why = ds.unavailable_reason()
    assert why and LIPS_TRAIN in why and LIPS_TEST in why
    assert (ds.temperature_K, ds.splits["train"].frames, ds.splits["val"].frames) == (520.0, 19000, 1000)
    fr = ds.load("val")
    assert len(fr) == 1000 and (fr.n_atoms == 83).all() and fr.elements == Z_LIPS
    assert np.bincount(fr.numbers[:83], minlength=17)[Z_LIPS].tolist() == [27, 12, 44]  # Li6.75P3S11
    assert fr.pbc.all() and np.abs(np.linalg.det(fr.cell)).min() > 1000
    assert fr.energy[0] == pytest.approx(-357.76645385, abs=1e-6)
    assert (-4.5 < fr.energy / 83).all() and (fr.energy / 83 < -4.0).all()  # VASP eV per atom
    f = np.linalg.norm(fr.forces, axis=1)
    assert 0.3 < f.mean() < 2.0 and f.max() < 15
    with pytest.raises(DataUnavailableError, match=re.escape(LIPS_TRAIN)):
        ds.load("train")
    with pytest.raises(DataUnavailableError, match=re.escape(LIPS_TEST)):
        ds.load("test")


def test_bz2_files_are_verified_compressed_then_decompressed(tmp_path, monkeypatch, data_env):
    """The checksum is the upstream (compressed) blob's; the plugin decompresses it once."""
    cache = tmp_path / "cache"
    raw = (data_env / LIPS_VAL).read_bytes()
    target = cache / "fake/lips/small.npz.bz2"
    target.parent.mkdir(parents=True)
    target.write_bytes(bz2.compress(raw))
    git = hashlib.sha1(b"blob %d\0" % target.stat().st_size + target.read_bytes()).hexdigest()
    reg_file = tmp_path / "reg.toml"
    reg_file.write_text(f'''[files."fake/lips/small.npz.bz2"]
url = "https://example.invalid/small.npz.bz2"
git_sha1 = "{git}"
format = "nequip-npz"
compression = "bz2"
units = {{ energy = "eV", forces = "eV/Å", length = "Å" }}

[datasets.fake-lips]
plugin = "lips"
elements = ["Li", "P", "S"]
periodic = true
temperature_K = 520.0
timestep_fs = 1.0
[datasets.fake-lips.splits.train]
file = "fake/lips/small.npz.bz2"
select = {{ range = [0, 100] }}
frames = 100
''')
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(cache))
    reg = Registry.load([plugin_registry_file(egbench_data_lips), reg_file])
    ds = plugin_datasets(egbench_data_lips, reg)["fake-lips"]
    fr = ds.load("train")
    assert len(fr) == 100 and fr.energy[0] == pytest.approx(-357.76645385)
    out = cache / "decompressed/fake/lips/small.npz"
    assert (
        out.read_bytes() == raw
        and (cache / "decompressed/fake/lips/small.npz.source").read_text().strip() == f"git-sha1:{git}"
    )
    # a corrupted compressed file is caught by the checksum, before decompression
    target.write_bytes(bz2.compress(raw[:-10]))
    with pytest.raises(ChecksumError):
        ds.load("train")


# -- LiPS20 -------------------------------------------------------------------------------------
def test_lips20_systems_and_roles(lips20):
    assert lips20.unavailable_reason() is None
    assert len(lips20.systems) == 16
    train = lips20.system_names("train")
    assert len(train) == 14 and all(lips20.systems[s].atoms < 100 for s in train)
    assert sorted(lips20.system_names("composition-test")) == ["Li48P16S61", "gamma-Li3PS4"]
    assert {lips20.systems[s].atoms for s in lips20.system_names("composition-test")} == {125, 128}
    assert (lips20.temperature_K, lips20.timestep_fs, lips20.periodic) == (3000.0, 1.0, True)


def test_lips20_system_frames_are_in_ev(lips20):
    for name, per_atom in (("Li", (-205, -200)), ("S", (-280, -275)), ("Li7P3S11", (-245, -235))):
        fr = lips20.load_system(name)
        n = lips20.systems[name].atoms
        assert len(fr) == 1000 and (fr.n_atoms == n).all() and fr.pbc.all()
        e = fr.energy / n
        assert (per_atom[0] < e).all() and (e < per_atom[1]).all(), name
        f = np.linalg.norm(fr.forces, axis=1)
        assert 0.5 < f.mean() < 5.0 and f.max() < 40, name


def test_crystalline_frames_are_the_first_ones_and_below_threshold(lips20):
    total = 0
    for name in lips20.system_names("train") + lips20.system_names("composition-test"):
        fr = lips20.load_system(name)
        k = lips20.crystalline_count(name)
        d = lips20.displacement(name)
        assert 0 < k < 1000, name  # every crystal melts (or turns superionic) at 3000 K
        assert fr.info["crystalline"].tolist() == [True] * k + [False] * (1000 - k), name
        assert (d[:k] < 0.5).all() and d[k] >= 0.5 and d[0] == 0.0, name
        if name in lips20.system_names("train"):
            total += k
    assert total == lips20.splits["crystal-test"].frames == 414
    b = lips20.breakdown()
    assert b["Li2S"]["crystalline"] == 200 and b["Li4P2S6"]["below_threshold"] > b["Li4P2S6"]["crystalline"]


def test_lips20_splits_sizes_and_disjointness(lips20):
    seen = {}
    for split, n in {"train": 2800, "val": 280, "test": 1400, "crystal-test": 414, "composition-test": 2000}.items():
        fr = lips20.load(split)
        assert len(fr) == n and fr.elements == Z_LIPS and fr.pbc.all(), split
        assert lips20.splits[split].temperature_K == 3000.0 and not lips20.splits[split].contiguous
        keys = set(zip(fr.info["system"].tolist(), fr.info["frame"].tolist()))
        assert len(keys) == n, f"{split} repeats frames"
        for other, ks in seen.items():
            assert not keys & ks, (split, other)
        seen[split] = keys
    test = lips20.load("test")
    assert test.info["frame"].min() == 900 and not test.info["crystalline"].any()
    assert not lips20.load("train").info["crystalline"].any() and lips20.load("crystal-test").info["crystalline"].all()
    assert lips20.load("train").info["frame"].max() < 850  # the 50-frame buffer before the test frames
    comp = lips20.load("composition-test")
    assert set(comp.info["system"]) == {"Li48P16S61", "gamma-Li3PS4"}
    assert not set(comp.info["system"]) & {s for s, _ in seen["train"]}
    # seeded order: the first frames of a split mix systems; loading twice gives the same frames
    assert len(set(lips20.load("train").info["system"][:40])) > 5
    np.testing.assert_array_equal(lips20.load("val").positions, lips20.load("val").positions)
    assert (
        "ood-crystal" in lips20.splits["crystal-test"].tags
        and "ood-composition" in lips20.splits["composition-test"].tags
    )


def test_lips20_glasses_are_listed_and_unavailable_offline(datasets):
    ds = datasets["lips20-glass"]
    why = ds.unavailable_reason()
    assert why and "g67/3000K/deepmd/Li82P40S138/set.000/coord.npy" in why and "8 file(s)" in why
    assert ds.extra["train_dataset"] == "lips20" and ds.splits["composition-test"].frames == 4000
    assert sorted(ds.systems) == ["g67", "g70", "g75", "g80"]
    assert all(s.atoms > 250 and s.start == "glass" for s in ds.systems.values())
    with pytest.raises(DataUnavailableError, match=r"set\.000/(coord|force)\.npy"):
        ds.load("composition-test")


def test_fingerprint_names_every_file_and_the_split_definition(lips20, registry):
    fp = lips20.fingerprint()
    assert len([k for k in fp if k.startswith("mdbenchgnn/")]) == 16 * 7
    table = dict(registry.datasets["lips20"])
    table["selection"] = dict(table["selection"], seed=1)
    other = type(lips20)("lips20", table, registry)
    assert other.fingerprint()["splits"] != fp["splits"]


def test_lips20_fingerprint_and_frames_follow_a_files_units(lips20, data_env):
    """A file's declared units are part of the fingerprint and are applied when a system loads."""
    system = lips20.systems["Li"]
    first = lips20.file_names([system])[0]
    base_reg, reg = (Registry.load([plugin_registry_file(egbench_data_lips)]) for _ in range(2))
    base = type(lips20)("lips20", base_reg.datasets["lips20"], base_reg)
    fp = base.fingerprint()
    assert fp[first].endswith(";format=deepmd;units=energy=eV,forces=eV/Å,length=Å")
    for e in reg.under(system.folder):
        e.units["energy"], e.units["forces"] = "meV", "meV/Å"
    milli = type(lips20)("lips20", reg.datasets["lips20"], reg)
    assert milli.fingerprint()[first] != fp[first] and milli.fingerprint()["splits"] == fp["splits"]
    ev, mev = base.load_system("Li"), milli.load_system("Li")
    np.testing.assert_allclose(mev.energy, ev.energy * 1e-3)
    np.testing.assert_allclose(mev.forces, ev.forces * 1e-3)
    assert ev.info["file_frame"].tolist() == list(range(1000)) and ev.info["frame"].tolist() == list(range(1000))


# -- the unwrapping itself -------------------------------------------------------------------------
def test_unwrapping_follows_atoms_across_the_boundary():
    cell = np.diag([5.0, 6.0, 7.0])
    steps = np.arange(40)[:, None, None] * np.array([0.3, -0.2, 0.0])  # drift, crossing x and y boundaries
    true = np.array([[4.5, 0.5, 1.0], [1.0, 1.0, 1.0]])[None] + steps
    wrapped = true - np.floor(true / np.diag(cell)) * np.diag(cell)
    d = unwrapped_displacement(wrapped, np.repeat(cell[None], 40, 0))
    np.testing.assert_allclose(d, np.arange(40) * np.hypot(0.3, 0.2), atol=1e-9)
    assert crystalline_prefix(d, 0.5) == 2 and crystalline_prefix(np.zeros(5), 0.5) == 5
    jump = wrapped.copy()
    jump[5:] += np.array([1.6, 0.0, 0.0])  # a 1.9 Å step in a 5 Å cell: which image?
    with pytest.raises(MalformedDataError, match="frame 5"):
        unwrapped_displacement(jump, np.repeat(cell[None], 40, 0))


# -- checksums and the plugin as core sees it ----------------------------------------------------------
def test_git_sha1_verification_on_a_mirror_file(tmp_path, monkeypatch, data_env):
    check_git_sha1_on_mirror(data_env, LIPS_VAL, "https://example.invalid/x", "nequip-npz", tmp_path, monkeypatch)


class TestPlugin(DataPluginChecks):
    module = egbench_data_lips
    entry_point = "lips"
    root = Path(__file__).resolve().parents[1]
    datasets = ("lips", "lips20", "lips20-glass")
    bad_registry = (
        '[datasets.bad-lips]\nplugin = "lips"\nkind = "lips20"\nelements = ["Li", "P", "S"]\n'
        "periodic = true\ntemperature_K = 3000.0\ntimestep_fs = 1.0\nfriction_per_ps = -1.0\n"
        '[datasets.bad-lips.splits.train]\nkind = "all"\n'
    )
    bad_error = "[datasets.bad-lips] friction_per_ps = -1.0: expected"
