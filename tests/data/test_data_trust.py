"""Results you can trust, data side: fingerprints that see units and formats, verified generated
caches, range-checked registry values, errors that name a frame's index in its file, several
mirrors copied without pooch, one-line `egbench fetch` errors, isolated-atom energies."""

from __future__ import annotations

import copy
import gzip
import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import egbench_core.plugins as plugins
from egbench_core.cli import app
from egbench_core.data.datasets import GeneratedDataset, RegistryDataset, SplitInfo
from egbench_core.data.readers import Frames, MalformedDataError, load_frames, save_frames
from egbench_core.data.registry import ChecksumError, MirrorChecksumError, Registry, RegistryError, file_hash
from egbench_core.plugins import load_catalog

ISO_ACAC = "botnet-datasets/dataset_acac/isolated_atoms.xyz"
ACAC_E0 = {1: -13.568422178253735, 6: -1026.8538996116154, 8: -2037.796869412825}


# -- helpers ------------------------------------------------------------------------------------------
def _xyz_frame(symbols, energy, forces=None, shift=0.0) -> str:
    n = len(symbols)
    forces = np.full((n, 3), 0.1) if forces is None else np.asarray(forces, dtype=float)
    lines = [str(n), f'Properties=species:S:1:pos:R:3:forces:R:3 energy={energy} pbc="F F F"']
    for k, s in enumerate(symbols):
        f = forces[k]
        lines.append(f"{s} {1.1 * k + shift:.6f} 0.0 0.0 {f[0]} {f[1]} {f[2]}")
    return "\n".join(lines) + "\n"


def _put(cache: Path, name: str, data: bytes | str) -> str:
    """Place a file in the cache; return its sha256."""
    path = cache / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _registry_file(tmp_path: Path, monkeypatch, text: str) -> Path:
    path = tmp_path / "user-registry.toml"
    path.write_text(text)
    monkeypatch.setenv("EGBENCH_REGISTRY", str(path))
    return path


def _file_toml(name: str, sha: str, units: str = 'energy = "eV", forces = "eV/Å", length = "Å"') -> str:
    return f'''
[files."{name}"]
url = "https://example.invalid/{name}"
sha256 = "{sha}"
format = "extxyz"
units = {{ {units} }}
'''


def _dataset_toml(ds: str, split_lines: str, elements='["H", "O"]', extra: str = "") -> str:
    return f"""
[datasets.{ds}]
elements = {elements}
periodic = false
temperature_K = 300.0
timestep_fs = 0.5
{extra}
[datasets.{ds}.splits.train]
{split_lines}
"""


def _cli(monkeypatch, *args: str):
    """Run the CLI on a catalog of the built-ins (no entry points), stdout and stderr apart."""
    monkeypatch.setattr(plugins, "_CATALOG", load_catalog(entry_points=False))
    return CliRunner().invoke(app, list(args))


def _one_error_line(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    assert lines[0].startswith("error: ")
    return lines[0]


# -- 1. fingerprints see units, formats and isolated-atom energies --------------------------------------
def _one_file_registry(name: str, file: str, sha256: str, split=None, **dataset) -> dict:
    """A registry table: one extxyz file (eV, eV/Å, Å) and the dataset ``name`` (H and O, not periodic,
    300 K, 0.5 fs, then ``dataset``) whose train split is 3 frames of it (then ``split``)."""
    units = {"energy": "eV", "forces": "eV/Å", "length": "Å"}
    entry = {"url": "https://example.invalid/data.xyz", "sha256": sha256, "format": "extxyz", "units": units}
    conditions = {"elements": ["H", "O"], "periodic": False, "temperature_K": 300.0, "timestep_fs": 0.5}
    train = {"file": file, "frames": 3, **(split or {})}
    return {"files": {file: entry}, "datasets": {name: {**conditions, **dataset, "splits": {"train": train}}}}


BASE = _one_file_registry("fp", "local/fp/data.xyz", "ab" * 32, description="fingerprint test")


def _fingerprint(change=None) -> dict[str, str]:
    table = copy.deepcopy(BASE)
    if change:
        change(table)
    reg = Registry([("fp.toml", table)])
    return RegistryDataset("fp", reg.datasets["fp"], reg).fingerprint()


def _set(keys: tuple[str, ...], value):
    def change(table):
        *keys_, last = keys
        t = table
        for k in keys_:
            t = t[k]
        t[last] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        _set(("files", "local/fp/data.xyz", "units", "energy"), "meV"),
        _set(("files", "local/fp/data.xyz", "units", "forces"), "meV/Å"),
        _set(("files", "local/fp/data.xyz", "units", "length"), "Bohr"),
        _set(("files", "local/fp/data.xyz", "format"), "nequip-npz"),
        _set(("datasets", "fp", "splits", "train", "format"), "nequip-npz"),  # a split's format override
        _set(("datasets", "fp", "isolated_atom_energies"), {"H": -13.6, "O": -2040.0}),
        _set(("datasets", "fp", "periodic"), True),
        _set(("datasets", "fp", "timestep_fs"), 1.0),
    ],
    ids=[
        "energy-unit",
        "force-unit",
        "length-unit",
        "file-format",
        "split-format",
        "isolated-energies",
        "periodic",
        "timestep",
    ],
)
def test_fingerprint_changes_with_units_format_and_numeric_values(change):
    assert _fingerprint(change) != _fingerprint()


def test_fingerprint_ignores_descriptive_text_and_names_units_and_format():
    fp = _fingerprint()
    assert _fingerprint(_set(("datasets", "fp", "description"), "another text")) == fp
    assert fp["local/fp/data.xyz"] == f"sha256:{'ab' * 32};format=extxyz;units=energy=eV,forces=eV/Å,length=Å"
    e0 = _fingerprint(_set(("datasets", "fp", "isolated_atom_energies"), {"H": -13.6, "O": -2040.0}))
    assert _fingerprint(_set(("datasets", "fp", "isolated_atom_energies"), {"H": -13.6, "O": -2041.0})) != e0


def test_acac_fingerprint_includes_its_isolated_atoms_file():
    ds = load_catalog(entry_points=False).datasets["acac"]
    fp = ds.fingerprint()
    assert fp[ISO_ACAC].startswith(
        "sha256:b74f321b453374621b447d65c60979f70df1b7182c8ee0215388b2c574f33823;format=extxyz"
    )
    assert ISO_ACAC in ds.file_names()


# -- 2. generated datasets: the cache is verified by its sidecar ------------------------------------------
def _tiny_frames(n: int, e0: float) -> Frames:
    from ase import Atoms

    atoms = [
        Atoms("CuAu", positions=[[0, 0, 0], [2.0 + 0.01 * k, 0, 0]], cell=5 * np.eye(3), pbc=True) for k in range(n)
    ]
    return Frames.from_atoms(atoms, energies=e0 - np.arange(n), forces=[np.full((2, 3), 0.1)] * n, source="tiny")


def _tiny_generated(calls: list) -> GeneratedDataset:
    def generate():
        calls.append(1)
        return {"train": _tiny_frames(4, -10.0), "test": _tiny_frames(2, -20.0)}

    return GeneratedDataset(
        name="tiny-gen",
        generate=generate,
        params={"n": 4},
        splits={"train": SplitInfo("train", 4), "test": SplitInfo("test", 2)},
        elements=["Cu", "Au"],
        periodic=True,
        temperature_K=300.0,
        timestep_fs=1.0,
    )


def test_generated_cache_tampered_is_regenerated_with_a_warning(hermetic_env, caplog):
    calls: list = []
    ds = _tiny_generated(calls)
    original = ds.load("train").energy.copy()
    path = ds.cache_path()
    assert ds.cache_status == f"generated {path}" and len(calls) == 1
    side = path.with_name(path.name + ".sha256")
    recorded = side.read_text().split()[0]
    assert recorded == file_hash(path, "sha256")
    again = _tiny_generated(calls)
    np.testing.assert_array_equal(again.load("train").energy, original)
    assert again.cache_status == f"verified {path}" and len(calls) == 1
    # someone shifts the cached energies by 1000 eV
    cached = load_frames(path)
    cached["train"].energy += 1000.0
    save_frames(path, cached)
    tampered = file_hash(path, "sha256")
    fresh = _tiny_generated(calls)
    with caplog.at_level(logging.WARNING, logger="egbench_core.data.datasets"):
        energy = fresh.load("train").energy
    np.testing.assert_array_equal(energy, original)
    assert len(calls) == 2 and fresh.cache_status.startswith(f"regenerated {path}: ")
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert str(path) in warning and recorded in warning and tampered in warning and "regenerating" in warning
    assert side.read_text().split()[0] == file_hash(path, "sha256")  # a new, matching sidecar


def test_generated_cache_without_sidecar_is_regenerated(hermetic_env):
    calls: list = []
    ds = _tiny_generated(calls)
    ds.load("test")
    path = ds.cache_path()
    path.with_name(path.name + ".sha256").unlink()
    fresh = _tiny_generated(calls)
    fresh.load("test")
    assert len(calls) == 2 and "no readable checksum sidecar" in fresh.cache_status
    assert path.with_name(path.name + ".sha256").exists()


def _fake_emt():
    from egbench_core.data.synthetic import EMT_PARAMS as p

    return {s: _tiny_frames(p[s], -100.0 * (k + 1)) for k, s in enumerate(("train", "val", "test"))}


def test_fetch_synthetic_emt_says_generated_verified_or_regenerated(monkeypatch, hermetic_env):
    import egbench_core.default_plugins.datasets as builtin

    monkeypatch.setattr(builtin, "generate_emt", _fake_emt)  # the real EMT run takes half a minute
    res = _cli(monkeypatch, "fetch", "synthetic-emt")
    assert res.exit_code == 0, res.output
    assert "synthetic-emt: generated " in res.stdout and "synthetic-emt/train: 200 frames verified" in res.stdout
    res = _cli(monkeypatch, "fetch", "synthetic-emt")
    assert res.exit_code == 0 and "synthetic-emt: verified " in res.stdout, res.output
    ds = load_catalog(entry_points=False).datasets["synthetic-emt"]
    original = ds.load("train").energy.copy()
    cached = load_frames(ds.cache_path())
    cached["train"].energy += 1000.0
    save_frames(ds.cache_path(), cached)
    res = _cli(monkeypatch, "fetch", "synthetic-emt")
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("synthetic-emt: "))
    assert line.startswith(f"synthetic-emt: regenerated {ds.cache_path()}: ") and "sha256" in line
    np.testing.assert_array_equal(
        load_catalog(entry_points=False).datasets["synthetic-emt"].load("train").energy, original
    )


# -- 3. registry values are range-checked where they are declared -------------------------------------------
GOOD = _one_file_registry(
    "val-check", "local/v/data.xyz", "cd" * 32, split={"temperature_K": 300.0}, friction_per_ps=0.5
)
DS, SPLIT, FILE = "[datasets.val-check]", "[datasets.val-check.splits.train]", '[files."local/v/data.xyz"]'


D, S, F = ("datasets", "val-check"), ("datasets", "val-check", "splits", "train"), ("files", "local/v/data.xyz")


@pytest.mark.parametrize(
    "keys, value, table, shown",
    [
        ((*D, "timestep_fs"), 0, DS, "timestep_fs = 0"),
        ((*D, "timestep_fs"), 12.0, DS, "timestep_fs = 12.0"),
        ((*D, "temperature_K"), -5.0, DS, "temperature_K = -5.0"),
        ((*D, "temperature_K"), "300", DS, "temperature_K = '300'"),
        ((*D, "friction_per_ps"), -0.1, DS, "friction_per_ps = -0.1"),
        ((*D, "elements"), ["H", "Xx"], DS, "elements = ['H', 'Xx']"),
        ((*S, "frames"), 0, SPLIT, "frames = 0"),
        ((*S, "frames"), 2.5, SPLIT, "frames = 2.5"),
        ((*S, "temperature_K"), 0.0, SPLIT, "temperature_K = 0.0"),
        ((*S, "frame_spacing_fs"), -0.5, SPLIT, "frame_spacing_fs = -0.5"),
        ((*S, "select"), {"range": [0, "a"]}, SPLIT, "select = { range = [0, 'a'] }"),
        ((*S, "select"), {"random": [2, -1], "part": 0, "seed": 0}, SPLIT, "select.random = [2, -1]"),
        ((*S, "select"), {"random": [2, 1], "part": 2, "seed": 0}, SPLIT, "select.part = 2"),
        ((*S, "select"), {"random": [2, 1], "part": 0, "seed": 1.5}, SPLIT, "select.seed = 1.5"),
        ((*S, "format"), "cif", SPLIT, "format = 'cif'"),
        ((*F, "format"), "cif", FILE, "format = 'cif'"),
        ((*F, "units", "energy"), "eV2", FILE, "units.energy = 'eV2'"),
        ((*F, "units", "forces"), "eV", FILE, "units.forces = 'eV'"),
        ((*F, "units", "energies"), "eV", FILE, "units.energies = 'eV'"),
    ],
)
def test_bad_registry_value_is_one_line_naming_file_table_key_and_value(keys, value, table, shown):
    t = copy.deepcopy(GOOD)
    _set(keys, value)(t)
    reg = Registry([("/some/where/my-registry.toml", t)])
    with pytest.raises(RegistryError) as info:
        RegistryDataset("val-check", reg.datasets["val-check"], reg)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"/some/where/my-registry.toml: {table} {shown}: expected "), msg


def test_good_registry_values_pass():
    reg = Registry([("ok.toml", copy.deepcopy(GOOD))])
    ds = RegistryDataset("val-check", reg.datasets["val-check"], reg)
    assert ds.timestep_fs == 0.5 and ds.splits["train"].frames == 3


def test_a_bad_dataset_is_broken_and_the_others_work(tmp_path, monkeypatch, hermetic_env):
    sha = _put(hermetic_env, "local/ok/data.xyz", "".join(_xyz_frame(["H", "O"], -10.0 - k) for k in range(3)))
    split = 'file = "local/ok/data.xyz"'
    reg_file = _registry_file(
        tmp_path,
        monkeypatch,
        _file_toml("local/ok/data.xyz", sha)
        + _dataset_toml("bad-step", split).replace("timestep_fs = 0.5", "timestep_fs = 0")
        + _dataset_toml("Bad_Id", split)
        + _dataset_toml("bad-type", split, extra="tags = 5")
        + _dataset_toml("good-one", split + "\nframes = 3"),
    )
    cat = load_catalog(entry_points=False)
    assert cat.plugins["core.datasets"].status == "ok", cat.plugins["core.datasets"].error
    why = cat.problems["dataset:bad-step"]
    assert str(reg_file) in why and "[datasets.bad-step] timestep_fs = 0: expected" in why
    assert "'Bad_Id' is not lowercase kebab-case" in cat.problems["dataset:Bad_Id"]
    assert f"{reg_file}: [datasets.bad-type]: TypeError" in cat.problems["dataset:bad-type"]
    assert {"acac", "synthetic-emt", "good-one"} <= set(cat.datasets) and "bad-step" not in cat.datasets
    assert len(cat.datasets["good-one"].load("train")) == 3
    with pytest.raises(KeyError, match="timestep_fs = 0"):
        cat.get("datasets", "bad-step")


# -- 4. data errors name the frame's index in its file ------------------------------------------------------
def test_nan_is_reported_at_its_frame_in_the_file(tmp_path, monkeypatch, hermetic_env):
    bad_forces = np.full((4, 3), 0.1)
    bad_forces[3, 1] = np.nan
    frames = [_xyz_frame(["O", "H", "H", "H"], -10.0 - k, bad_forces if k == 10 else None) for k in range(20)]
    name = "local/nan/traj.xyz"
    sha = _put(hermetic_env, name, "".join(frames))
    _registry_file(
        tmp_path,
        monkeypatch,
        _file_toml(name, sha)
        + _dataset_toml("nan-check", f'file = "{name}"\nselect = {{ range = [5, 20] }}\nframes = 15'),
    )
    ds = load_catalog(entry_points=False).datasets["nan-check"]
    with pytest.raises(MalformedDataError) as info:
        ds.load("train")
    assert str(info.value) == (
        f"{hermetic_env / name}: frame 10 of the file (frame 5 of split train of dataset "
        "nan-check) has non-finite forces (atom 3)"
    )


def test_concatenated_files_name_the_file_of_the_bad_frame(tmp_path, monkeypatch, hermetic_env):
    a, b = "local/cat/a.xyz", "local/cat/b.xyz"
    sha_a = _put(hermetic_env, a, "".join(_xyz_frame(["H", "O"], -1.0 - k) for k in range(3)))
    sha_b = _put(hermetic_env, b, "".join(_xyz_frame(["H", "O"], "nan" if k == 2 else -5.0 - k) for k in range(4)))
    _registry_file(
        tmp_path,
        monkeypatch,
        _file_toml(a, sha_a)
        + _file_toml(b, sha_b)
        + _dataset_toml("cat-check", f'files = ["{a}", "{b}"]\nselect = {{ range = [1, 7] }}'),
    )
    ds = load_catalog(entry_points=False).datasets["cat-check"]
    with pytest.raises(MalformedDataError) as info:
        ds.load("train")
    assert str(info.value).startswith(
        f"{hermetic_env / b}: frame 2 of the file (frame 4 of split train of dataset cat-check) has a non-finite energy"
    )


def test_subset_and_concatenate_carry_file_and_file_frame():
    a, b = _tiny_frames(3, 0.0), _tiny_frames(2, 5.0)
    a.info["file_frame"], b.info["file_frame"] = np.arange(3), np.arange(2)
    a.source, b.source = "a.xyz", "b.xyz"
    c = Frames.concatenate([a, b]).subset([4, 0])
    assert c.info["file"].tolist() == ["b.xyz", "a.xyz"] and c.info["file_frame"].tolist() == [1, 0]
    assert c.frame_label(0, "split x") == "b.xyz: frame 1 of the file (frame 0 of split x)"
    d = Frames.concatenate([c, a.subset([2])])
    assert d.info["file"].tolist() == ["b.xyz", "a.xyz", "a.xyz"] and d.info["file_frame"].tolist() == [1, 0, 2]


# -- 5. mirrors: several folders, copied without pooch, a corrupt copy is the mirror's problem ---------------
def _mirror_setup(tmp_path, monkeypatch, content: bytes, corrupt_in: str | None = None):
    name = "local-src/mirrored/data.xyz"
    sha = hashlib.sha256(content).hexdigest()
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    for m in (m1, m2):
        (m / name).parent.mkdir(parents=True)
        (m / name).write_bytes(content + (b"corrupt\n" if m.name == corrupt_in else b""))
    _registry_file(
        tmp_path,
        monkeypatch,
        f'[files."{name}"]\nurl = "https://example.invalid/upstream/data.xyz"\nsha256 = "{sha}"\nformat = "extxyz"\n',
    )
    return name, sha, m1, m2


def test_several_mirrors_are_searched_in_order(tmp_path, monkeypatch, hermetic_env):
    content = _xyz_frame(["H", "O"], -1.0).encode()
    name, sha, m1, m2 = _mirror_setup(tmp_path, monkeypatch, content, corrupt_in="m2")
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", os.pathsep.join([str(empty), str(m1), str(m2)]))
    reg = Registry.load()
    assert reg.locate(name) == "mirror"
    assert reg.fetch(name).read_bytes() == content  # m1 (good) before m2 (corrupt)
    (hermetic_env / name).unlink()
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", os.pathsep.join([str(m2), str(m1)]))
    with pytest.raises(MirrorChecksumError, match=str(m2 / name)):
        Registry.load().fetch(name)


def test_mirror_copy_does_not_go_through_pooch(tmp_path, monkeypatch, hermetic_env, caplog):
    import pooch

    content = _xyz_frame(["H", "O"], -1.0).encode()
    name, sha, m1, _ = _mirror_setup(tmp_path, monkeypatch, content)
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", str(m1))

    def no_pooch(*args, **kwargs):
        raise AssertionError("pooch must not be used to copy from a mirror")

    monkeypatch.setattr(pooch, "retrieve", no_pooch)
    with caplog.at_level(logging.DEBUG):
        path = Registry.load().fetch(name)
    assert path.read_bytes() == content and file_hash(path, "sha256") == sha
    messages = [r.getMessage() for r in caplog.records]
    assert f"copied {name} from mirror {m1 / name}" in messages
    assert not [m for m in messages if "Downloading" in m or "http" in m]
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.xyz"]  # no temporary file left


def test_corrupt_mirror_copy_says_replace_it_from_upstream(tmp_path, monkeypatch, hermetic_env):
    content = _xyz_frame(["H", "O"], -1.0).encode()
    name, sha, m1, _ = _mirror_setup(tmp_path, monkeypatch, content, corrupt_in="m1")
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", str(m1))
    before = (m1 / name).read_bytes()
    with pytest.raises(ChecksumError) as info:
        Registry.load().fetch(name)
    msg = str(info.value)
    actual = hashlib.sha256(before).hexdigest()
    assert f"the mirror copy of {name} at {m1 / name} is corrupt" in msg
    assert f"expected sha256:{sha}, got sha256:{actual}" in msg
    assert "https://example.invalid/upstream/data.xyz" in msg and "replaced" in msg
    assert "Delete it" not in msg and "fetch it again" not in msg
    assert (m1 / name).read_bytes() == before and sorted(p.name for p in (m1 / name).parent.iterdir()) == ["data.xyz"]
    assert not (hermetic_env / name).exists() and not list(hermetic_env.rglob("*.part"))


# -- 6. `egbench fetch`: one line on stderr, exit code 2, traceback only with -v -----------------------------
def _malformed_setup(tmp_path, monkeypatch, cache: Path) -> Path:
    name = "local/bad/bad.xyz"
    text = _xyz_frame(["H", "O"], -1.0) + _xyz_frame(["H", "O"], -2.0).replace("O 1.100000 0.0 0.0", "O 1.1 0.0", 1)
    sha = _put(cache, name, text)
    _registry_file(tmp_path, monkeypatch, _file_toml(name, sha) + _dataset_toml("bad-file", f'file = "{name}"'))
    return cache / name


def test_fetch_malformed_file_is_one_line(tmp_path, monkeypatch, hermetic_env):
    path = _malformed_setup(tmp_path, monkeypatch, hermetic_env)
    res = _cli(monkeypatch, "fetch", "bad-file")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert f"{path}: frame 1 (line 5): atom line 2 has 6 columns, expected 7" in line


def test_fetch_with_v_shows_the_traceback(tmp_path, monkeypatch, hermetic_env):
    _malformed_setup(tmp_path, monkeypatch, hermetic_env)
    res = _cli(monkeypatch, "-v", "fetch", "bad-file")
    assert res.exit_code == 2 and "Traceback" in res.stderr and "MalformedDataError" in res.stderr


def test_fetch_into_a_cache_that_cannot_be_written(tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("a file, not a folder\n")
    cache = afile / "cache"
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(cache))
    res = _cli(monkeypatch, "fetch", "acac")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert f"the data cache {cache} cannot be written" in line and str(afile) in line
    assert "expected a writable folder: set EGBENCH_DATA_DIR" in line


def test_fetch_corrupt_compressed_file(tmp_path, monkeypatch, hermetic_env):
    name = "local/gz/data.xyz.gz"
    sha = _put(hermetic_env, name, b"this is not gzip data\n")
    _registry_file(tmp_path, monkeypatch, _file_toml(name, sha) + _dataset_toml("bad-gz", f'file = "{name}"'))
    res = _cli(monkeypatch, "fetch", "bad-gz")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert f"{hermetic_env / name}: cannot decompress" in line and "expected gz-compressed data" in line
    assert not (hermetic_env / "decompressed/local/gz/data.xyz").exists()


def test_fetch_unknown_and_broken_dataset_ids(tmp_path, monkeypatch, hermetic_env):
    res = _cli(monkeypatch, "fetch", "no-such-set")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert "no dataset 'no-such-set': expected 'all' or one of" in line and "acac" in line
    _registry_file(
        tmp_path,
        monkeypatch,
        _file_toml("local/x/x.xyz", "ef" * 32)
        + _dataset_toml("bad-step", 'file = "local/x/x.xyz"').replace("timestep_fs = 0.5", "timestep_fs = 0"),
    )
    res = _cli(monkeypatch, "fetch", "bad-step")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert "dataset 'bad-step' is broken: " in line and "timestep_fs = 0: expected" in line


# -- 7. isolated-atom reference energies ----------------------------------------------------------------------
def test_acac_isolated_atom_energies_come_from_the_embedded_file(hermetic_env):
    assert "EGBENCH_DATA_MIRROR" not in os.environ
    ds = load_catalog(entry_points=False).datasets["acac"]
    reg = Registry.load()
    assert reg.locate(ISO_ACAC) == "embedded"
    assert ds.isolated_atom_energies() == ACAC_E0
    assert reg.locate(ISO_ACAC) == "cache"
    assert (
        file_hash(hermetic_env / ISO_ACAC, "sha256")
        == "b74f321b453374621b447d65c60979f70df1b7182c8ee0215388b2c574f33823"
    )


def test_embedded_acac_isolated_atoms_equal_the_mirror_copy(mirror):
    from egbench_core.default_plugins import __file__ as pkg

    embedded = Path(pkg).parent / "data/acac/isolated_atoms.xyz.gz"
    assert gzip.decompress(embedded.read_bytes()) == (mirror / ISO_ACAC).read_bytes()


def _e0_registry(inline: dict | None = None, iso: str | None = None, both=False) -> dict:
    t = copy.deepcopy(GOOD)
    if inline is not None:
        t["datasets"]["val-check"]["isolated_atom_energies"] = inline
    if iso is not None:
        t["datasets"]["val-check"]["isolated_atoms"] = iso
    return t


def test_inline_isolated_atom_energies():
    reg = Registry([("e0.toml", _e0_registry({"H": -13.6, "O": -2041.0}))])
    assert RegistryDataset("val-check", reg.datasets["val-check"], reg).isolated_atom_energies() == {
        1: -13.6,
        8: -2041.0,
    }
    for table, match in [
        (
            _e0_registry({"H": -13.6}),
            r"e0.toml: \[datasets.val-check\] isolated_atom_energies = \{ H = -13.6 \}: "
            r"expected an energy for every element of the dataset \(H, O\); missing O",
        ),
        (_e0_registry({"H": -13.6, "O": float("nan")}), r"isolated_atom_energies.O = nan: expected a finite energy"),
        (_e0_registry({"H": -13.6, "O": -2041.0, "Qq": 1.0}), r"'Qq' is none"),
        (_e0_registry({"H": -13.6, "O": -2041.0}, iso="local/v/data.xyz"), r"not both"),
        (_e0_registry(iso="no/such/file.xyz"), r"isolated_atoms = 'no/such/file.xyz': expected the id of a"),
    ]:
        reg = Registry([("e0.toml", table)])
        with pytest.raises(RegistryError, match=match):
            RegistryDataset("val-check", reg.datasets["val-check"], reg)


def test_isolated_atoms_file_is_verified_read_with_its_units_and_must_cover_every_element(
    tmp_path, monkeypatch, hermetic_env
):
    data, iso = "local/e0/data.xyz", "local/e0/iso.xyz"
    sha = _put(hermetic_env, data, "".join(_xyz_frame(["H", "O"], -1.0 - k) for k in range(2)))
    iso_sha = _put(hermetic_env, iso, _xyz_frame(["H"], -13600.0) + _xyz_frame(["O"], -2041000.0))
    text = _file_toml(data, sha) + _file_toml(iso, iso_sha, 'energy = "meV"')
    _registry_file(
        tmp_path, monkeypatch, text + _dataset_toml("e0-file", f'file = "{data}"', extra=f'isolated_atoms = "{iso}"')
    )
    ds = load_catalog(entry_points=False).datasets["e0-file"]
    assert ds.isolated_atom_energies() == pytest.approx({1: -13.6, 8: -2041.0})
    assert iso in ds.fingerprint()
    # a file without oxygen: the missing element is named
    iso_sha = _put(hermetic_env, iso, _xyz_frame(["H"], -13600.0))
    _registry_file(
        tmp_path,
        monkeypatch,
        _file_toml(data, sha)
        + _file_toml(iso, iso_sha, 'energy = "meV"')
        + _dataset_toml("e0-file", f'file = "{data}"', extra=f'isolated_atoms = "{iso}"'),
    )
    ds = load_catalog(entry_points=False).datasets["e0-file"]
    with pytest.raises(MalformedDataError, match=r"no isolated-atom energy for O; expected one frame per element"):
        ds.isolated_atom_energies()
    # a tampered file is refused by its checksum
    (hermetic_env / iso).write_text(_xyz_frame(["H"], -1.0) + _xyz_frame(["O"], -2.0))
    with pytest.raises(ChecksumError):
        ds.isolated_atom_energies()
