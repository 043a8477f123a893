"""Registry and data-cache faults of issue 21, through the real ``egbench`` entry point:

1. the decompressed copy of a ``.gz`` registry file is verified on every use (a changed copy is
   said in a warning and decompressed again from the verified compressed file);
2. a key that nothing reads (``selct`` for ``select``) is refused in one line naming the key, the
   table and the nearest valid key, at every level of a registry table;
3. a registry file that is not valid TOML is one line naming the file, line and column, exit 2.

The subprocesses run the code under test (``egbench_core`` as imported here) with core's built-in
plugins only, the test's own data cache, offline.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import egbench_core
import egbench_core.plugins as plugins
from egbench_core.cli import app
from egbench_core.plugins import load_catalog

SRC = Path(egbench_core.__file__).resolve().parents[1]
EMBEDDED_GZ = Path(egbench_core.__file__).resolve().parent / "default_plugins/data/acac/test_MD_300K.xyz.gz"
GZ = "local-gz/acac/test_MD_300K.xyz.gz"  # a registry file published compressed
ACAC_TRAIN = "botnet-datasets/dataset_acac/train_300K.xyz"
CONDITIONS = 'elements = ["H", "C", "O"]\nperiodic = false\ntemperature_K = 300.0\ntimestep_fs = 0.5\n'
EMT = "ase:ase.calculators.emt:EMT"  # a model that needs no plugin


def _egbench(*args: str, registry: Path, mirror: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EGBENCH_")}
    env.update(
        PYTHONPATH=str(SRC),
        EGBENCH_LOAD_PLUGINS="",  # core's built-in plugins only
        EGBENCH_OFFLINE="1",
        EGBENCH_DATA_DIR=os.environ["EGBENCH_DATA_DIR"],
        EGBENCH_ENVS_DIR=os.environ["EGBENCH_ENVS_DIR"],
        EGBENCH_REGISTRY=str(registry),
        EGBENCH_THREADS="1",
        COLUMNS="1000",
    )
    if mirror is not None:
        env["EGBENCH_DATA_MIRROR"] = str(mirror)
    return subprocess.run(
        [sys.executable, "-m", "egbench_core.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _one_error_line(stderr: str, stdout: str = "") -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr + stdout
    return lines[0]


# -- 1. the decompressed copy of a compressed registry file ------------------------------------------
@pytest.fixture
def gz_dataset(tmp_path, monkeypatch):
    """A mirror holding ``GZ`` (the acac test file, gzipped) and a registry naming it by the
    compressed file's sha256, with the dataset ``acac-gz`` (20 frames of it)."""
    mirror = tmp_path / "mirror"
    (mirror / GZ).parent.mkdir(parents=True)
    shutil.copy(EMBEDDED_GZ, mirror / GZ)
    sha = hashlib.sha256((mirror / GZ).read_bytes()).hexdigest()
    registry = tmp_path / "gz.toml"
    registry.write_text(
        f'[files."{GZ}"]\nurl = "https://example.invalid/test_MD_300K.xyz.gz"\nsha256 = "{sha}"\n'
        'format = "extxyz"\nunits = { energy = "eV", forces = "eV/Å", length = "Å" }\n\n'
        f'[datasets.acac-gz]\n{CONDITIONS}[datasets.acac-gz.splits.train]\nfile = "{GZ}"\n'
        "select = { range = [0, 20] }\nframes = 20\n"
    )
    monkeypatch.setenv("EGBENCH_REGISTRY", str(registry))
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", str(mirror))
    return registry, mirror, gzip.decompress((mirror / GZ).read_bytes())


def _tamper(copy: Path) -> None:
    """Change the first frame's energy in the decompressed copy (as an editor would)."""
    text = copy.read_text()
    changed = text.replace("energy=-9391.254099941396", "energy=-1391.254099941396", 1)
    assert changed != text
    copy.write_text(changed)


def _train_energies() -> np.ndarray:
    return load_catalog(entry_points=False).datasets["acac-gz"].load("train").energy


def test_a_changed_decompressed_copy_is_said_and_decompressed_again(gz_dataset, hermetic_env, caplog):
    registry, mirror, original = gz_dataset
    copy = hermetic_env / "decompressed" / GZ.removesuffix(".gz")

    res = _egbench("fetch", "acac-gz", registry=registry, mirror=mirror)
    assert res.returncode == 0 and "acac-gz/train: 20 frames verified" in res.stdout, res.stderr
    assert "WARNING" not in res.stderr
    assert copy.read_bytes() == original
    before = _train_energies()
    assert before[0] == pytest.approx(-9391.254099941396)

    _tamper(copy)  # `egbench fetch`: said, and the copy is the verified file's content again
    res = _egbench("fetch", "acac-gz", registry=registry, mirror=mirror)
    said = " ".join(res.stderr.split())
    assert res.returncode == 0 and "acac-gz/train: 20 frames verified" in res.stdout, res.stderr
    assert "WARNING" in said and f"decompressed copy of {GZ} not trusted: {copy} has sha256" in said
    assert "decompressing it again" in said
    assert copy.read_bytes() == original

    _tamper(copy)  # loading the dataset: the original numbers
    with caplog.at_level(logging.WARNING, logger="egbench_core.data.registry"):
        after = _train_energies()
    np.testing.assert_array_equal(after, before)
    assert f"{copy} has sha256" in caplog.text and copy.read_bytes() == original

    # a copy without its sidecar (written by an older egbench): decompressed again, not trusted
    copy.with_name(copy.name + ".sha256").unlink()
    _tamper(copy)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="egbench_core.data.registry"):
        np.testing.assert_array_equal(_train_energies(), before)
    assert "has no readable checksum sidecar" in caplog.text and copy.read_bytes() == original


# -- 2. unknown (misspelt) keys --------------------------------------------------------------------
TYPOS = f"""
[files."local/typo/data.xyz"]
url = "https://example.invalid/data.xyz"
sha256 = "{"ab" * 32}"
format = "extxyz"
unit = {{ energy = "kcal/mol" }}

[datasets.typo-file]
{CONDITIONS}[datasets.typo-file.splits.train]
file = "local/typo/data.xyz"

[datasets.typo-dataset]
{CONDITIONS}frction_per_ps = 2.0
[datasets.typo-dataset.splits.train]
file = "{ACAC_TRAIN}"

[datasets.typo-select]
{CONDITIONS}[datasets.typo-select.splits.train]
file = "{ACAC_TRAIN}"
select = {{ random = [450, 50], part = 0, seed = 0 }}
frames = 450
[datasets.typo-select.splits.val]
file = "{ACAC_TRAIN}"
selct = {{ random = [450, 50], part = 1, seed = 0 }}

[datasets.typo-seed]
{CONDITIONS}[datasets.typo-seed.splits.train]
file = "{ACAC_TRAIN}"
select = {{ random = [450, 50], part = 0, sed = 0 }}
"""

EXPECTED = {  # dataset: what its one error line says after "<registry file>: "
    "typo-select": "[datasets.typo-select.splits.val] has an unknown key 'selct': the nearest valid key is 'select'",
    "typo-dataset": "[datasets.typo-dataset] has an unknown key 'frction_per_ps': the nearest valid key is "
    "'friction_per_ps'",
    "typo-file": "[files.\"local/typo/data.xyz\"] has an unknown key 'unit': the nearest valid key is 'units'",
    "typo-seed": "[datasets.typo-seed.splits.train] select has an unknown key 'sed': the nearest valid key is 'seed'",
}


@pytest.fixture
def typo_registry(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "typos.toml"
    path.write_text(TYPOS)
    monkeypatch.setenv("EGBENCH_REGISTRY", str(path))
    return path


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_fetch_of_a_table_with_a_misspelt_key_is_one_line(dataset, typo_registry, monkeypatch):
    monkeypatch.setattr(plugins, "_CATALOG", load_catalog(entry_points=False))
    res = CliRunner().invoke(app, ["fetch", dataset])
    assert res.exit_code == 2, res.output
    line = _one_error_line(res.stderr, res.stdout)
    assert f"error: dataset {dataset!r} is broken: {typo_registry}: {EXPECTED[dataset]}; expected some of " in line
    assert "frames verified" not in res.stdout


def test_misspelt_keys_break_their_dataset_only(typo_registry, hermetic_env, tmp_path):
    listed = _egbench("list", "datasets", registry=typo_registry)
    assert listed.returncode == 0, listed.stderr
    rows = {ln.split("│")[1].strip(): ln for ln in listed.stdout.splitlines() if ln.startswith("│ ") and "│" in ln[1:]}
    for dataset in EXPECTED:
        assert "broken: " in rows[dataset], listed.stdout
    assert "broken" not in rows["acac"] and "train:450 / val:50" in rows["acac"]

    out = tmp_path / "out"
    res = _egbench("run", "--models", EMT, "--datasets", "typo-select", "--preset", "smoke", "--out", str(out),
                   registry=typo_registry)  # fmt: skip
    assert res.returncode == 2, res.stderr
    line = _one_error_line(res.stderr, res.stdout)
    assert f"dataset 'typo-select' is broken: {typo_registry}: {EXPECTED['typo-select']}" in line
    assert not out.exists()


# -- 3. a registry file that is not TOML ---------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [("list", "datasets"), ("fetch", "acac"), ("run", "--models", EMT, "--preset", "smoke")],
    ids=["list", "fetch", "run"],
)
def test_malformed_registry_file_is_one_line(args, tmp_path, hermetic_env):
    bad = tmp_path / "bad.toml"
    bad.write_text('[datasets.broken\nelements = ["H"\n')
    out = tmp_path / "out"
    res = _egbench(*args, *(["--out", str(out)] if args[0] == "run" else []), registry=bad)
    assert res.returncode == 2, (res.returncode, res.stderr[-3000:])
    line = _one_error_line(res.stderr, res.stdout)
    assert line == (
        f"error: registry file {bad} (named by EGBENCH_REGISTRY) is not valid TOML: "
        "Expected ']' at the end of a table declaration (at line 1, column 17)"
    )
    assert not out.exists()
