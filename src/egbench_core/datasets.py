"""Dataset specs: what a dataset is (splits, elements, MD conditions) and how its frames load.

Two kinds, both registered through ``register_datasets``:

* :class:`RegistryDataset` — declared in ``datasets_registry.toml`` (files, splits, conditions);
* :class:`GeneratedDataset` — made on the fly by a seeded generator (e.g. EMT molecular
  dynamics), cached in the data folder, with a reference calculator that can serve as oracle.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .data import Frames, MalformedDataError, load_frames, read_frames, save_frames
from .interfaces import check_id, stable_hash
from .registry import Registry, RegistryError, data_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitInfo:
    name: str
    frames: int | None = None  # expected number of frames (checked on load)
    temperature_K: float | None = None
    contiguous: bool = False  # a time-contiguous trajectory
    frame_spacing_fs: float | None = None  # time between consecutive frames, if contiguous
    tags: tuple[str, ...] = ()


@dataclass
class DatasetSpec:
    """Base class. Subclasses implement :meth:`_load` and :meth:`fingerprint`."""

    name: str
    splits: dict[str, SplitInfo]
    elements: list[str]
    periodic: bool
    temperature_K: float
    timestep_fs: float
    friction_per_ps: float = 0.5
    description: str = ""
    citation: str = ""
    licence: str = ""
    tags: tuple[str, ...] = ()
    plugin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_id("dataset", self.name)

    # an ASE calculator factory that labels arbitrary frames of this system (oracle), or None
    def oracle(self):
        return None

    def load(self, split: str) -> Frames:
        if split not in self.splits:
            raise KeyError(f"dataset {self.name!r} has no split {split!r}; it has {sorted(self.splits)}")
        frames = self._load(split)
        info = self.splits[split]
        if info.frames is not None and len(frames) != info.frames:
            raise MalformedDataError(
                f"dataset {self.name!r} split {split!r}: {len(frames)} frames from {frames.source}, expected {info.frames}")
        frames.check_finite()
        return frames

    def _load(self, split: str) -> Frames:
        raise NotImplementedError

    def fingerprint(self) -> dict[str, str]:
        """What identifies the data of this dataset (file checksums, generator parameters)."""
        raise NotImplementedError

    def unavailable_reason(self, splits: Iterable[str] | None = None) -> str | None:
        """None if ``splits`` (default: all) can be loaded without the network, else why not."""
        return None


class RegistryDataset(DatasetSpec):
    """A dataset declared in ``datasets_registry.toml``.

    Each split names a ``file`` (a registry file id) or a ``folder`` (DeePMD layout: every
    registry file under it), or ``files`` (concatenated), optionally a ``select``:
    ``{ range = [start, stop, step] }`` or ``{ random = [n0, n1, ...], part = k, seed = s }``
    (a seeded permutation cut into consecutive blocks; ``part`` picks one block).
    """

    def __init__(self, name: str, table: dict[str, Any], registry: Registry, plugin: str = "core"):
        super().__init__(**spec_kwargs(name, table, plugin))
        self._table = table
        self._registry = registry
        for s in self.splits:
            self._files_of(s)  # fail at registration if a split names an unknown file

    def _split_table(self, split: str) -> dict[str, Any]:
        return self._table["splits"][split]

    def _files_of(self, split: str) -> list[str]:
        t = self._split_table(split)
        if "folder" in t:
            return [e.name for e in self._registry.under(t["folder"])]
        names = list(t.get("files", [])) + ([t["file"]] if "file" in t else [])
        if not names:
            raise RegistryError(f"dataset {self.name!r} split {split!r} names no file, files or folder")
        for n in names:
            self._registry.entry(n)
        return names

    def fingerprint(self) -> dict[str, str]:
        fp = {n: self._registry.entry(n).checksum for n in self.file_names()}
        fp["splits"] = stable_hash(self._table["splits"])
        return fp

    def file_names(self, splits: Iterable[str] | None = None) -> list[str]:
        return sorted({f for s in (self.splits if splits is None else splits) for f in self._files_of(s)})

    def unavailable_reason(self, splits: Iterable[str] | None = None) -> str | None:
        return missing_files_reason(self._registry, self.file_names(splits))

    def fetch(self) -> list[Path]:
        return [self._registry.fetch(n) for n in self.file_names()]

    def _load(self, split: str) -> Frames:
        t = self._split_table(split)
        parts = []
        where = f"{self.name}/{split}"
        if "folder" in t:  # DeePMD layout: every registry file under the folder, read from the cache
            names = self._files_of(split)
            for n in names:
                self._registry.local_path(n)
            first = self._registry.entry(names[0])
            parts.append(read_frames(data_dir() / t["folder"], t.get("format", first.format), **units_kwargs(first.units)))
        else:
            for n in self._files_of(split):
                e = self._registry.entry(n)
                parts.append(read_frames(self._registry.local_path(n), t.get("format", e.format), **units_kwargs(e.units)))
        frames = parts[0] if len(parts) == 1 else Frames.concatenate(parts)
        return enforce_periodicity(select_frames(frames, t.get("select"), where), self.periodic, where)


SPEC_KEYS = {"splits", "elements", "periodic", "temperature_K", "timestep_fs", "friction_per_ps", "description",
             "citation", "licence", "tags"}


def spec_kwargs(name: str, table: dict[str, Any], plugin: str) -> dict[str, Any]:
    """``DatasetSpec`` keyword arguments from a ``[datasets.<id>]`` registry table; keys that
    DatasetSpec does not take land in ``extra`` (e.g. ``train_dataset``, ``estimates``)."""
    try:
        splits = {s: split_info(s, t) for s, t in table["splits"].items()}
        return dict(
            name=name, splits=splits, elements=list(table["elements"]), periodic=bool(table["periodic"]),
            temperature_K=float(table["temperature_K"]), timestep_fs=float(table["timestep_fs"]),
            friction_per_ps=float(table.get("friction_per_ps", 0.5)), description=table.get("description", ""),
            citation=table.get("citation", ""), licence=table.get("licence", ""), tags=tuple(table.get("tags", ())),
            plugin=plugin, extra={k: v for k, v in table.items() if k not in SPEC_KEYS},
        )
    except KeyError as exc:
        raise RegistryError(f"datasets_registry.toml [datasets.{name}] lacks {exc}") from None


def units_kwargs(units: dict[str, str]) -> dict[str, str]:
    """Registry ``units`` table -> keyword arguments of the readers."""
    names = {"energy": "energy_unit", "forces": "force_unit", "length": "length_unit"}
    return {names[k]: v for k, v in units.items() if k in names}


def split_info(name: str, t: dict[str, Any]) -> SplitInfo:
    return SplitInfo(name=name, frames=t.get("frames"), temperature_K=t.get("temperature_K"),
                     contiguous=bool(t.get("contiguous", False)), frame_spacing_fs=t.get("frame_spacing_fs"),
                     tags=tuple(t.get("tags", ())))


def missing_files_reason(registry: Registry, names: Iterable[str]) -> str | None:
    """None if every file can be had without the network, else a reason naming the missing files."""
    missing = [n for n in names if registry.locate(n) is None]
    if not missing:
        return None
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return f"{len(missing)} file(s) not available offline: {shown} (e.g. {registry.entry(missing[0]).url})"


def enforce_periodicity(frames: Frames, periodic: bool, where: str) -> Frames:
    """Make frames agree with the dataset's declared periodicity: a molecule gets ``pbc = False``
    (some releases set pbc around a molecule in a 50 Å box); a periodic dataset must come with
    pbc and a cell of non-zero volume."""
    if not periodic:
        if frames.pbc.any():
            log.info("%s: the file sets pbc on a dataset declared non-periodic; pbc set to False", where)
            frames.pbc = np.zeros(frames.pbc.shape, dtype=bool)
        return frames
    if not frames.pbc.all():
        raise MalformedDataError(f"{where}: the dataset is declared periodic but the file has pbc={frames.pbc[0].tolist()}")
    vol = np.abs(np.linalg.det(frames.cell))
    if (vol < 1e-6).any():
        raise MalformedDataError(f"{where}: frame {int(np.argmax(vol < 1e-6))} of a periodic dataset has no cell")
    return frames


def select_frames(frames: Frames, select: dict[str, Any] | None, where: str) -> Frames:
    if not select:
        return frames
    n = len(frames)
    if "range" in select:
        start, stop, step = (list(select["range"]) + [None, None])[:3]
        return frames.subset(np.arange(n)[slice(start, stop, step)])
    if "random" in select:
        sizes = [int(s) for s in select["random"]]
        if sum(sizes) > n:
            raise RegistryError(f"{where}: random split sizes {sizes} need {sum(sizes)} frames, file has {n}")
        perm = np.random.default_rng(int(select["seed"])).permutation(n)
        part = int(select["part"])
        start = sum(sizes[:part])
        return frames.subset(np.sort(perm[start:start + sizes[part]]))
    raise RegistryError(f"{where}: unknown select {select}; use range or random")


class GeneratedDataset(DatasetSpec):
    """A synthetic dataset produced by ``generate(seed) -> dict[split, Frames]``, cached as npz in
    the data folder under a name that includes the generator's parameters."""

    def __init__(self, *, generate: Callable[[], dict[str, Frames]], params: dict[str, Any],
                 oracle: Callable[[], Any] | None = None, **kw):
        super().__init__(**kw)
        self._generate = generate
        self._params = params
        self._oracle = oracle
        self._cache: dict[str, Frames] | None = None

    def oracle(self):
        return self._oracle() if self._oracle else None

    def fingerprint(self) -> dict[str, str]:
        return {"generator": stable_hash({"name": self.name, "params": self._params})}

    def _cache_path(self) -> Path:
        return data_dir() / "generated" / f"{self.name}-{self.fingerprint()['generator'][:16]}.npz"

    def _load(self, split: str) -> Frames:
        if self._cache is None:
            path = self._cache_path()
            if path.exists():
                self._cache = load_frames(path)
            else:
                log.info("generating dataset %s (%s)", self.name, self._params)
                self._cache = self._generate()
                save_frames(path, self._cache)
        return self._cache[split]
