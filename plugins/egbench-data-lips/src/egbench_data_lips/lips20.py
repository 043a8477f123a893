"""LiPS20: 20 Li–P–S systems, 1000 AIMD frames each at 3000 K, and the splits of the OOD tasks.

Every system is one DeePMD folder of the authors' release. 16 start from a crystal that the
3000 K run melts (or, for a few, turns superionic); the 4 glasses (g67–g80) start disordered.

egbench's definitions (docs/protocol.md, "Tasks": ``ood-crystal`` / ``ood-composition``):

* **crystalline** frames of a trajectory that starts from a crystal: the frames before the first
  one whose mean displacement from the initial frame reaches ``crystalline_below_A`` (0.5 Å).
  Displacements are taken on the unwrapped trajectory: each frame-to-frame step is brought to
  its minimum image before it is accumulated, so an atom that crosses the cell boundary does not
  jump by a lattice vector. The crystalline frames are therefore always the first frames; a hot,
  superionic crystal whose mean displacement later dips back under the threshold (Li3P,
  Li4P2S6) does not make those later frames crystalline again — they sit in the middle of the
  disordered part of the run, and counting them as crystalline would leak near-copies of
  training frames into the crystalline test set. The README lists both counts per system.
* **disordered** frames: all the others.
* **training systems**: role ``train`` in the registry (the systems with fewer than 100 atoms).

Splits (``kind`` in the registry):

* ``disordered-sample``: a seeded sample of the disordered frames of each training system,
  drawn from the frames before the held-out tail (minus a buffer), cut into consecutive parts
  (``part = 0`` train, ``1`` val): ``per_system = [train, val]`` frames of each system;
* ``disordered-holdout``: the last ``test_last`` frames of each training system (held out in time);
* ``crystalline``: the crystalline frames of each training system;
* ``all``: every frame of the systems whose role the split names (``from``).

Frames carry ``info["system"]`` (system name), ``info["frame"]`` (index in its trajectory) and
``info["crystalline"]``; a split's frames are put in a seeded random order so that a split's
first frames (what the ``smoke`` preset takes) mix every system.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
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
    folder_files,
    missing_files_reason,
    spec_kwargs,
    table_fingerprint,
    units_kwargs,
)
from egbench_core.data.readers import READERS, Frames, MalformedDataError, read_folder
from egbench_core.data.registry import Registry, RegistryError, data_dir
from egbench_core.interfaces import stable_hash

log = logging.getLogger(__name__)

ALGORITHM_VERSION = "1"  # part of the fingerprint: bump when a split's definition changes
MAX_STEP_FRACTION = 0.25  # of the narrowest cell width: the longest frame-to-frame step unwrapping trusts
KINDS = {"disordered-sample", "disordered-holdout", "crystalline", "all"}
SELECTION_KEYS = {"crystalline_below_A", "seed", "per_system", "test_last", "buffer", "frames_per_system"}
SYSTEM_KEYS = {"folder", "formula", "atoms", "role", "start"}


@dataclass(frozen=True)
class System:
    name: str
    folder: str  # registry folder (DeePMD layout)
    formula: str
    atoms: int
    role: str  # "train" or "composition-test"
    start: str  # "crystal" or "glass"


def unwrapped_displacement(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Mean displacement of the atoms from the first frame, per frame, on the unwrapped
    trajectory. ``positions`` [F, N, 3] Å, ``cells`` [F, 3, 3] (rows = lattice vectors).

    Each step between consecutive frames is taken at its minimum image (fractional coordinates
    rounded to the nearest integer), then the steps are summed. That is only right while the true
    steps are much shorter than the cell: a minimum-image step longer than a quarter of the
    cell's narrowest width (LiPS20: at most a tenth) means frames too far apart to tell which
    image an atom went to, and raises :class:`MalformedDataError`."""
    pos = np.asarray(positions, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    if len(pos) < 2:
        return np.zeros(len(pos))
    step = pos[1:] - pos[:-1]
    inv = np.linalg.inv(cells[1:])
    frac = np.einsum("fni,fij->fnj", step, inv)
    frac -= np.round(frac)
    step = np.einsum("fni,fij->fnj", frac, cells[1:])
    # narrowest width of each cell: volume / largest face area
    vol = np.abs(np.linalg.det(cells[1:]))
    faces = np.stack(
        [np.linalg.norm(np.cross(cells[1:, i], cells[1:, j]), axis=-1) for i, j in ((1, 2), (2, 0), (0, 1))], -1
    )
    width = vol / faces.max(-1)
    longest = np.linalg.norm(step, axis=-1).max(-1)
    bad = np.flatnonzero(longest > MAX_STEP_FRACTION * width)
    if len(bad):
        f = int(bad[0]) + 1
        raise MalformedDataError(
            f"frame {f}: an atom moves {longest[f - 1]:.2f} Å since the previous frame (minimum image), more than "
            f"{MAX_STEP_FRACTION} of the cell width ({width[f - 1]:.2f} Å): the trajectory cannot be unwrapped reliably"
        )
    unwrapped = np.concatenate([np.zeros_like(pos[:1]), np.cumsum(step, axis=0)])
    return np.linalg.norm(unwrapped, axis=-1).mean(-1)


def crystalline_prefix(displacement: np.ndarray, threshold: float) -> int:
    """Number of leading frames whose mean displacement stays below ``threshold``."""
    over = np.flatnonzero(np.asarray(displacement) >= threshold)
    return int(over[0]) if len(over) else len(displacement)


def _stable_seed(*parts: Any) -> list[int]:
    return [zlib.crc32(str(p).encode()) for p in parts]


class LiPS20Dataset(DatasetSpec):
    """A multi-system dataset over LiPS20 DeePMD folders with derived splits (see module doc)."""

    # the keys this class reads besides core's (any other is refused as a misspelling)
    TABLE_KEYS = DatasetSpec.TABLE_KEYS | {"kind", "selection", "systems"}
    SPLIT_KEYS = DatasetSpec.SPLIT_KEYS | {"kind", "part", "from"}

    def __init__(self, name: str, table: dict[str, Any], registry: Registry, plugin: str = ""):
        origin = dataset_origin(registry, name)
        super().__init__(**spec_kwargs(name, table, plugin, origin, type(self)))
        where = f"{origin}: [datasets.{name}]"
        self._table = table
        self._registry = registry
        if isinstance(table.get("selection"), dict):
            checks.check_keys(origin, f"datasets.{name}", table["selection"], SELECTION_KEYS, "selection")
        for s, t in (table.get("systems") or {}).items():
            if isinstance(t, dict):
                checks.check_keys(origin, f"datasets.{name}.systems.{s}", t, SYSTEM_KEYS)
        try:
            sel = dict(table["selection"])
            self.threshold = float(sel["crystalline_below_A"])
            self.seed = int(sel["seed"])
            self.per_system = [int(x) for x in sel.get("per_system", [])]
            self.test_last = int(sel.get("test_last", 0))
            self.buffer = int(sel.get("buffer", 0))
            self.frames_per_system = int(sel["frames_per_system"])
            self.systems = {
                s: System(
                    name=s,
                    folder=t["folder"],
                    formula=t["formula"],
                    atoms=int(t["atoms"]),
                    role=t["role"],
                    start=t.get("start", "crystal"),
                )
                for s, t in table["systems"].items()
            }
        except KeyError as exc:
            raise RegistryError(f"{where} lacks {exc}") from None
        for split, t in table["splits"].items():
            if t.get("kind") not in KINDS:
                raise RegistryError(
                    f"{where} split {split!r}: kind must be one of {sorted(KINDS)}, not {t.get('kind')!r}"
                )
            if t["kind"] == "all" and not self._systems_of(split):
                raise RegistryError(f"{where} split {split!r}: no system has role {t.get('from')!r}")
        for s in self.systems.values():
            try:  # fail at registration if a folder has no registry files, or unreadable ones
                entries = registry.under(s.folder)
            except RegistryError:
                raise RegistryError(f"{where} system {s.name!r}: folder {s.folder!r} has no registry files") from None
            for e in entries:
                check_read_file(registry, e.name, f"dataset {name}", READERS)
        self._frames: dict[str, Frames] = {}
        self._displacement: dict[str, np.ndarray] = {}

    # -- systems -------------------------------------------------------------------------------
    def _systems_of(self, split: str) -> list[System]:
        t = self._table["splits"][split]
        role = t.get("from", "train")
        return [s for s in self.systems.values() if s.role == role]

    def _split_systems(self) -> dict[str, list[System]]:
        return {split: self._systems_of(split) for split in self.splits}

    def system_names(self, role: str | None = None) -> list[str]:
        return [s.name for s in self.systems.values() if role is None or s.role == role]

    def file_names(self, systems=None) -> list[str]:
        systems = self.systems.values() if systems is None else systems
        return sorted({e.name for s in systems for e in self._registry.under(s.folder)})

    def load_system(self, name: str) -> Frames:
        """All frames of one system (verified files), with ``info`` system / frame / crystalline."""
        if name not in self._frames:
            s = self.systems[name]
            names = self.file_names([s])
            first = self._registry.entry(names[0])
            # the verified copies of the folder's registry files, and only those (DataUnavailableError
            # names a missing file; a set.* folder the registry does not declare is not read)
            files = folder_files(self._registry, s.folder, names)
            frames = read_folder(data_dir() / s.folder, first.format, files, **units_kwargs(first.units))
            frames = enforce_periodicity(frames, self.periodic, f"{self.name}/{name}")
            n_expect = self.frames_per_system
            if len(frames) != n_expect or (frames.n_atoms != s.atoms).any():
                raise MalformedDataError(
                    f"{self.name}/{name}: {len(frames)} frames of {set(frames.n_atoms.tolist())} atoms, "
                    f"expected {n_expect} of {s.atoms}"
                )
            cryst = np.zeros(len(frames), bool)
            if s.start == "crystal":
                cryst[: crystalline_prefix(self.displacement(name, frames), self.threshold)] = True
            frames.info.update(system=np.full(len(frames), name), frame=np.arange(len(frames)), crystalline=cryst)
            self._frames[name] = frames
        return self._frames[name]

    def displacement(self, name: str, frames: Frames | None = None) -> np.ndarray:
        """Mean displacement (Å) from the first frame, per frame, of system ``name``."""
        if name not in self._displacement:
            frames = frames if frames is not None else self.load_system(name)
            n = self.systems[name].atoms
            try:
                self._displacement[name] = unwrapped_displacement(
                    frames.positions.reshape(len(frames), n, 3), frames.cell
                )
            except MalformedDataError as exc:
                raise MalformedDataError(f"{self.name}/{name}: {exc}") from None
        return self._displacement[name]

    def crystalline_count(self, name: str) -> int:
        return int(self.load_system(name).info["crystalline"].sum())

    # -- splits --------------------------------------------------------------------------------
    def _indices(self, split: str, s: System) -> np.ndarray:
        t = self._table["splits"][split]
        kind = t["kind"]
        n = self.frames_per_system
        if kind == "all":
            return np.arange(n)
        k = self.crystalline_count(s.name) if s.start == "crystal" else 0
        if kind == "crystalline":
            return np.arange(k)
        tail = n - self.test_last
        if k >= tail - self.buffer:
            raise MalformedDataError(
                f"{self.name}/{s.name}: {k} crystalline frames leave no disordered frame before the "
                f"held-out tail (frames {tail}-{n - 1})"
            )
        if kind == "disordered-holdout":
            return np.arange(tail, n)
        pool = np.arange(k, tail - self.buffer)
        need = sum(self.per_system)
        if need > len(pool):
            raise MalformedDataError(f"{self.name}/{s.name}: {len(pool)} disordered frames available, {need} needed")
        perm = np.random.default_rng(_stable_seed(self.seed, s.name)).permutation(pool)
        part = int(t["part"])
        start = sum(self.per_system[:part])
        return np.sort(perm[start : start + self.per_system[part]])

    def _load(self, split: str) -> Frames:
        parts = []
        for s in self._systems_of(split):
            idx = self._indices(split, s)
            if len(idx):
                parts.append(self.load_system(s.name).subset(idx))
        if not parts:
            raise MalformedDataError(f"{self.name}/{split}: no frames")
        frames = Frames.concatenate(parts, source=f"{self.name}/{split}")
        order = np.random.default_rng(_stable_seed(self.seed, split)).permutation(len(frames))
        out = frames.subset(order)
        out.source = f"{self.name}/{split} ({len(parts)} systems)"
        return out

    def breakdown(self) -> dict[str, dict[str, Any]]:
        """Per system: role, atoms, crystalline frames (egbench's prefix rule and the literal
        count below the threshold), final mean displacement, and frames in each split."""
        out = {}
        for s in self.systems.values():
            row: dict[str, Any] = {"formula": s.formula, "atoms": s.atoms, "role": s.role, "start": s.start}
            if s.start == "crystal":
                d = self.displacement(s.name)
                row.update(
                    crystalline=self.crystalline_count(s.name),
                    below_threshold=int((d < self.threshold).sum()),
                    final_displacement_A=round(float(d[-1]), 3),
                )
            for split in self.splits:
                if s in self._systems_of(split):
                    row[split] = len(self._indices(split, s))
            out[s.name] = row
        return out

    # -- availability and identity -------------------------------------------------------------
    def unavailable_reason(self, splits=None) -> str | None:
        wanted = (
            self._split_systems()
            if splits is None
            else {k: v for k, v in self._split_systems().items() if k in set(splits)}
        )
        used = {s.name: s for ss in wanted.values() for s in ss}.values()
        return missing_files_reason(self._registry, self.file_names(used))

    def fetch(self) -> list[Path]:
        return [self._registry.fetch(n) for n in self.file_names()]

    def fingerprint(self) -> dict[str, str]:
        """Per file its checksum, format and units; the split definition; the other numeric values."""
        fp = {n: file_fingerprint(e, e.format) for n in self.file_names() for e in [self._registry.entry(n)]}
        fp["splits"] = stable_hash(
            {
                "algorithm": ALGORITHM_VERSION,
                "selection": self._table["selection"],
                "splits": self._table["splits"],
                "systems": {k: dict(v) for k, v in self._table["systems"].items()},
            }
        )
        fp["dataset"] = table_fingerprint(self._table)
        return fp
