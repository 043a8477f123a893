"""``datasets_registry.toml``: every data file egbench knows, and fetching it with its checksum.

A file entry is keyed by its relative path ``<source>/<path inside the upstream repository>``,
which is also its path in the cache (``EGBENCH_DATA_DIR``) and in an offline mirror
(``EGBENCH_DATA_MIRROR``). Where a file comes from, in order: the cache (verified), a copy
embedded in an installed package, the mirror, the upstream URL (through pooch). Every path is
verified against the registry's sha256 (or git blob SHA-1). Nothing is used unverified:

* a cached file with the wrong hash is moved aside to ``<name>.corrupt-<time>`` and
  :class:`ChecksumError` names the file, the expected and the actual hash;
* a file that is nowhere to be had raises :class:`DataUnavailableError` naming the file, its
  URL and the mirror variable.
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import importlib.resources
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

log = logging.getLogger(__name__)

ENV_DATA_DIR = "EGBENCH_DATA_DIR"
ENV_MIRROR = "EGBENCH_DATA_MIRROR"
ENV_OFFLINE = "EGBENCH_OFFLINE"
ENV_REGISTRY = "EGBENCH_REGISTRY"


class RegistryError(ValueError):
    """The registry itself is wrong (a missing field, an unknown file id)."""


class ChecksumError(RuntimeError):
    def __init__(self, name: str, path: Path, expected: str, actual: str, aside: Path | None):
        self.name, self.path, self.expected, self.actual, self.aside = name, path, expected, actual, aside
        where = f"; the file was moved aside to {aside}" if aside else ""
        super().__init__(
            f"checksum mismatch for {name} ({path}): expected {expected}, got {actual}{where}. "
            "Delete it or fetch it again (`egbench fetch`) to replace it."
        )


class DataUnavailableError(RuntimeError):
    pass


def data_dir() -> Path:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("egbench")) / "data"


def file_hash(path: Path, algo: str) -> str:
    if algo == "sha256":
        h = hashlib.sha256()
    elif algo == "git-sha1":  # sha1(b"blob <len>\0" + content), what git names a file by
        h = hashlib.sha1()
        h.update(b"blob %d\0" % path.stat().st_size)
    else:
        raise RegistryError(f"unknown hash algorithm {algo!r}")
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class FileEntry:
    name: str  # relative path, also the cache / mirror path
    url: str
    hash_algo: str  # "sha256" or "git-sha1"
    hash: str
    format: str = ""
    units: dict[str, str] = field(default_factory=dict)
    licence: str = ""
    embedded: str = ""  # "package:resource/path[.gz]" of a copy shipped inside a package

    @property
    def checksum(self) -> str:
        return f"{self.hash_algo}:{self.hash}"


class Registry:
    """The merged registry: plugin files first, then core's file, then ``EGBENCH_REGISTRY``."""

    def __init__(self, tables: Iterable[tuple[str, dict[str, Any]]] = ()):
        self.files: dict[str, FileEntry] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.origins: dict[str, str] = {}
        for origin, table in tables:
            self.add(table, origin)

    def add(self, table: dict[str, Any], origin: str) -> None:
        for name, entry in table.get("files", {}).items():
            self.files[name] = _file_entry(name, entry, origin)
            self.origins[f"file:{name}"] = origin
        for name, entry in table.get("datasets", {}).items():
            self.datasets[name] = dict(entry)
            self.origins[f"dataset:{name}"] = origin

    @classmethod
    def load(cls, extra_files: Iterable[Path] = ()) -> "Registry":
        paths = list(extra_files) + [core_registry_path()]
        env = os.environ.get(ENV_REGISTRY)
        if env:
            paths += [Path(p) for p in env.split(os.pathsep) if p]
        tables = []
        for p in paths:
            try:
                with open(p, "rb") as fh:
                    tables.append((str(p), tomllib.load(fh)))
            except FileNotFoundError:
                raise RegistryError(f"registry file {p} does not exist") from None
            except tomllib.TOMLDecodeError as exc:
                raise RegistryError(f"registry file {p} is not valid TOML: {exc}") from None
        return cls(tables)

    def entry(self, name: str) -> FileEntry:
        try:
            return self.files[name]
        except KeyError:
            raise RegistryError(f"file {name!r} is not in datasets_registry.toml") from None

    def under(self, prefix: str) -> list[FileEntry]:
        prefix = prefix.rstrip("/") + "/"
        found = [e for n, e in sorted(self.files.items()) if n.startswith(prefix)]
        if not found:
            raise RegistryError(f"no registry files under {prefix!r}")
        return found

    # -- fetching -------------------------------------------------------------------------
    def locate(self, name: str) -> str | None:
        """Where ``name`` would come from without the network: 'cache', 'embedded', 'mirror' or None."""
        e = self.entry(name)
        if (data_dir() / name).exists():
            return "cache"
        if e.embedded and _embedded_path(e.embedded).exists():
            return "embedded"
        mirror = os.environ.get(ENV_MIRROR)
        if mirror and (Path(mirror) / name).exists():
            return "mirror"
        return None

    def fetch(self, name: str) -> Path:
        """Return a verified local path for file ``name``."""
        e = self.entry(name)
        target = data_dir() / name
        if target.exists():
            actual = file_hash(target, e.hash_algo)
            if actual != e.hash:
                aside = target.with_name(_corrupt_name(target))
                target.rename(aside)
                log.error("checksum mismatch for %s; moved aside to %s", name, aside)
                raise ChecksumError(name, target, e.checksum, f"{e.hash_algo}:{actual}", aside)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        if e.embedded and _embedded_path(e.embedded).exists():
            return self._from_embedded(e, target)
        mirror = os.environ.get(ENV_MIRROR)
        if mirror and (Path(mirror) / name).exists():
            return self._retrieve(e, target, _mirror_downloader(Path(mirror) / name), str(Path(mirror) / name))
        if os.environ.get(ENV_OFFLINE):
            raise self._unavailable(e, f"{ENV_OFFLINE} is set")
        try:
            return self._retrieve(e, target, None, e.url)
        except ChecksumError:
            raise
        except Exception as exc:  # noqa: BLE001 - any network failure: say what to do
            raise self._unavailable(e, f"download failed: {type(exc).__name__}: {exc}") from None

    def local_path(self, name: str) -> Path:
        """Like :meth:`fetch`, and a compressed registry file (``.bz2`` / ``.gz``, whose checksum is
        the compressed blob's, as published upstream) is decompressed once into
        ``<data dir>/decompressed/<name without suffix>`` next to a stamp naming its checksum."""
        path = self.fetch(name)
        opener = {".bz2": bz2.open, ".gz": gzip.open}.get(Path(name).suffix)
        if opener is None:
            return path
        e = self.entry(name)
        out = data_dir() / "decompressed" / name[: -len(Path(name).suffix)]
        stamp = out.with_name(out.name + ".source")
        if out.exists() and stamp.exists() and stamp.read_text().strip() == e.checksum:
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        try:
            with opener(path, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        except (OSError, EOFError) as exc:
            tmp.unlink(missing_ok=True)
            from .data import MalformedDataError

            raise MalformedDataError(f"{path}: cannot decompress: {exc}") from None
        tmp.replace(out)
        stamp.write_text(e.checksum + "\n")
        log.info("decompressed %s into %s", name, out)
        return out

    def _unavailable(self, e: FileEntry, why: str) -> DataUnavailableError:
        mirror = os.environ.get(ENV_MIRROR)
        m = f"{ENV_MIRROR}={mirror} has no {e.name}" if mirror else f"{ENV_MIRROR} is not set"
        return DataUnavailableError(
            f"data file {e.name} is not available offline ({why}; {m}). Upstream URL: {e.url}. "
            f"Download it there and place it under a folder named by {ENV_MIRROR}, "
            f"or into the cache {data_dir() / e.name}."
        )

    def _retrieve(self, e: FileEntry, target: Path, downloader, source: str) -> Path:
        import pooch

        known = f"sha256:{e.hash}" if e.hash_algo == "sha256" else None
        try:
            path = Path(pooch.retrieve(e.url, known_hash=known, fname=target.name, path=target.parent,
                                       downloader=downloader, progressbar=False))
        except ValueError as exc:  # pooch's hash mismatch: the download was discarded
            if "hash" in str(exc).lower():
                raise ChecksumError(e.name, Path(source), e.checksum, _pooch_actual(str(exc)), None) from None
            raise
        if e.hash_algo != "sha256":
            actual = file_hash(path, e.hash_algo)
            if actual != e.hash:
                aside = path.with_name(_corrupt_name(path))
                path.rename(aside)
                raise ChecksumError(e.name, Path(source), e.checksum, f"{e.hash_algo}:{actual}", aside)
        log.info("fetched %s from %s", e.name, source)
        return path

    def _from_embedded(self, e: FileEntry, target: Path) -> Path:
        src = _embedded_path(e.embedded)
        tmp = target.with_name(target.name + ".part")
        opener = gzip.open if src.suffix == ".gz" else open
        with opener(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        actual = file_hash(tmp, e.hash_algo)
        if actual != e.hash:
            tmp.unlink()
            raise ChecksumError(e.name, src, e.checksum, f"{e.hash_algo}:{actual}", None)
        tmp.replace(target)
        log.info("unpacked embedded copy of %s", e.name)
        return target


def _corrupt_name(path: Path) -> str:
    return f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}"


def _pooch_actual(msg: str) -> str:
    # pooch: "... SHA256 hash of downloaded file (x) does not match the known hash: expected y ..."
    import re

    m = re.search(r"but got ([0-9a-f]{64})", msg) or re.search(r"\(([0-9a-f]{64})\)", msg)
    return f"sha256:{m.group(1)}" if m else msg


def _mirror_downloader(src: Path):
    def copy(url: str, output_file, pooch_obj=None) -> None:  # pooch downloader signature
        with open(src, "rb") as fin:
            if hasattr(output_file, "write"):
                shutil.copyfileobj(fin, output_file)
            else:
                with open(output_file, "wb") as fout:
                    shutil.copyfileobj(fin, fout)

    return copy


def _embedded_path(spec: str) -> Path:
    package, _, resource = spec.partition(":")
    return Path(str(importlib.resources.files(package).joinpath(resource)))


def _file_entry(name: str, entry: dict[str, Any], origin: str) -> FileEntry:
    where = f"{origin}: [files.{name!r}]"
    if "url" not in entry:
        raise RegistryError(f"{where} has no url")
    if "sha256" in entry:
        algo, h = "sha256", entry["sha256"]
    elif "git_sha1" in entry:
        algo, h = "git-sha1", entry["git_sha1"]
    else:
        raise RegistryError(f"{where} has neither sha256 nor git_sha1")
    return FileEntry(name=name, url=entry["url"], hash_algo=algo, hash=str(h).lower(), format=entry.get("format", ""),
                     units=dict(entry.get("units", {})), licence=entry.get("licence", ""), embedded=entry.get("embedded", ""))


def core_registry_path() -> Path:
    """Core's own registry: packaged inside the wheel, or the top-level file of a source checkout."""
    packaged = Path(str(importlib.resources.files("egbench_core").joinpath("datasets_registry.toml")))
    if packaged.exists():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "datasets_registry.toml"
    if checkout.exists():
        return checkout
    raise RegistryError("core's datasets_registry.toml is missing from this installation")
