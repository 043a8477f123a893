"""``datasets_registry.toml``: every data file egbench knows, and fetching it with its checksum.

A file entry is keyed by its relative path ``<source>/<path inside the upstream repository>``,
which is also its path in the cache (``EGBENCH_DATA_DIR``) and in an offline mirror
(``EGBENCH_DATA_MIRROR``: one or more folders separated by ``os.pathsep``, searched in order).
Where a file comes from, in order: the cache (verified), a copy embedded in an installed package,
the mirrors, the upstream URL (through pooch). Embedded and mirror copies are copied here into a
temporary file in the cache, verified, then renamed into place. Nothing is used unverified:

* a cached file with the wrong hash is moved aside to ``<name>.corrupt-<time>`` and
  :class:`ChecksumError` names the file, the expected and the actual hash;
* a mirror copy with the wrong hash raises :class:`MirrorChecksumError`: the mirror copy is
  corrupt and must be replaced from the upstream URL (files in a mirror are never touched);
* a file that is nowhere to be had raises :class:`DataUnavailableError` naming the file, its
  URL and the mirror variable;
* a cache folder that cannot be written raises :class:`DataCacheError`;
* the decompressed copy of a ``.gz`` / ``.bz2`` registry file is checked against its own sha256
  (a sidecar written when it was decompressed) on every use: a changed copy is logged as a warning
  and decompressed again from the verified compressed file (:meth:`Registry.local_path`).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import importlib.resources
import logging
import os
import shutil
import tempfile
import time
import tomllib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_DATA_DIR = "EGBENCH_DATA_DIR"
ENV_MIRROR = "EGBENCH_DATA_MIRROR"
ENV_OFFLINE = "EGBENCH_OFFLINE"
ENV_REGISTRY = "EGBENCH_REGISTRY"


class RegistryError(ValueError):
    """The registry itself is wrong (a missing field, an unknown file id)."""


class ChecksumError(RuntimeError):
    """A file's hash differs from the registry's: names the file, the expected and the actual hash."""

    def __init__(self, name: str, path: Path, expected: str, actual: str, aside: Path | None, message: str = ""):
        self.name, self.path, self.expected, self.actual, self.aside = name, path, expected, actual, aside
        where = f"; the file was moved aside to {aside}" if aside else ""
        super().__init__(
            message
            or f"checksum mismatch for {name} ({path}): expected {expected}, got {actual}{where}. "
            "Delete it or fetch it again (`egbench fetch`) to replace it."
        )


class MirrorChecksumError(ChecksumError):
    """The copy in a mirror is corrupt; the mirror (maybe read-only, maybe shared) is left as it is."""

    def __init__(self, name: str, path: Path, expected: str, actual: str, url: str):
        super().__init__(
            name,
            path,
            expected,
            actual,
            None,
            f"the mirror copy of {name} at {path} is corrupt: expected {expected}, got {actual}. "
            f"It must be replaced in the mirror from the upstream URL {url} "
            "(egbench never changes files in a mirror).",
        )


class DataUnavailableError(RuntimeError):
    pass


class DataCacheError(RuntimeError):
    """The data cache folder cannot be written."""


def mirrors() -> list[Path]:
    """The mirror folders of ``EGBENCH_DATA_MIRROR`` (``os.pathsep``-separated), in search order."""
    return [Path(p).expanduser() for p in os.environ.get(ENV_MIRROR, "").split(os.pathsep) if p]


def writable_folder(folder: Path) -> Path:
    """Create ``folder`` (inside the data cache) or raise :class:`DataCacheError` saying why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cache_error(exc) from None
    return folder


def cache_error(exc: OSError) -> DataCacheError:
    return DataCacheError(
        f"the data cache {data_dir()} cannot be written ({exc.strerror or exc}: {exc.filename}); "
        f"expected a writable folder: set {ENV_DATA_DIR} to one"
    )


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
    keys: tuple[str, ...] = field(default=(), compare=False)  # the entry's keys, as written (checked by its readers)

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
    def load(cls, extra_files: Iterable[Path] = ()) -> Registry:
        paths = list(extra_files) + [core_registry_path()]
        env = os.environ.get(ENV_REGISTRY)
        users = [Path(p) for p in env.split(os.pathsep) if p] if env else []
        tables = []
        for p in paths + users:
            named = f" (named by {ENV_REGISTRY})" if p in users else ""
            try:
                with open(p, "rb") as fh:
                    tables.append((str(p), tomllib.load(fh)))
            except FileNotFoundError:
                raise RegistryError(f"registry file {p}{named} does not exist") from None
            except tomllib.TOMLDecodeError as exc:  # its message ends with "(at line L, column C)"
                raise RegistryError(f"registry file {p}{named} is not valid TOML: {exc}") from None
            except OSError as exc:
                raise RegistryError(f"registry file {p}{named} cannot be read: {exc.strerror or exc}") from None
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
        if any((m / name).exists() for m in mirrors()):
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
                log.info("checksum mismatch for %s; moved aside to %s", name, aside)
                raise ChecksumError(name, target, e.checksum, f"{e.hash_algo}:{actual}", aside)
            return target
        writable_folder(target.parent)
        if e.embedded and _embedded_path(e.embedded).exists():
            src = _embedded_path(e.embedded)
            corrupt = _copy_verified(e, src, target, gunzip=src.suffix == ".gz")
            if corrupt:
                raise ChecksumError(
                    name,
                    src,
                    e.checksum,
                    corrupt,
                    None,
                    f"the copy of {name} embedded in {src} is corrupt: expected {e.checksum}, got "
                    f"{corrupt}. Reinstall the package that ships it.",
                )
            log.info("unpacked embedded copy of %s", name)
            return target
        for mirror in mirrors():
            src = mirror / name
            if src.exists():
                corrupt = _copy_verified(e, src, target)
                if corrupt:
                    raise MirrorChecksumError(name, src, e.checksum, corrupt, e.url)
                log.info("copied %s from mirror %s", name, src)
                return target
        if os.environ.get(ENV_OFFLINE):
            raise self._unavailable(e, f"{ENV_OFFLINE} is set")
        try:
            return self._download(e, target)
        except ChecksumError:
            raise
        except Exception as exc:  # noqa: BLE001 - any network failure: say what to do
            raise self._unavailable(e, f"download failed: {type(exc).__name__}: {exc}") from None

    def local_path(self, name: str) -> Path:
        """Like :meth:`fetch`, and a compressed registry file (``.bz2`` / ``.gz``, whose checksum is
        the compressed blob's, as published upstream) is decompressed into
        ``<data dir>/decompressed/<name without suffix>``, beside a stamp ``<file>.source`` naming the
        compressed file's checksum and a sidecar ``<file>.sha256`` with the decompressed copy's own
        sha256. Both are checked on every use, like the compressed file: a copy that differs from its
        sidecar (changed after it was written), or has no sidecar (written by an older egbench), is
        logged as a warning naming it and decompressed again from the verified compressed file."""
        path = self.fetch(name)
        opener: Callable[..., Any] | None = {".bz2": bz2.open, ".gz": gzip.open}.get(Path(name).suffix)
        if opener is None:
            return path
        from egbench_core.data.sidecar import sidecar_problem, write_sidecar

        e = self.entry(name)
        out = data_dir() / "decompressed" / name[: -len(Path(name).suffix)]
        stamp = out.with_name(out.name + ".source")
        if out.exists() and stamp.exists() and stamp.read_text().strip() == e.checksum:
            why = sidecar_problem(out)
            if why is None:
                return out
            log.warning("decompressed copy of %s not trusted: %s; decompressing it again from %s", name, why, path)
        writable_folder(out.parent)
        tmp = out.with_name(out.name + ".part")
        kind = Path(name).suffix[1:]
        try:
            stamp.unlink(missing_ok=True)  # the stamp is written last: without it the copy is never used
            with open(tmp, "wb") as fout:
                try:
                    with opener(path, "rb") as fin:
                        shutil.copyfileobj(fin, fout, 1 << 20)
                except (OSError, EOFError, zlib.error) as exc:
                    from egbench_core.data.readers import MalformedDataError

                    raise MalformedDataError(
                        f"{path}: cannot decompress ({type(exc).__name__}: {exc}); expected {kind}-compressed data, "
                        f"as the registry file name {name} says (its checksum matches the registry: the entry is wrong)"
                    ) from None
            tmp.replace(out)
            write_sidecar(out)
            stamp.write_text(e.checksum + "\n")
        except OSError as exc:
            raise cache_error(exc) from None
        finally:
            tmp.unlink(missing_ok=True)
        log.info("decompressed %s into %s", name, out)
        return out

    def _unavailable(self, e: FileEntry, why: str) -> DataUnavailableError:
        mirror = os.environ.get(ENV_MIRROR, "").strip(os.pathsep)
        m = f"{ENV_MIRROR}={mirror} has no {e.name}" if mirror else f"{ENV_MIRROR} is not set"
        return DataUnavailableError(
            f"data file {e.name} is not available offline ({why}; {m}). Upstream URL: {e.url}. "
            f"Download it there and place it under a folder named by {ENV_MIRROR}, "
            f"or into the cache {data_dir() / e.name}."
        )

    def _download(self, e: FileEntry, target: Path) -> Path:
        """From the upstream URL, through pooch (the only network path)."""
        import pooch

        known = f"sha256:{e.hash}" if e.hash_algo == "sha256" else None
        try:
            path = Path(
                pooch.retrieve(e.url, known_hash=known, fname=target.name, path=target.parent, progressbar=False)
            )
        except ValueError as exc:  # pooch's hash mismatch: the download was discarded
            if "hash" in str(exc).lower():
                raise ChecksumError(e.name, Path(e.url), e.checksum, _pooch_actual(str(exc)), None) from None
            raise
        if e.hash_algo != "sha256":
            actual = file_hash(path, e.hash_algo)
            if actual != e.hash:
                aside = path.with_name(_corrupt_name(path))
                path.rename(aside)
                raise ChecksumError(e.name, Path(e.url), e.checksum, f"{e.hash_algo}:{actual}", aside)
        log.info("fetched %s from %s", e.name, e.url)
        return path


def _corrupt_name(path: Path) -> str:
    return f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}"


def _pooch_actual(msg: str) -> str:
    # pooch: "... SHA256 hash of downloaded file (x) does not match the known hash: expected y ..."
    import re

    m = re.search(r"but got ([0-9a-f]{64})", msg) or re.search(r"\(([0-9a-f]{64})\)", msg)
    return f"sha256:{m.group(1)}" if m else msg


def _copy_verified(e: FileEntry, src: Path, target: Path, gunzip: bool = False) -> str | None:
    """Copy ``src`` (gunzipped if asked) into a temporary file beside ``target``, verify its hash,
    and rename it into place. Returns None when it verified, else the actual hash (nothing kept)."""
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise cache_error(exc) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fout, (gzip.open if gunzip else open)(src, "rb") as fin:
            shutil.copyfileobj(fin, fout, 1 << 20)
        actual = file_hash(tmp, e.hash_algo)
        if actual != e.hash:
            return f"{e.hash_algo}:{actual}"
        os.replace(tmp, target)
        return None
    finally:
        tmp.unlink(missing_ok=True)


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
    return FileEntry(
        name=name,
        url=entry["url"],
        hash_algo=algo,
        hash=str(h).lower(),
        format=entry.get("format", ""),
        units=dict(entry.get("units", {})),
        licence=entry.get("licence", ""),
        embedded=entry.get("embedded", ""),
        keys=tuple(entry),
    )


def core_registry_path() -> Path:
    """Core's own registry: packaged inside the wheel, or the top-level file of a source checkout."""
    packaged = Path(str(importlib.resources.files("egbench_core").joinpath("datasets_registry.toml")))
    if packaged.exists():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "datasets_registry.toml"
    if checkout.exists():
        return checkout
    raise RegistryError("core's datasets_registry.toml is missing from this installation")
