"""egbench-data-gete: splits, units, the unavailable training file, and the estimated
temperature / frame spacing recorded in the registry."""

from __future__ import annotations

import re
from pathlib import Path

import egbench_data_gete
import numpy as np
import pytest
from egbench_data_gete.estimate import estimate, segments

from egbench_core.data.readers import Frames
from egbench_core.data.registry import DataUnavailableError
from egbench_core.interfaces import ID_RE
from egbench_core.testing.plugin_tests import DataPluginChecks, check_git_sha1_on_mirror, registry_toml

TRAIN = "mdbenchgnn/Datasets/GeTe/data/train/nequip_npz.npz"
VAL = "mdbenchgnn/Datasets/GeTe/data/val/nequip_npz.npz"


@pytest.fixture(scope="module")
def gete(datasets):
    return datasets["gete"]


def test_every_file_entry_is_complete_and_checked(sha256sums, data_env):
    files = registry_toml(egbench_data_gete)["files"]
    readme = (data_env / "README.md").read_text()
    assert set(files) == {TRAIN, VAL, VAL.replace("/val/", "/test/")}
    for name, e in files.items():
        assert (
            e["url"]
            == "https://raw.githubusercontent.com/M3RG-IITD/MDBENCHGNN/e4ee1e9022186e27568df690913cfab2b12295b0/"
            + name.split("/", 1)[1]
        )
        assert e["format"] == "nequip-npz" and e["licence"] and e["units"]["forces"] == "eV/Å"
        if "sha256" in e:
            assert e["sha256"] == sha256sums[name]
        else:
            assert re.search(rf"\| MDBENCHGNN {re.escape(name.split('/', 1)[1])} \| {e['git_sha1']} \|", readme)


def test_dataset_declares_conditions_and_marks_the_estimates():
    t = registry_toml(egbench_data_gete)["datasets"]["gete"]
    assert ID_RE.match("gete") and t["plugin"] == "gete" and t["periodic"] is True
    assert t["friction_per_ps"] == 0.5 and t["timestep_fs"] == 1.0
    assert t["temperature_estimated"] is True and t["estimates"]["temperature_K"] == t["temperature_K"]
    assert {s: st["frames"] for s, st in t["splits"].items()} == {"train": 1500, "val": 300, "test": 300}
    assert all(st["temperature_K"] == t["temperature_K"] for st in t["splits"].values())
    assert t["splits"]["test"]["contiguous"] and not t["splits"]["val"]["contiguous"]


def test_val_and_test_load_in_ev_and_the_train_file_is_unavailable(gete):
    why = gete.unavailable_reason()
    assert why and TRAIN in why and "1 file(s)" in why
    with pytest.raises(DataUnavailableError, match=re.escape(TRAIN)):
        gete.load("train")
    for split in ("val", "test"):
        fr = gete.load(split)
        assert len(fr) == 300 and (fr.n_atoms == 200).all() and fr.elements == [32, 52]
        assert np.bincount(fr.numbers[:200]).tolist()[32] == 40 and np.bincount(fr.numbers[:200]).tolist()[52] == 160
        assert fr.pbc.all() and np.allclose(fr.cell, np.diag([19.1] * 3))
        assert (-200 < fr.energy / 200).all() and (fr.energy / 200 < -198).all()  # eV per atom
        f = np.linalg.norm(fr.forces, axis=1)
        assert 0.3 < f.mean() < 2.0 and f.max() < 10
    assert gete.load("test").energy[0] == pytest.approx(-39828.15158077244, abs=1e-6)


def test_trajectory_structure_test_then_val(gete):
    """test is one contiguous segment; val has a gap after its frame 9; test's last frame leads
    into val's first (the two files are one run)."""
    test, val = gete.load("test"), gete.load("val")
    assert segments(test) == [(0, 300)]
    assert (
        segments(val)
        == [(0, 10), (10, 300)]
        == [tuple(s) for s in registry_toml(egbench_data_gete)["datasets"]["gete"]["splits"]["val"]["segments"]]
    )
    assert segments(Frames.concatenate([test, val])) == [(0, 310), (310, 600)]


def test_registry_estimates_reproduce_from_the_data(gete):
    est = estimate(Frames.concatenate([gete.load("test"), gete.load("val")]))
    assert est.frame_spacing_fs == pytest.approx(gete.splits["test"].frame_spacing_fs, abs=0.01)
    assert est.temperature_K == pytest.approx(gete.temperature_K, abs=15)
    lo, hi = gete.extra["estimates"]["temperature_range_K"]
    assert lo < est.temperature_K < hi and est.frames_used == 600
    # the estimator itself, on a harmonic oscillator of known spacing and temperature
    rng = np.random.default_rng(1)
    from ase.data import atomic_masses

    n, dt, k, m = 64, 2.0, 0.5, atomic_masses[32]  # Ge atoms on springs (eV/Å²), 800 K on average
    omega = np.sqrt(k / m * 9.648533212e-3)
    amp = np.full((n, 3), np.sqrt(2 * 8.617333262e-5 * 800 / k))  # <½ m v²> = ½ kT per degree of freedom
    phase = rng.uniform(0, 2 * np.pi, size=(n, 3))
    t = np.arange(400)[:, None, None] * dt
    x = amp * np.cos(omega * t + phase) + 5.0
    frames = Frames(
        x.reshape(-1, 3),
        np.full(400 * n, 32),
        np.full(400, n),
        np.repeat(np.eye(3)[None] * 40, 400, 0),
        np.ones((400, 3), bool),
        np.zeros(400),
        (-k * (x - 5.0)).reshape(-1, 3),
    )
    e = estimate(frames)
    assert e.frame_spacing_fs == pytest.approx(dt, rel=0.01)
    assert e.temperature_K == pytest.approx(800 * 3 * n / (3 * n - 3), rel=0.05)


def test_git_sha1_verification_on_a_mirror_file(tmp_path, monkeypatch, data_env):
    check_git_sha1_on_mirror(
        data_env, VAL, "https://example.invalid/x", "nequip-npz", tmp_path, monkeypatch, wrong="1" * 40
    )


class TestPlugin(DataPluginChecks):
    module = egbench_data_gete
    entry_point = "gete"
    root = Path(__file__).resolve().parents[1]
    datasets = ("gete",)
    bad_registry = (
        f'[datasets.bad-gete]\nplugin = "gete"\nelements = ["Ge", "Te"]\nperiodic = true\n'
        f'temperature_K = 300.0\ntimestep_fs = 1.0\n[datasets.bad-gete.splits.val]\nfile = "{VAL}"\nframes = 0\n'
    )
    bad_error = "[datasets.bad-gete.splits.val] frames = 0: expected"
