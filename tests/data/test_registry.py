"""datasets_registry.toml: hashing, embedded copies, cache verification, mirror, offline errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from egbench_core.data.registry import (
    ChecksumError,
    DataUnavailableError,
    Registry,
    RegistryError,
    data_dir,
    file_hash,
)

ACAC = {  # embedded in egbench_core.default_plugins; sha256 as listed in ../shared/data/SHA256SUMS
    "botnet-datasets/dataset_acac/train_300K.xyz": "8f5706d6902360555a5be59395612d2afc3489a75688388a58e7275fdad68af3",
    "botnet-datasets/dataset_acac/test_MD_300K.xyz": "2291f3186a3cc6a5e05e92952c84a9237ca53f862d78fd3316a769360719ec43",
    "botnet-datasets/dataset_acac/test_MD_600K.xyz": "d5a5bba154ec43f915eb7529f86ec3af60e6f911743859daba030181a0378ff7",
}
TRAIN = "botnet-datasets/dataset_acac/train_300K.xyz"
ISO = "botnet-datasets/dataset_3BPA/iso_atoms.xyz"


def _write_registry(path: Path, text: str, monkeypatch) -> Path:
    path.write_text(text)
    monkeypatch.setenv("EGBENCH_REGISTRY", str(path))
    return path


def _register_file(tmp_path: Path, monkeypatch, name: str, url: str, *lines: str) -> Path:
    """An extra registry file (``EGBENCH_REGISTRY``) declaring the file ``name``: its ``url``, then ``lines``."""
    return _write_registry(
        tmp_path / "extra.toml", "\n".join([f'[files."{name}"]', f'url = "{url}"', *lines, ""]), monkeypatch
    )


def _mirror_sha256(mirror: Path, name: str) -> str:
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, _, rel = line.partition("  ")
        if rel.strip() == name:
            return digest
    raise AssertionError(f"{name} not in SHA256SUMS")


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# -- hashing ----------------------------------------------------------------------------
def test_sha256_and_git_blob_sha1(tmp_path):
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello\n")
    assert file_hash(f, "sha256") == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert file_hash(f, "git-sha1") == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object hello.txt`
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_hash(empty, "git-sha1") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob
    with pytest.raises(RegistryError, match="md5"):
        file_hash(f, "md5")


def test_git_blob_sha1_of_a_large_file_matches_definition(tmp_path):
    data = bytes(range(256)) * 9000  # > 1 MiB: several read chunks
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    want = hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()
    assert file_hash(f, "git-sha1") == want
    assert file_hash(f, "sha256") == hashlib.sha256(data).hexdigest()


# -- embedded files ---------------------------------------------------------------------
def test_embedded_acac_files_unpack_into_cache_and_verify(hermetic_env):
    reg = Registry.load()
    for name, sha in ACAC.items():
        e = reg.entry(name)
        assert e.hash_algo == "sha256" and e.hash == sha
        assert reg.locate(name) == "embedded"
        path = reg.fetch(name)
        assert path == data_dir() / name == hermetic_env / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
        assert reg.locate(name) == "cache"
        assert reg.fetch(name) == path  # second fetch: verified cache hit
    assert not list(hermetic_env.rglob("*.part"))


def test_corrupt_cache_file_is_moved_aside_then_restored(hermetic_env):
    reg = Registry.load()
    path = reg.fetch(TRAIN)
    with open(path, "ab") as fh:
        fh.write(b"\0")
    bad = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as info:
        reg.fetch(TRAIN)
    msg = str(info.value)
    assert TRAIN in msg
    assert ACAC[TRAIN] in msg and bad in msg
    assert info.value.expected == f"sha256:{ACAC[TRAIN]}" and info.value.actual == f"sha256:{bad}"
    aside = list(path.parent.glob("train_300K.xyz.corrupt-*"))
    assert len(aside) == 1 and info.value.aside == aside[0]
    assert str(aside[0]) in msg
    assert hashlib.sha256(aside[0].read_bytes()).hexdigest() == bad
    assert not path.exists()
    # the next fetch restores a verified copy (from the embedded file)
    good = reg.fetch(TRAIN)
    assert good == path and hashlib.sha256(good.read_bytes()).hexdigest() == ACAC[TRAIN]


# -- offline / mirror -------------------------------------------------------------------
def test_missing_file_offline_names_file_url_and_mirror_variable(tmp_path, monkeypatch, hermetic_env):
    url = "https://example.invalid/egbench-test/nothing-here.xyz"
    _register_file(
        tmp_path, monkeypatch, "fake-source/sub/nothing-here.xyz", url, f'sha256 = "{"ab" * 32}"', 'format = "extxyz"'
    )
    monkeypatch.setenv("EGBENCH_OFFLINE", "1")
    reg = Registry.load()
    assert reg.locate("fake-source/sub/nothing-here.xyz") is None
    with pytest.raises(DataUnavailableError) as info:
        reg.fetch("fake-source/sub/nothing-here.xyz")
    msg = str(info.value)
    assert "fake-source/sub/nothing-here.xyz" in msg
    assert url in msg
    assert "EGBENCH_DATA_MIRROR" in msg
    assert _files_under(hermetic_env) == []


def test_missing_file_with_a_mirror_that_lacks_it(tmp_path, monkeypatch):
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", str(empty_mirror))
    _register_file(
        tmp_path,
        monkeypatch,
        "fake-source/x.xyz",
        "https://example.invalid/x.xyz",
        'git_sha1 = "ce013625030ba8dba906f756967f9e9ca394464a"',
    )
    with pytest.raises(DataUnavailableError) as info:
        Registry.load().fetch("fake-source/x.xyz")
    assert f"EGBENCH_DATA_MIRROR={empty_mirror} has no fake-source/x.xyz" in str(info.value)


def test_mirror_file_is_fetched_and_verified(tmp_path, monkeypatch, mirror, hermetic_env):
    sha = _mirror_sha256(mirror, ISO)
    _register_file(
        tmp_path,
        monkeypatch,
        ISO,
        "https://raw.githubusercontent.com/davkovacs/BOTNet-datasets/29e6d467317e4b5967b7ea5cbee54de953fa0d45/dataset_3BPA/iso_atoms.xyz",
        f'sha256 = "{sha}"',
        'format = "extxyz"',
    )
    reg = Registry.load()
    assert reg.locate(ISO) == "mirror"
    path = reg.fetch(ISO)
    assert path == hermetic_env / ISO
    assert path.read_bytes() == (mirror / ISO).read_bytes()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert reg.locate(ISO) == "cache"


def test_mirror_file_registered_by_git_blob_sha1(tmp_path, monkeypatch, mirror, hermetic_env):
    data = (mirror / ISO).read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    _register_file(tmp_path, monkeypatch, ISO, "https://example.invalid/iso_atoms.xyz", f'git_sha1 = "{blob}"')
    path = Registry.load().fetch(ISO)
    assert path.read_bytes() == data


def test_mirror_file_with_wrong_hash_raises_and_leaves_nothing(tmp_path, monkeypatch, mirror, hermetic_env):
    actual = _mirror_sha256(mirror, ISO)
    wrong = "0" * 64
    _register_file(tmp_path, monkeypatch, ISO, "https://example.invalid/iso_atoms.xyz", f'sha256 = "{wrong}"')
    reg = Registry.load()
    with pytest.raises(ChecksumError) as info:
        reg.fetch(ISO)
    msg = str(info.value)
    assert ISO in msg and wrong in msg and actual in msg
    assert _files_under(hermetic_env) == []
    assert reg.locate(ISO) == "mirror"  # still not cached


def test_mirror_checksum_error_actual_is_the_hash(tmp_path, monkeypatch, mirror):
    actual = _mirror_sha256(mirror, ISO)
    _register_file(tmp_path, monkeypatch, ISO, "https://example.invalid/iso_atoms.xyz", f'sha256 = "{"0" * 64}"')
    with pytest.raises(ChecksumError) as info:
        Registry.load().fetch(ISO)
    assert info.value.actual == f"sha256:{actual}"


def test_mirror_wrong_git_sha1_moves_download_aside(tmp_path, monkeypatch, mirror, hermetic_env):
    _register_file(tmp_path, monkeypatch, ISO, "https://example.invalid/iso_atoms.xyz", f'git_sha1 = "{"1" * 40}"')
    with pytest.raises(ChecksumError) as info:
        Registry.load().fetch(ISO)
    assert "git-sha1:" + "1" * 40 in str(info.value)
    assert not (hermetic_env / ISO).exists()  # the unverified copy is not usable as the cache file


# -- registry merging and validation ----------------------------------------------------
def test_egbench_registry_overrides_an_entry(tmp_path, monkeypatch):
    before = Registry.load().entry(TRAIN)
    override = _write_registry(
        tmp_path / "override.toml",
        f"""
[files."{TRAIN}"]
url = "https://example.invalid/my-copy/train_300K.xyz"
git_sha1 = "{"c" * 40}"
format = "extxyz"
""",
        monkeypatch,
    )
    reg = Registry.load()
    e = reg.entry(TRAIN)
    assert before.url != e.url
    assert e.url == "https://example.invalid/my-copy/train_300K.xyz"
    assert (e.hash_algo, e.hash) == ("git-sha1", "c" * 40)
    assert e.embedded == ""  # replaced entirely, not merged key by key
    assert reg.origins[f"file:{TRAIN}"] == str(override)
    # the other acac entries are untouched
    assert (
        reg.entry("botnet-datasets/dataset_acac/test_MD_300K.xyz").hash
        == ACAC["botnet-datasets/dataset_acac/test_MD_300K.xyz"]
    )


def test_several_registry_files_later_wins(tmp_path, monkeypatch):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('[files."s/f.xyz"]\nurl = "https://example.invalid/a"\nsha256 = "' + "a" * 64 + '"\n')
    b.write_text('[files."s/f.xyz"]\nurl = "https://example.invalid/b"\nsha256 = "' + "b" * 64 + '"\n')
    monkeypatch.setenv("EGBENCH_REGISTRY", os.pathsep.join([str(a), str(b)]))
    assert Registry.load().entry("s/f.xyz").url == "https://example.invalid/b"


def test_entry_without_checksum_is_a_registry_error(tmp_path, monkeypatch):
    _write_registry(
        tmp_path / "bad.toml",
        """
[files."no-hash/data.xyz"]
url = "https://example.invalid/data.xyz"
""",
        monkeypatch,
    )
    with pytest.raises(RegistryError) as info:
        Registry.load()
    msg = str(info.value)
    assert "no-hash/data.xyz" in msg and "neither sha256 nor git_sha1" in msg
    assert str(tmp_path / "bad.toml") in msg


def test_unknown_file_and_missing_registry_file(tmp_path, monkeypatch):
    with pytest.raises(RegistryError, match="not-a/file.xyz"):
        Registry.load().entry("not-a/file.xyz")
    monkeypatch.setenv("EGBENCH_REGISTRY", str(tmp_path / "does-not-exist.toml"))
    with pytest.raises(RegistryError, match="does-not-exist.toml"):
        Registry.load()
