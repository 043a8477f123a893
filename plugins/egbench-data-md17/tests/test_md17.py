"""egbench-data-md17: registry entries, split sizes, units, the benzene checksum rule."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tomllib
import zipfile
from pathlib import Path

import egbench_data_md17
import numpy as np
import pytest

from egbench_core.data.readers import MalformedDataError
from egbench_core.data.registry import DataUnavailableError, Registry, file_hash
from egbench_core.testing.plugin_tests import (
    DataPluginChecks,
    check_git_sha1_on_mirror,
    plugin_datasets,
    plugin_registry_file,
    registry_toml,
)
from egbench_core.testing.plugin_tests import checked_dataset_tables as dataset_tables
from egbench_core.units import energy_factor

MOLECULES = {  # id: (atoms, elements)
    "md17-aspirin": (21, ["H", "C", "O"]),
    "md17-ethanol": (9, ["H", "C", "O"]),
    "md17-naphthalene": (18, ["H", "C"]),
    "md17-salicylic-acid": (16, ["H", "C", "O"]),
}
SYMBOL = {"H": 1, "C": 6, "O": 8}
COMMIT = "e4ee1e9022186e27568df690913cfab2b12295b0"
AMU_TO_EV_FS2 = 1.0 / 9.648533212e-3  # amu Å²/fs² in eV: F/m [eV/Å/amu] * 9.6485e-3 = Å/fs²
BENZENE = "quantum-machine/gdml/data/npz/md17_benzene2017.npz"


# -- registry ---------------------------------------------------------------------------------
def test_every_file_entry_is_complete_and_matches_the_mirror(sha256sums):
    files = registry_toml(egbench_data_md17)["files"]
    assert len(files) == 12
    for name, e in files.items():
        assert e["url"].endswith(name.split("/", 1)[1]) and COMMIT in e["url"], name
        assert e["format"] == "nequip-npz" and e["licence"]
        assert e["units"] == {"energy": "eV", "forces": "eV/Å", "length": "Å"}
        assert e["sha256"] == sha256sums[name], name


def test_every_dataset_declares_conditions_and_splits():
    for name, t in dataset_tables(egbench_data_md17, "md17", periodic=False).items():
        for s, st in t["splits"].items():
            assert st["frames"] > 0 and st["temperature_K"] == 500.0, (name, s)
        assert t["splits"]["test"]["contiguous"] and t["splits"]["test"]["frame_spacing_fs"] == 0.5


# -- the four molecules of the paper ------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MOLECULES))
def test_splits_load_with_protocol_sizes_elements_and_units(datasets, name):
    ds = datasets[name]
    n_atoms, elements = MOLECULES[name]
    assert ds.unavailable_reason() is None
    assert (ds.temperature_K, ds.timestep_fs, ds.periodic) == (500.0, 0.5, False)
    sizes = {}
    for split in ("train", "val", "test"):
        fr = ds.load(split)
        sizes[split] = len(fr)
        assert (fr.n_atoms == n_atoms).all()
        assert fr.elements == sorted(SYMBOL[s] for s in elements) == sorted(SYMBOL[s] for s in ds.elements)
        assert not fr.pbc.any()
        # eV: a few hundred eV per atom (kcal/mol would be ~23x larger), fluctuations of ~1-2 eV
        per_atom = fr.energy / n_atoms
        assert (-900 < per_atom).all() and (per_atom < -400).all()
        assert np.ptp(fr.energy) < 5.0
        # forces in eV/Å: mean |F| ~ 1-2 eV/Å at 500 K, none beyond ~15 eV/Å
        f = np.linalg.norm(fr.forces, axis=1)
        assert 0.5 < f.mean() < 3.0 and f.max() < 15.0
    assert sizes == {"train": 950, "val": 50, "test": 1000}


def test_aspirin_known_frames_are_in_ev(datasets):
    test = datasets["md17-aspirin"].load("test")
    train = datasets["md17-aspirin"].load("train")
    assert test.energy[0] == pytest.approx(-17637.009157208, abs=1e-6)
    assert train.energy[0] == pytest.approx(-17635.84610552784, abs=1e-6)
    # the same frame in MD17's kcal/mol: -406 719 kcal/mol
    assert test.energy[0] / energy_factor("kcal/mol") == pytest.approx(-406719.10, abs=0.01)


def test_test_split_is_contiguous_with_half_femtosecond_spacing(datasets):
    """Second differences of the positions against F/m give the frame spacing: 0.5 fs."""
    from ase.data import atomic_masses

    fr = datasets["md17-aspirin"].load("test")
    n = int(fr.n_atoms[0])
    R = fr.positions.reshape(-1, n, 3)
    acc = R[2:] - 2 * R[1:-1] + R[:-2]  # = a dt²
    a = fr.forces.reshape(-1, n, 3)[1:-1] / atomic_masses[fr.numbers[:n]][None, :, None] / AMU_TO_EV_FS2
    dt = np.sqrt((acc * a).sum() / (a * a).sum())
    assert dt == pytest.approx(0.5, abs=0.01)
    assert np.linalg.norm(R[1:] - R[:-1], axis=-1).max() < 0.1


# -- benzene: listed, refused without a checksum ---------------------------------------------------
def test_benzene_is_listed_but_unavailable_without_a_checksum(datasets):
    ds = datasets["md17-benzene"]
    why = ds.unavailable_reason()
    assert why and "md17_benzene2017.npz" in why and "checksum" in why and "EGBENCH_REGISTRY" in why
    with pytest.raises(DataUnavailableError, match="md17_benzene2017.npz"):
        ds.load("test")
    assert set(ds.elements) <= set(MOLECULES["md17-aspirin"][1])
    assert ds.extra["train_dataset"] == "md17-aspirin" and "zero-shot-target" in ds.tags
    assert ds.splits["test"].frames == 1000


def _fake_md17(path: Path, frames: int, jump: bool = False) -> None:
    rng = np.random.default_rng(0)
    z = np.array([6] * 6 + [1] * 6)
    base = rng.normal(size=(12, 3)) * 1.5
    t = np.arange(frames)[:, None, None] * 0.5
    R = base[None] + 0.05 * np.sin(0.1 * t + rng.uniform(0, 6, size=(1, 12, 3)))
    if jump:
        R[frames // 2 :] += 1.0
    E = -145000.0 + rng.normal(size=frames)  # kcal/mol
    F = rng.normal(size=(frames, 12, 3)) * 30.0  # kcal/mol/Å
    np.savez(path, R=R, z=z, E=E[:, None], F=F, name=np.array("benzene"), theory=np.array("PBE+TS"))


def _user_registry(tmp_path: Path, sha: str) -> Path:
    p = tmp_path / "user_registry.toml"
    p.write_text(f'''[files."{BENZENE}"]
url = "http://www.quantum-machine.org/gdml/data/npz/md17_benzene2017.npz"
sha256 = "{sha}"
format = "md17-npz"
units = {{ energy = "kcal/mol", forces = "kcal/mol/Å", length = "Å" }}
licence = "none stated"
''')
    return p


@pytest.mark.parametrize("jump", [False, True])
def test_benzene_loads_once_a_user_registers_a_checksum(tmp_path, monkeypatch, jump):
    cache = tmp_path / "cache"
    target = cache / BENZENE
    target.parent.mkdir(parents=True)
    _fake_md17(target, 1200, jump=jump)
    sha = hashlib.sha256(target.read_bytes()).hexdigest()
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(cache))
    monkeypatch.setenv("EGBENCH_REGISTRY", str(_user_registry(tmp_path, sha)))
    reg = Registry.load([plugin_registry_file(egbench_data_md17)])
    ds = plugin_datasets(egbench_data_md17, reg)["md17-benzene"]
    assert ds.unavailable_reason() is None
    if jump:
        with pytest.raises(MalformedDataError, match="contiguous"):
            ds.load("test")
        return
    fr = ds.load("test")
    assert len(fr) == 1000 and fr.elements == [1, 6] and not fr.pbc.any()
    with np.load(target) as z:
        assert fr.energy[0] == pytest.approx(float(z["E"][0, 0]) * 0.04336410390059322)
        assert fr.forces[0] == pytest.approx(z["F"][0, 0] * 0.04336410390059322)
        assert fr.positions[:12] == pytest.approx(z["R"][0])
    assert ds.fingerprint()[BENZENE] == f"sha256:{sha};format=md17-npz;units=energy=kcal/mol,forces=kcal/mol/Å,length=Å"


def test_benzene_reader_streams_a_row_range(tmp_path):
    from egbench_data_md17.original import read_md17_npz

    p = tmp_path / "md17.npz"
    _fake_md17(p, 50)
    full = read_md17_npz(p)
    part = read_md17_npz(p, start=10, stop=20)
    assert len(full) == 50 and len(part) == 10
    assert part.positions == pytest.approx(full.subset(range(10, 20)).positions)
    assert part.info["frame"].tolist() == list(range(10, 20))
    # a compressed npz is a stream too
    with np.load(p) as z:
        np.savez_compressed(tmp_path / "c.npz", **{k: z[k] for k in z.files})
    assert read_md17_npz(tmp_path / "c.npz", start=10, stop=20).energy == pytest.approx(part.energy)
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:
        zf.writestr("R.npy", b"")
    with pytest.raises(MalformedDataError, match="lacks keys"):
        read_md17_npz(tmp_path / "bad.npz")


# -- checksums: git blob SHA-1 on a mirror file ----------------------------------------------------
def test_git_sha1_verification_on_a_mirror_file(tmp_path, monkeypatch, data_env):
    name = "mdbenchgnn/Datasets/md17/aspirin/val/nequip_npz.npz"
    try:  # egbench's hash is git's own
        out = subprocess.run(
            ["git", "hash-object", str(data_env / name)], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert out == file_hash(data_env / name, "git-sha1")
    except (OSError, subprocess.CalledProcessError):
        pass
    url = registry_toml(egbench_data_md17)["files"][name]["url"]
    check_git_sha1_on_mirror(data_env, name, url, "nequip-npz", tmp_path, monkeypatch)


# -- the plugin as core sees it -----------------------------------------------------------------------
class TestPlugin(DataPluginChecks):
    module = egbench_data_md17
    entry_point = "md17"
    root = Path(__file__).resolve().parents[1]
    datasets = (*MOLECULES, "md17-benzene")
    bad_registry = (
        '[datasets.bad-md17]\nplugin = "md17"\nkind = "md17-original"\nelements = ["H", "C"]\n'
        "periodic = false\ntemperature_K = 500.0\ntimestep_fs = 0.5\n[datasets.bad-md17.splits.test]\n"
        "select = { range = [0, 10] }\n"
    )
    bad_error = "[datasets.bad-md17] lacks 'source_file'"


def test_aspirin_is_available_from_the_mirror(datasets):
    assert datasets["md17-aspirin"].unavailable_reason() is None


def test_benzene_fingerprint_sees_the_users_units(tmp_path, monkeypatch):
    monkeypatch.setenv("EGBENCH_REGISTRY", str(_user_registry(tmp_path, "ab" * 32)))
    fps = []
    for energy in ("kcal/mol", "kJ/mol"):
        reg = Registry.load([plugin_registry_file(egbench_data_md17)])
        reg.files[BENZENE].units["energy"] = energy
        fps.append(plugin_datasets(egbench_data_md17, reg)["md17-benzene"].fingerprint())
    assert fps[0][BENZENE] != fps[1][BENZENE] and "kJ/mol" in fps[1][BENZENE]


def test_entry_point_and_package_data_are_declared():
    root = Path(__file__).resolve().parents[1]
    with open(root / "pyproject.toml", "rb") as fh:
        pp = tomllib.load(fh)
    assert "egbench-core>=0.1,<0.2" in pp["project"]["dependencies"]
    assert plugin_registry_file(egbench_data_md17).parent == root / "src" / "egbench_data_md17"
    assert re.search(r"md17_benzene2017", (root / "README.md").read_text())
