"""Numbers are computed only from verified files: an oracle cache file (a frame's label, a
calibration) changed after it was written, or written without a checksum by an older egbench, is
named in a warning and computed again; a DeePMD folder is read from the files the registry declares
and nothing else (a stray ``set.*`` folder in the cache is named in a warning and not read; a file a
set needs that is not declared is refused in one line naming it)."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict

import numpy as np
import pytest

from egbench_core.data.readers import MalformedDataError
from egbench_core.data.synthetic import emt_oracle
from egbench_core.plugins import load_catalog
from egbench_core.run.oracles import OracleCache, calibrate, frame_key, resolve

LI = "mdbenchgnn/Datasets/LiPS20/Li/3000K/deepmd/Li54P0S0"  # LiPS20's Li system: 1000 frames of 54 atoms


# -- the oracle cache ----------------------------------------------------------------------------
@pytest.fixture
def emt_data(emt_data_dir, tmp_path, monkeypatch):
    """A data folder of this test's own holding the generated synthetic-emt (its oracle cache empty)."""
    data = tmp_path / "data"
    shutil.copytree(emt_data_dir / "generated", data / "generated")
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(data))
    catalog = load_catalog(entry_points=False)
    ds = catalog.datasets["synthetic-emt"]
    oracle, why = resolve(catalog, ds)
    assert oracle is not None and oracle.name == "emt", why
    return ds, oracle


def _untrusted(caplog, path) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(path) in r.getMessage()]


def test_an_edited_or_unstamped_oracle_label_is_relabelled_never_used(emt_data, caplog):
    ds, oracle = emt_data
    atoms = ds.load("test").to_atoms(3)
    ref = atoms.copy()
    ref.calc = emt_oracle()
    true_e, true_f = ref.get_potential_energy(), ref.get_forces()

    first = OracleCache(oracle)
    e, f = first.evaluate(atoms)
    assert (first.computed, first.reused) == (1, 0) and e == pytest.approx(true_e, abs=1e-12)
    key = frame_key(atoms)
    path = first.folder / key[:2] / f"{key}.json"
    label = json.loads(path.read_text())

    # 1. the label's energy edited in place (the checksum it records no longer matches)
    path.write_text(json.dumps({**label, "energy": label["energy"] + 1.0}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="egbench_core.run.oracles"):
        again = OracleCache(oracle)
        e2, f2 = again.evaluate(atoms)
    assert e2 == e and np.array_equal(f2, f) and np.allclose(f2, true_f, atol=1e-12)
    assert (again.computed, again.reused) == (1, 0)  # labelled again, not reused
    assert any("not trusted" in m and "sha256" in m for m in _untrusted(caplog, path))

    # 2. a label in the format an older egbench wrote (no checksum), with a wrong energy
    path.write_text(json.dumps({"energy": e + 1.0, "forces": f.tolist(), "oracle": oracle.id}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="egbench_core.run.oracles"):
        old = OracleCache(oracle)
        e3, _ = old.evaluate(atoms)
    assert e3 == e and (old.computed, old.reused) == (1, 0)
    assert any("no checksum" in m for m in _untrusted(caplog, path))

    # the rewritten label is trusted again: reused, with no warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="egbench_core.run.oracles"):
        hit = OracleCache(oracle)
        assert hit.evaluate(atoms)[0] == e and (hit.computed, hit.reused) == (0, 1)
    assert not _untrusted(caplog, path)


def test_an_edited_calibration_is_computed_again(emt_data, caplog):
    """The calibration cached beside the labels (execute calibrates a non-exact oracle; the cache
    is the same for any oracle): an edited energy offset is not used."""
    ds, oracle = emt_data
    cal = calibrate(oracle, ds)
    assert cal.accepted and len(cal.frames) == 8 and abs(cal.energy_offset_mean) < 1e-9
    (path,) = OracleCache(oracle).folder.glob("calibration-synthetic-emt-*.json")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "energy_offset_mean": 0.25, "accepted": True}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="egbench_core.run.oracles"):
        again = calibrate(oracle, ds)
    assert asdict(again) == asdict(cal)  # the untampered numbers, from the (trusted) labels
    assert any("not trusted" in m for m in _untrusted(caplog, path))
    assert json.loads(path.read_text())["energy_offset_mean"] == cal.energy_offset_mean  # rewritten


# -- DeePMD folders --------------------------------------------------------------------------------
def _stray_set(data_dir, folder: str) -> None:
    """A ``set.001`` that no registry declares, copied from set.000 with every energy shifted by 1 eV."""
    src, stray = data_dir / folder / "set.000", data_dir / folder / "set.001"
    stray.mkdir()
    for name in ("box", "coord", "force"):
        shutil.copyfile(src / f"{name}.npy", stray / f"{name}.npy")
    np.save(stray / "energy.npy", np.load(src / "energy.npy") + 1.0)


def _lips_catalog():
    import egbench_data_lips

    return load_catalog(extra_plugins=[egbench_data_lips], entry_points=False)


def test_a_stray_set_folder_is_not_read_lips20(mirror, hermetic_env, caplog):
    before = _lips_catalog().datasets["lips20"].load_system("Li")
    assert len(before) == 1000
    _stray_set(hermetic_env, LI)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="egbench_core.data.readers"):
        after = _lips_catalog().datasets["lips20"].load_system("Li")  # a fresh dataset: read again
    assert len(after) == 1000
    for k in ("positions", "numbers", "cell", "energy", "forces"):
        np.testing.assert_array_equal(getattr(after, k), getattr(before, k), err_msg=k)
    stray = hermetic_env / LI / "set.001"
    assert any(str(stray) in r.getMessage() and "not declared" in r.getMessage() for r in caplog.records)


def test_a_stray_set_folder_is_not_read_registry_folder_split(mirror, hermetic_env, tmp_path, monkeypatch, caplog):
    """A core registry dataset whose split is a DeePMD ``folder`` (declared files: the lips plugin's).
    It declares no ``frames``, so a stray set would have changed its frames with no error at all."""
    reg = tmp_path / "user_registry.toml"
    reg.write_text(
        '[datasets.li-melt]\nelements = ["Li"]\nperiodic = true\ntemperature_K = 3000.0\ntimestep_fs = 1.0\n'
        f'[datasets.li-melt.splits.test]\nfolder = "{LI}"\ntags = ["test"]\n'
    )
    monkeypatch.setenv("EGBENCH_REGISTRY", str(reg))
    before = _lips_catalog().datasets["li-melt"].load("test")
    _stray_set(hermetic_env, LI)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="egbench_core.data.readers"):
        after = _lips_catalog().datasets["li-melt"].load("test")
    assert len(before) == len(after) == 1000
    np.testing.assert_array_equal(after.energy, before.energy)
    np.testing.assert_array_equal(after.positions, before.positions)
    assert any(str(hermetic_env / LI / "set.001") in r.getMessage() for r in caplog.records)


def test_a_file_the_registry_does_not_declare_is_refused(mirror, hermetic_env, tmp_path, monkeypatch):
    """A folder whose registry entries leave out set.000/force.npy: the copy in the cache (never
    verified) is not read; the load is refused in one line naming it."""
    declared = ["type.raw", "type_map.raw", "set.000/box.npy", "set.000/coord.npy", "set.000/energy.npy"]
    lines = []
    for rel in declared:
        digest = hashlib.sha256((mirror / LI / rel).read_bytes()).hexdigest()
        lines += [f'[files."mine/li/{rel}"]', f'url = "https://example.invalid/{rel}"', f'sha256 = "{digest}"']
        lines += ['format = "deepmd"', ""]
    lines += ["[datasets.li-mine]", 'elements = ["Li"]', "periodic = true", "temperature_K = 3000.0"]
    lines += ["timestep_fs = 1.0", "[datasets.li-mine.splits.test]", 'folder = "mine/li"', 'tags = ["test"]']
    reg = tmp_path / "user_registry.toml"
    reg.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("EGBENCH_REGISTRY", str(reg))
    for rel in [*declared, "set.000/force.npy"]:  # the cache holds force.npy too
        (hermetic_env / "mine/li" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror / LI / rel, hermetic_env / "mine/li" / rel)
    with pytest.raises(MalformedDataError) as err:
        load_catalog(entry_points=False).datasets["li-mine"].load("test")
    msg = str(err.value)
    assert "\n" not in msg and str(hermetic_env / "mine/li/set.000/force.npy") in msg and "declare" in msg
