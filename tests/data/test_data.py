"""Readers (extxyz, nequip npz, DeePMD), unit conversion, malformed files, Frames, acac splits."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from ase import units

from egbench_core.data.datasets import RegistryDataset
from egbench_core.data.readers import Frames, MalformedDataError, read_deepmd, read_extxyz, read_nequip_npz
from egbench_core.data.registry import Registry
from egbench_core.plugins import load_catalog

TRAIN = "botnet-datasets/dataset_acac/train_300K.xyz"
TEST = "botnet-datasets/dataset_acac/test_MD_300K.xyz"
LIPS = "mdbenchgnn/Datasets/LiPS20/Li7P3S11/3000K/deepmd/Li28P12S44"

# first frame of train_300K.xyz, as written in the file
FIRST_ENERGY = -9391.45554428476
FIRST_POS = [0.07874433, 1.40230941, 0.08237721]
FIRST_FORCE = [1.47339228, 1.13796366, 0.06391102]


@pytest.fixture
def acac_train_path():
    return Registry.load().fetch(TRAIN)  # the embedded copy, unpacked into the test's cache


@pytest.fixture
def acac_train(acac_train_path) -> Frames:
    return read_extxyz(acac_train_path)


# -- extxyz -----------------------------------------------------------------------------
def test_read_extxyz_acac_train(acac_train, acac_train_path):
    f = acac_train
    assert len(f) == 500
    assert (f.n_atoms == 15).all() and f.positions.shape == (7500, 3) and f.forces.shape == (7500, 3)
    assert f.energy[0] == FIRST_ENERGY
    np.testing.assert_array_equal(f.forces[0], FIRST_FORCE)
    np.testing.assert_array_equal(f.positions[0], FIRST_POS)
    assert f.numbers[:7].tolist() == [6, 6, 6, 8, 6, 8, 6]  # C C C O C O C ...
    assert sorted(f.elements) == [1, 6, 8]
    assert not f.pbc.any()
    np.testing.assert_array_equal(f.cell[0], 50.0 * np.eye(3))
    assert f.info["config_type"][0] == "300K_MD"
    assert f.has_labels
    assert f.source == str(acac_train_path)


def test_read_extxyz_gz_equals_plain(tmp_path, acac_train_path, acac_train):
    import gzip

    gz = tmp_path / "train.xyz.gz"
    gz.write_bytes(gzip.compress(acac_train_path.read_bytes()))
    g = read_extxyz(gz)
    np.testing.assert_array_equal(g.energy, acac_train.energy)
    np.testing.assert_array_equal(g.forces, acac_train.forces)


def _frame(symbols, pos, forces, energy, extra=""):
    lines = [str(len(symbols)), f'Properties=species:S:1:pos:R:3:forces:R:3 energy={energy} pbc="F F F"{extra}']
    for s, p, f in zip(symbols, pos, forces):
        lines.append(f"{s} {p[0]} {p[1]} {p[2]} {f[0]} {f[1]} {f[2]}")
    return "\n".join(lines) + "\n"


def test_units_kcal_per_mol_convert_to_ev(tmp_path):
    pos = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.96], [0.93, 0.0, -0.24]]
    frc = [[1.0, -2.0, 3.0], [0.5, 0.25, -0.125], [-1.5, 1.75, -2.875]]
    text = _frame(["O", "H", "H"], pos, frc, -47000.5) + _frame(["O", "H", "H"], pos, frc, -47001.25)
    path = tmp_path / "kcal.xyz"
    path.write_text(text)
    kcal = units.kcal / units.mol
    f = read_extxyz(path, energy_unit="kcal/mol", force_unit="kcal/mol/Å")
    np.testing.assert_allclose(f.energy, [-47000.5 * kcal, -47001.25 * kcal], rtol=1e-12)
    np.testing.assert_allclose(f.forces[:3], np.array(frc) * kcal, rtol=1e-12)
    np.testing.assert_array_equal(f.positions[:3], pos)  # lengths stay in Å
    # Bohr lengths: positions scale up, forces per Bohr scale down (core uses CODATA 2018 for
    # Hartree and Bohr, ase.units CODATA 2014 by default: they agree to ~1e-8)
    b = read_extxyz(path, energy_unit="Hartree", force_unit="Hartree/Bohr", length_unit="Bohr")
    np.testing.assert_allclose(b.positions[:3], np.array(pos) * units.Bohr, rtol=1e-7)
    np.testing.assert_allclose(b.forces[:3], np.array(frc) * units.Hartree / units.Bohr, rtol=1e-7)
    np.testing.assert_allclose(b.energy[0], -47000.5 * units.Hartree, rtol=1e-7)
    with pytest.raises(ValueError, match="kcal"):
        read_extxyz(path, energy_unit="kcal")


def test_units_from_registry_entry(tmp_path, monkeypatch, hermetic_env):
    """A registry file declared in kcal/mol is converted on load through the dataset."""
    pos = [[0.0, 0.0, 0.0], [0.0, 0.0, 1.1]]
    frc = [[0.0, 0.0, 2.0], [0.0, 0.0, -2.0]]
    text = "".join(_frame(["C", "O"], pos, frc, e) for e in (-100.0, -101.0, -102.0, -103.0))
    name = "local/co/kcal.xyz"
    target = hermetic_env / name
    target.parent.mkdir(parents=True)
    target.write_text(text)
    sha = hashlib.sha256(target.read_bytes()).hexdigest()
    reg_file = tmp_path / "reg.toml"
    reg_file.write_text(f"""
[files."{name}"]
url = "https://example.invalid/kcal.xyz"
sha256 = "{sha}"
format = "extxyz"
units = {{ energy = "kcal/mol", forces = "kcal/mol/Å", length = "Å" }}

[datasets.co-kcal]
elements = ["C", "O"]
periodic = false
temperature_K = 300.0
timestep_fs = 0.5
[datasets.co-kcal.splits.train]
file = "{name}"
select = {{ range = [0, 3] }}
frames = 3
[datasets.co-kcal.splits.val]
file = "{name}"
select = {{ range = [3, 4] }}
""")
    monkeypatch.setenv("EGBENCH_REGISTRY", str(reg_file))
    ds = load_catalog(entry_points=False).datasets["co-kcal"]
    assert isinstance(ds, RegistryDataset)
    kcal = units.kcal / units.mol
    tr = ds.load("train")
    np.testing.assert_allclose(tr.energy, np.array([-100.0, -101.0, -102.0]) * kcal, rtol=1e-12)
    np.testing.assert_allclose(tr.forces[0], np.array([0.0, 0.0, 2.0]) * kcal, rtol=1e-12)
    np.testing.assert_allclose(ds.load("val").energy, [-103.0 * kcal], rtol=1e-12)


# -- malformed files --------------------------------------------------------------------
def _three_frames():
    pos = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.96], [0.93, 0.0, -0.24]]
    frc = [[0.1, 0.2, 0.3]] * 3
    return [_frame(["O", "H", "H"], pos, frc, -10.0 - k) for k in range(3)]


def _drop_line(frame_text: str, line: int) -> str:
    lines = frame_text.splitlines(keepends=True)
    del lines[line]
    return "".join(lines)


@pytest.mark.parametrize(
    "name, corrupt, says",
    [
        ("missing.xyz", lambda fr: fr[0] + _drop_line(fr[1], 3) + fr[2], ["frame 1"]),
        # missing line in the last frame: the file ends early
        ("truncated.xyz", lambda fr: fr[0] + fr[1] + _drop_line(fr[2], 4), ["frame 2", "2 of 3"]),
        ("nonnumeric.xyz", lambda fr: fr[0] + fr[1] + fr[2].replace("0.93", "0.9x3", 1), ["frame 2", "0.9x3"]),
        ("badcount.xyz", lambda fr: fr[0] + fr[1].replace("3\n", "three\n", 1) + fr[2], ["frame 1", "atom count"]),
        # a count larger than the frame: the next frame's header is read as atom lines
        ("toolarge.xyz", lambda fr: fr[0] + fr[1].replace("3\n", "4\n", 1) + fr[2], ["frame 1"]),
    ],
)
def test_malformed_extxyz_names_file_and_frame(tmp_path, name, corrupt, says):
    path = tmp_path / name
    path.write_text(corrupt(_three_frames()))
    with pytest.raises(MalformedDataError) as info:
        read_extxyz(path)
    for part in (str(path), *says):
        assert part in str(info.value), (part, str(info.value))


def test_unknown_element_and_empty_file(tmp_path):
    path = tmp_path / "xx.xyz"
    path.write_text(_three_frames()[0].replace("O ", "Qq ", 1))
    with pytest.raises(MalformedDataError, match="frame 0"):
        read_extxyz(path)
    empty = tmp_path / "empty.xyz"
    empty.write_text("\n\n")
    with pytest.raises(MalformedDataError, match="no frames"):
        read_extxyz(empty)


# -- npz and DeePMD (mirror) ------------------------------------------------------------
def test_read_nequip_npz_matches_extxyz(mirror, acac_train):
    n = read_nequip_npz(mirror / "mdbenchgnn/Datasets/acac/data/train/nequip_npz.npz")
    assert len(n) == 500 and (n.n_atoms == 15).all()
    np.testing.assert_allclose(n.energy[:5], acac_train.energy[:5], rtol=0, atol=1e-8)
    assert n.energy[0] == pytest.approx(FIRST_ENERGY, abs=1e-8)
    np.testing.assert_allclose(n.positions[:75], acac_train.positions[:75], atol=1e-8)
    np.testing.assert_allclose(n.forces[:75], acac_train.forces[:75], atol=1e-8)
    assert n.numbers[:15].tolist() == acac_train.numbers[:15].tolist()


def test_read_deepmd_lips(mirror):
    folder = mirror / LIPS
    f = read_deepmd(folder)
    assert len(f) == 1000 and (f.n_atoms == 84).all()
    assert f.elements == [3, 15, 16]  # Li P S
    first = f.numbers[f.atoms_slice(0)]
    assert [(first == z).sum() for z in (3, 15, 16)] == [28, 12, 44]
    assert f.pbc.all()
    vol = np.abs(np.linalg.det(f.cell))
    assert (vol > 100).all()
    np.testing.assert_allclose(f.energy, np.load(folder / "set.000/energy.npy").reshape(-1))
    np.testing.assert_allclose(f.forces[:84], np.load(folder / "set.000/force.npy").reshape(1000, 84, 3)[0])
    assert f.has_labels
    atoms = f.to_atoms(999)
    assert atoms.pbc.all() and atoms.get_chemical_formula() == "Li28P12S44"
    np.testing.assert_allclose(atoms.cell.array, np.load(folder / "set.000/box.npy")[999].reshape(3, 3))


def test_read_deepmd_missing_forces(tmp_path, mirror):
    import shutil

    folder = tmp_path / "lips"
    shutil.copytree(mirror / LIPS, folder)
    (folder / "set.000/force.npy").unlink()
    with pytest.raises(MalformedDataError, match="force.npy"):
        read_deepmd(folder)
    unlabelled = read_deepmd(folder, require_forces=False)
    assert len(unlabelled) == 1000 and np.isnan(unlabelled.forces).all() and not unlabelled.has_labels


# -- Frames -----------------------------------------------------------------------------
def test_frames_subset_concatenate_to_atoms_round_trip(acac_train):
    f = acac_train
    a = f.subset([3, 1])
    b = f.subset([0])
    assert len(a) == 2 and a.energy.tolist() == [f.energy[3], f.energy[1]]
    np.testing.assert_array_equal(a.positions[:15], f.positions[45:60])
    np.testing.assert_array_equal(a.forces[15:], f.forces[15:30])
    c = Frames.concatenate([a, b])
    assert len(c) == 3 and c.n_atoms.tolist() == [15, 15, 15]
    np.testing.assert_array_equal(c.energy, f.energy[[3, 1, 0]])
    np.testing.assert_array_equal(c.positions, f.subset([3, 1, 0]).positions)
    assert c.info["config_type"].tolist() == ["300K_MD"] * 3
    assert len(f.subset([])) == 0
    # to_atoms -> from_atoms keeps every array
    atoms = [c.to_atoms(i) for i in range(len(c))]
    assert atoms[0].calc is None
    back = Frames.from_atoms(atoms, energies=c.energy, forces=[c.forces[c.atoms_slice(i)] for i in range(3)])
    for k in ("positions", "numbers", "n_atoms", "cell", "pbc", "energy", "forces"):
        np.testing.assert_array_equal(getattr(back, k), getattr(c, k), err_msg=k)
    unlabelled = Frames.from_atoms(atoms)
    assert np.isnan(unlabelled.energy).all() and not unlabelled.has_labels
    with pytest.raises(ValueError):
        Frames.concatenate([])


def test_frames_shape_mismatch_raises():
    with pytest.raises(MalformedDataError, match="forces"):
        Frames(
            positions=np.zeros((4, 3)),
            numbers=[1, 1, 1, 1],
            n_atoms=[2, 2],
            cell=np.zeros((2, 3, 3)),
            pbc=np.zeros((2, 3)),
            energy=[0.0, 0.0],
            forces=np.zeros((3, 3)),
        )


def test_check_finite_names_the_frame(acac_train):
    f = acac_train.subset(np.arange(6))
    f.check_finite()
    f.forces[f.atoms_slice(4).start + 7, 1] = np.nan
    with pytest.raises(MalformedDataError) as info:
        f.check_finite()
    assert "frame 4" in str(info.value) and "atom 7" in str(info.value)
    g = acac_train.subset(np.arange(6))
    g.energy[2] = np.inf
    with pytest.raises(MalformedDataError, match="frame 2"):
        g.check_finite()


# -- the acac dataset -------------------------------------------------------------------
def _frame_keys(frames: Frames) -> list[bytes]:
    return [frames.positions[frames.atoms_slice(i)].tobytes() for i in range(len(frames))]


def test_acac_splits(acac_train):
    cat = load_catalog(entry_points=False)
    ds = cat.datasets["acac"]
    assert ds.elements == ["H", "C", "O"] and ds.periodic is False and ds.temperature_K == 300.0
    tr, va = ds.load("train"), ds.load("val")
    assert len(tr) == 450 and len(va) == 50
    raw = {k: i for i, k in enumerate(_frame_keys(acac_train))}
    tr_idx = [raw[k] for k in _frame_keys(tr)]  # KeyError if a frame is not from train_300K
    va_idx = [raw[k] for k in _frame_keys(va)]
    assert not set(tr_idx) & set(va_idx)
    assert len(set(tr_idx) | set(va_idx)) == 500
    np.testing.assert_array_equal(tr.energy, acac_train.energy[tr_idx])
    np.testing.assert_array_equal(va.forces, acac_train.subset(va_idx).forces)
    assert tr_idx == sorted(tr_idx)  # the split keeps file order
    assert va_idx != list(range(450, 500))  # a random split, not the tail of the file
    te, te6 = ds.load("test"), ds.load("test-600k")
    assert len(te) == 650 and len(te6) == 650
    assert not np.array_equal(te.energy, te6.energy)
    assert ds.splits["test-600k"].temperature_K == 600.0
    # the test file is not part of training
    assert not set(_frame_keys(te)) & set(raw)
    # loading again gives the same split (seeded)
    np.testing.assert_array_equal(cat.datasets["acac"].load("val").energy, va.energy)
