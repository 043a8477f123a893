"""The original MD17 npz files (quantum-machine.org/gdml): a reader and a dataset class.

``md17_<molecule>.npz`` holds ``R`` [F, N, 3] Å, ``z`` [N], ``E`` [F] or [F, 1] kcal/mol and
``F`` [F, N, 3] kcal/mol/Å (plus text fields ``name``, ``theory``, ``md5``, ``type``). The
benzene file has 627 983 frames, so the reader streams only the rows a split needs.

No checksum of these files is published. :class:`MD17OriginalDataset` therefore uses the file
only once a registry entry with a checksum exists (a user adds it through ``EGBENCH_REGISTRY``);
until then the dataset is listed and :meth:`unavailable_reason` says why it cannot be used.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from egbench_core.data import registry_checks as checks
from egbench_core.data.datasets import (
    DatasetSpec,
    check_read_file,
    dataset_origin,
    enforce_periodicity,
    file_fingerprint,
    select_frames,
    spec_kwargs,
    table_fingerprint,
)
from egbench_core.data.readers import Frames, MalformedDataError
from egbench_core.data.registry import ENV_REGISTRY, DataUnavailableError, Registry, RegistryError
from egbench_core.interfaces import stable_hash
from egbench_core.units import energy_factor, force_factor, length_factor

# a split of a contiguous trajectory must not move any atom more than this between frames
MAX_STEP_A = 0.2


def _read_rows(zf: zipfile.ZipFile, key: str, start: int, stop: int | None) -> np.ndarray:
    """Rows ``start:stop`` (first axis) of the C-ordered array ``key`` inside an npz, read as a
    stream: a 600 000-frame file is not loaded to take 1000 frames from it."""
    member = key + ".npy"
    if member not in zf.namelist():
        raise KeyError(key)
    with zf.open(member) as fh:
        version = np.lib.format.read_magic(fh)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        shape, fortran, dtype = readers[version](fh) if version in readers else ((), True, np.dtype(object))
        if fortran or dtype.hasobject or not shape:  # not a plain C-ordered array: load it whole
            with np.load(zf.filename, allow_pickle=False) as z:
                return np.asarray(z[key])[start:stop]
        n = shape[0]
        stop = n if stop is None else min(stop, n)
        start = min(start, stop)
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        fh.read(start * row)  # skip (zip members are streams)
        buf = fh.read((stop - start) * row)
        return np.frombuffer(buf, dtype=dtype).reshape((stop - start,) + tuple(shape[1:])).copy()


def read_md17_npz(
    path: Path,
    energy_unit: str = "kcal/mol",
    force_unit: str = "kcal/mol/Å",
    length_unit: str = "Å",
    start: int = 0,
    stop: int | None = None,
) -> Frames:
    """Frames ``start:stop`` of an original MD17 npz file, converted to eV / Å / eV/Å."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
            missing = {"R", "z", "E", "F"} - names
            if missing:
                raise MalformedDataError(f"{path}: MD17 npz lacks keys {sorted(missing)} (has {sorted(names)})")
            R = _read_rows(zf, "R", start, stop).astype(np.float64)
            E = _read_rows(zf, "E", start, stop).astype(np.float64).reshape(-1)
            F = _read_rows(zf, "F", start, stop).astype(np.float64)
            with zf.open("z.npy") as fh:
                z = np.lib.format.read_array(fh, allow_pickle=False).astype(np.int64).reshape(-1)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise MalformedDataError(f"{path}: not a readable MD17 npz file: {exc}") from None
    nf, n = R.shape[:2]
    if R.shape != (nf, len(z), 3) or F.shape != R.shape or E.shape != (nf,):
        raise MalformedDataError(f"{path}: R {R.shape}, F {F.shape}, E {E.shape}, z {z.shape} do not agree")
    lf = length_factor(length_unit)
    return Frames(
        R.reshape(-1, 3) * lf,
        np.tile(z, nf),
        np.full(nf, n),
        np.zeros((nf, 3, 3)),
        np.zeros((nf, 3), bool),
        E * energy_factor(energy_unit),
        F.reshape(-1, 3) * force_factor(force_unit),
        info={"frame": np.arange(start, start + nf), "file_frame": np.arange(start, start + nf)},
        source=str(path),
    )


def max_step(frames: Frames) -> float:
    """Largest displacement of any atom between consecutive frames (all frames the same molecule)."""
    n = int(frames.n_atoms[0])
    if len(frames) < 2 or (frames.n_atoms != n).any():
        return 0.0
    R = frames.positions.reshape(len(frames), n, 3)
    return float(np.linalg.norm(R[1:] - R[:-1], axis=-1).max())


class MD17OriginalDataset(DatasetSpec):
    """A dataset read from an original MD17 npz file, usable only once its checksum is registered.

    The ``[datasets.<id>]`` table names ``source_file`` (the registry key the file would have),
    ``source_url``, ``source_format`` (``md17-npz``) and ``source_units``; splits take
    ``select = { range = [...] }`` (streamed) or ``{ random = ... }`` (whole file loaded)."""

    # the keys this class reads besides core's (any other is refused as a misspelling)
    TABLE_KEYS = DatasetSpec.TABLE_KEYS | {"kind", "source_file", "source_url", "source_format", "source_units"}
    SPLIT_KEYS = DatasetSpec.SPLIT_KEYS | {"select"}

    def __init__(self, name: str, table: dict[str, Any], registry: Registry, plugin: str = ""):
        origin = dataset_origin(registry, name)
        super().__init__(**spec_kwargs(name, table, plugin, origin, type(self)))
        if isinstance(table.get("source_units"), dict):
            checks.check_keys(origin, f"datasets.{name}", table["source_units"], checks.UNIT_KEYS, "source_units")
        try:
            self.source_file = str(table["source_file"])
            self.source_url = str(table["source_url"])
        except KeyError as exc:
            raise RegistryError(f"{origin}: [datasets.{name}] lacks {exc}") from None
        self._table = table
        self._registry = registry
        if self.source_file in registry.files:  # a user's entry: its units must be known
            check_read_file(registry, self.source_file, f"dataset {name}", {"md17-npz"})

    def _units(self) -> dict[str, str]:
        units = {"energy": "kcal/mol", "forces": "kcal/mol/Å", "length": "Å"}
        units.update(self._table.get("source_units", {}))
        units.update(self._registry.entry(self.source_file).units)  # the user's registry entry has the last word
        return units

    # -- availability -----------------------------------------------------------------------
    def _no_checksum_reason(self) -> str:
        return (
            f"no published checksum for {self.source_file} ({self.source_url}), and egbench does not use "
            f'unverified data: download it, check it, and add a files entry named "{self.source_file}" with its '
            f'sha256 (format = "md17-npz", units in kcal/mol) to a TOML file named by {ENV_REGISTRY} '
            f"(the plugin's README shows the entry)"
        )

    def unavailable_reason(self, splits=None) -> str | None:
        if self.source_file not in self._registry.files:
            return self._no_checksum_reason()
        if self._registry.locate(self.source_file) is None:
            return f"file {self.source_file} is not available offline ({self._registry.entry(self.source_file).url})"
        return None

    def fingerprint(self) -> dict[str, str]:
        e = self._registry.files.get(self.source_file)
        file = file_fingerprint(e, "md17-npz", self._units()) if e else "unregistered"
        return {
            self.source_file: file,
            "splits": stable_hash(self._table["splits"]),
            "dataset": table_fingerprint(self._table),
        }

    def fetch(self) -> list[Path]:
        if self.source_file not in self._registry.files:
            raise DataUnavailableError(f"dataset {self.name}: {self._no_checksum_reason()}")
        return [self._registry.fetch(self.source_file)]

    # -- loading ----------------------------------------------------------------------------
    def _load(self, split: str) -> Frames:
        path = self.fetch()[0]
        units = self._units()
        kw = {"energy_unit": units["energy"], "force_unit": units["forces"], "length_unit": units["length"]}
        t = self._table["splits"][split]
        select = t.get("select")
        where = f"{self.name}/{split}"
        if select and "range" in select and (len(select["range"]) < 3 or select["range"][2] in (None, 1)):
            start, stop = (list(select["range"]) + [None])[:2]
            frames = read_md17_npz(path, start=int(start or 0), stop=None if stop is None else int(stop), **kw)
        else:
            frames = select_frames(read_md17_npz(path, **kw), select, where)
        frames = enforce_periodicity(frames, self.periodic, where)
        if self.splits[split].contiguous:
            step = max_step(frames)
            if step > MAX_STEP_A:
                raise MalformedDataError(
                    f"{where}: declared contiguous, but an atom moves {step:.3f} Å between two frames of {path} "
                    f"(more than {MAX_STEP_A} Å): these are not consecutive AIMD frames; fix the split in the registry"
                )
        return frames
