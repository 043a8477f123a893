"""Helpers shared by egbench's data plugins.

Each data plugin carries its own copy of this module (``egbench-data-md17``, ``-botnet``,
``-lips``, ``-gete``) so that every plugin installs on its own, next to egbench-core only.
What lives here is what core's :class:`~egbench_core.datasets.RegistryDataset` does not do yet
(see each plugin's README, "What core could take over"):

* the dataset's declared periodicity is enforced on the frames (the authors' 3BPA npz files
  say ``pbc = True`` around a molecule in a 50 Å box; a molecule must not be periodic);
* a registry file whose name ends in ``.bz2`` is verified as the upstream blob (its checksum is
  the compressed file's) and then decompressed once into the cache, next to a stamp naming the
  checksum it came from.
"""
from __future__ import annotations

import bz2
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from egbench_core.data import Frames, MalformedDataError, read_frames
from egbench_core.datasets import RegistryDataset, SplitInfo
from egbench_core.registry import Registry, RegistryError, data_dir

log = logging.getLogger(__name__)

COMPRESSED_SUFFIXES = (".bz2",)


# keys of a [datasets.<id>] table that DatasetSpec takes; the rest lands in ``extra``
SPEC_KEYS = {"splits", "elements", "periodic", "temperature_K", "timestep_fs", "friction_per_ps", "description",
             "citation", "licence", "tags"}


def spec_kwargs(name: str, table: dict[str, Any], plugin: str) -> dict[str, Any]:
    """``DatasetSpec`` keyword arguments from a ``[datasets.<id>]`` table (as core's
    RegistryDataset reads it), for dataset classes that are not RegistryDatasets."""
    try:
        splits = {s: SplitInfo(name=s, frames=t.get("frames"), temperature_K=t.get("temperature_K"),
                               contiguous=bool(t.get("contiguous", False)), frame_spacing_fs=t.get("frame_spacing_fs"),
                               tags=tuple(t.get("tags", ()))) for s, t in table["splits"].items()}
        return dict(
            name=name, splits=splits, elements=list(table["elements"]), periodic=bool(table["periodic"]),
            temperature_K=float(table["temperature_K"]), timestep_fs=float(table["timestep_fs"]),
            friction_per_ps=float(table.get("friction_per_ps", 0.5)), description=table.get("description", ""),
            citation=table.get("citation", ""), licence=table.get("licence", ""), tags=tuple(table.get("tags", ())),
            plugin=plugin, extra={k: v for k, v in table.items() if k not in SPEC_KEYS},
        )
    except KeyError as exc:
        raise RegistryError(f"registry [datasets.{name}] lacks {exc}") from None


def units_kwargs(units: dict[str, str]) -> dict[str, str]:
    """Registry ``units`` table -> keyword arguments of core's readers."""
    names = {"energy": "energy_unit", "forces": "force_unit", "length": "length_unit"}
    return {names[k]: v for k, v in units.items() if k in names}


def select_frames(frames: Frames, select: dict[str, Any] | None, where: str) -> Frames:
    """Core's ``select`` semantics (``range`` / ``random``), so that splits mean the same
    whether core or a plugin loads them."""
    from egbench_core.datasets import _select  # not public yet: see the README

    return _select(frames, select, where)


def local_path(registry: Registry, name: str) -> Path:
    """A verified local path for registry file ``name``; a ``.bz2`` file is verified as
    downloaded (the upstream checksum is the compressed blob's) and then decompressed once
    into ``<data dir>/decompressed/<name without .bz2>``."""
    path = registry.fetch(name)
    if not name.endswith(COMPRESSED_SUFFIXES):
        return path
    entry = registry.entry(name)
    out = data_dir() / "decompressed" / name[: -len(".bz2")]
    stamp = out.with_name(out.name + ".source")
    if out.exists() and stamp.exists() and stamp.read_text().strip() == entry.checksum:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        with bz2.open(path, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    except (OSError, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        raise MalformedDataError(f"{path}: not a readable bz2 file: {exc}") from None
    tmp.replace(out)
    stamp.write_text(entry.checksum + "\n")
    log.info("decompressed %s into %s", name, out)
    return out


def enforce_periodicity(frames: Frames, periodic: bool, where: str) -> Frames:
    """Make the frames agree with the dataset's declared periodicity.

    A non-periodic dataset gets ``pbc = False`` everywhere (the cell is kept: it is harmless
    without pbc). A periodic dataset must come with pbc and a cell of non-zero volume."""
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


def missing_files_reason(registry: Registry, names: list[str]) -> str | None:
    """None if every file can be had without the network, else a reason naming the missing files."""
    missing = [n for n in names if registry.locate(n) is None]
    if not missing:
        return None
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return f"{len(missing)} file(s) not available offline: {shown} (e.g. {registry.entry(missing[0]).url})"


class PluginRegistryDataset(RegistryDataset):
    """A :class:`RegistryDataset` that enforces the declared periodicity, reads ``.bz2`` files
    and names every missing file when it is unavailable."""

    def unavailable_reason(self) -> str | None:
        return missing_files_reason(self._registry, self.file_names())

    def _load(self, split: str) -> Frames:
        t = self._split_table(split)
        names = self._files_of(split)
        if "folder" in t or not any(n.endswith(COMPRESSED_SUFFIXES) for n in names):
            frames = super()._load(split)
        else:
            parts = []
            for n in names:
                e = self._registry.entry(n)
                parts.append(read_frames(local_path(self._registry, n), t.get("format", e.format), **units_kwargs(e.units)))
            frames = parts[0] if len(parts) == 1 else Frames.concatenate(parts)
            frames = select_frames(frames, t.get("select"), f"{self.name}/{split}")
        return enforce_periodicity(frames, self.periodic, f"{self.name}/{split}")
