"""Readers (extended XYZ, the npz layout of the paper's release, DeePMD ``set.*/*.npy``) -> Frames.

``Frames`` holds plain arrays in egbench units (Å, eV, eV/Å): no ASE calculators attached, so
reference labels never mix with model predictions. A malformed file raises
:class:`MalformedDataError` naming the file and the frame.

Every reader records where each frame comes from: ``info["file_frame"]`` (its index in its file)
and, once frames of several files are concatenated, ``info["file"]`` (the file of each frame).
Both travel through :meth:`Frames.subset` and :meth:`Frames.concatenate`, so an error about frame
5 of a split names frame 10 of the file it came from (:meth:`Frames.frame_label`).
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egbench_core.units import energy_factor, force_factor, length_factor

log = logging.getLogger(__name__)


class MalformedDataError(ValueError):
    """A data file could not be read; the message names the file and the frame."""


@dataclass
class Frames:
    """A set of structures, concatenated.

    positions [ΣN, 3] Å · numbers [ΣN] · n_atoms [F] · cell [F, 3, 3] Å (rows are lattice
    vectors; zeros for a molecule without cell) · pbc [F, 3] · energy [F] eV (NaN if unlabelled)
    · forces [ΣN, 3] eV/Å (NaN if unlabelled) · info: per-frame extras (arrays of length F), among
    them ``file_frame`` (index of the frame in its file) and ``file`` (the file of each frame, when
    the frames come from several files; else ``source`` is the file).
    """

    positions: np.ndarray
    numbers: np.ndarray
    n_atoms: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    energy: np.ndarray
    forces: np.ndarray
    info: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        self.numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        self.n_atoms = np.asarray(self.n_atoms, dtype=np.int64).reshape(-1)
        self.cell = np.asarray(self.cell, dtype=np.float64).reshape(-1, 3, 3)
        self.pbc = np.asarray(self.pbc, dtype=bool).reshape(-1, 3)
        self.energy = np.asarray(self.energy, dtype=np.float64).reshape(-1)
        self.forces = np.asarray(self.forces, dtype=np.float64).reshape(-1, 3)
        f, n = len(self.n_atoms), int(self.n_atoms.sum())
        shapes = {
            "positions": (self.positions.shape[0], n),
            "numbers": (self.numbers.shape[0], n),
            "forces": (self.forces.shape[0], n),
            "cell": (self.cell.shape[0], f),
            "pbc": (self.pbc.shape[0], f),
            "energy": (self.energy.shape[0], f),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise MalformedDataError(f"{self.source or 'frames'}: {name} has {got} rows, expected {want}")
        self._offsets = np.concatenate([[0], np.cumsum(self.n_atoms)])

    # -- access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.n_atoms)

    @property
    def offsets(self) -> np.ndarray:
        return self._offsets

    def atoms_slice(self, i: int) -> slice:
        return slice(int(self._offsets[i]), int(self._offsets[i + 1]))

    @property
    def elements(self) -> list[int]:
        return sorted(set(int(z) for z in np.unique(self.numbers)))

    @property
    def has_labels(self) -> bool:
        return bool(np.isfinite(self.energy).all() and np.isfinite(self.forces).all())

    def subset(self, index: Sequence[int] | np.ndarray) -> Frames:
        index = np.asarray(index, dtype=np.int64)
        atom_idx = (
            np.concatenate([np.arange(self._offsets[i], self._offsets[i + 1]) for i in index])
            if len(index)
            else np.zeros(0, np.int64)
        )
        return Frames(
            positions=self.positions[atom_idx],
            numbers=self.numbers[atom_idx],
            n_atoms=self.n_atoms[index],
            cell=self.cell[index],
            pbc=self.pbc[index],
            energy=self.energy[index],
            forces=self.forces[atom_idx],
            info={k: np.asarray(v)[index] for k, v in self.info.items()},
            source=self.source,
        )

    def to_atoms(self, i: int):
        """Frame ``i`` as :class:`ase.Atoms` (no calculator attached)."""
        from ase import Atoms

        s = self.atoms_slice(i)
        return Atoms(numbers=self.numbers[s], positions=self.positions[s], cell=self.cell[i], pbc=self.pbc[i])

    @classmethod
    def concatenate(cls, parts: Sequence[Frames], source: str = "") -> Frames:
        if not parts:
            raise ValueError("cannot concatenate zero Frames")
        keys = set.intersection(*(set(p.info) for p in parts)) - {"file"}
        info = {k: np.concatenate([np.asarray(p.info[k]) for p in parts]) for k in keys}
        if any("file" in p.info for p in parts) or len({p.source for p in parts}) > 1:
            info["file"] = np.concatenate(
                [
                    np.asarray(p.info["file"], dtype=str) if "file" in p.info else np.full(len(p), p.source)
                    for p in parts
                ]
            ).astype(str)
        return cls(
            positions=np.concatenate([p.positions for p in parts]),
            numbers=np.concatenate([p.numbers for p in parts]),
            n_atoms=np.concatenate([p.n_atoms for p in parts]),
            cell=np.concatenate([p.cell for p in parts]),
            pbc=np.concatenate([p.pbc for p in parts]),
            energy=np.concatenate([p.energy for p in parts]),
            forces=np.concatenate([p.forces for p in parts]),
            info=info,
            source=source or "+".join(dict.fromkeys(p.source for p in parts)),
        )

    @classmethod
    def from_atoms(cls, atoms_list: Iterable, energies=None, forces=None, source: str = "") -> Frames:
        atoms_list = list(atoms_list)
        nf = len(atoms_list)
        n = [len(a) for a in atoms_list]
        e = np.full(nf, np.nan) if energies is None else np.asarray(energies, dtype=np.float64)
        f = np.full((sum(n), 3), np.nan) if forces is None else np.concatenate([np.asarray(x) for x in forces])
        return cls(
            positions=np.concatenate([a.get_positions() for a in atoms_list]),
            numbers=np.concatenate([a.numbers for a in atoms_list]),
            n_atoms=np.asarray(n),
            cell=np.stack([a.cell.array for a in atoms_list]),
            pbc=np.stack([a.pbc for a in atoms_list]),
            energy=e,
            forces=f,
            source=source,
        )

    def frame_label(self, i: int, where: str = "") -> str:
        """``<file>: frame 10 of the file (frame 5 of <where>)`` for frame ``i`` of these frames."""
        file = str(self.info["file"][i]) if "file" in self.info else self.source
        here = f"frame {i} of {where}" if where else f"frame {i} here"
        if "file_frame" not in self.info:
            return f"{file}: {here}"
        return f"{file}: frame {int(self.info['file_frame'][i])} of the file ({here})"

    def check_finite(self, where: str = "") -> None:
        """Raise if a labelled frame carries a NaN/inf energy or force, naming the frame by its index
        in its file and here (``where``, e.g. ``split test of dataset acac``)."""
        bad_e = np.flatnonzero(~np.isfinite(self.energy))
        if len(bad_e):
            i = int(bad_e[0])
            raise MalformedDataError(f"{self.frame_label(i, where)} has a non-finite energy ({self.energy[i]})")
        bad_f = np.flatnonzero(~np.isfinite(self.forces).all(axis=1))
        if len(bad_f):
            frame = int(np.searchsorted(self._offsets, bad_f[0], side="right") - 1)
            raise MalformedDataError(
                f"{self.frame_label(frame, where)} has non-finite forces (atom {int(bad_f[0] - self._offsets[frame])})"
            )
        bad_x = np.flatnonzero(~np.isfinite(self.positions).all(axis=1))
        if len(bad_x):
            frame = int(np.searchsorted(self._offsets, bad_x[0], side="right") - 1)
            raise MalformedDataError(
                f"{self.frame_label(frame, where)} has non-finite positions "
                f"(atom {int(bad_x[0] - self._offsets[frame])})"
            )


# --------------------------------------------------------------------------------------
# Readers. Each takes a path and unit names, returns Frames in eV / Å / eV/Å.
# --------------------------------------------------------------------------------------
def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def read_extxyz(
    path: Path,
    energy_unit: str = "eV",
    force_unit: str = "eV/Å",
    length_unit: str = "Å",
    energy_key: str = "energy",
    forces_key: str = "forces",
) -> Frames:
    """Extended XYZ (plain or .gz). The comment line is parsed with ASE's extxyz key=value parser;
    the atom lines are read here so that an error names the exact frame and line."""
    from ase.io.extxyz import key_val_str_to_dict

    path = Path(path)
    ef, ff, lf = energy_factor(energy_unit), force_factor(force_unit), length_factor(length_unit)
    pos, num, nat, cells, pbcs, ens, frc = [], [], [], [], [], [], []
    info: dict[str, list] = {}
    with _open_text(path) as fh:
        lines = fh.read().splitlines()
    i, frame = 0, 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        where = f"{path}: frame {frame} (line {i + 1})"
        try:
            n = int(lines[i].strip())
        except ValueError:
            raise MalformedDataError(f"{where}: expected the atom count, found {lines[i][:60]!r}") from None
        if i + 2 + n > len(lines):
            raise MalformedDataError(f"{where}: file ends after {len(lines) - i - 2} of {n} atom lines")
        try:
            kv = key_val_str_to_dict(lines[i + 1])
        except Exception as exc:  # noqa: BLE001 - ASE raises several types
            raise MalformedDataError(f"{where}: cannot parse the comment line: {exc}") from None
        cols, col = _extxyz_columns(kv, where)
        rows = [ln.split() for ln in lines[i + 2 : i + 2 + n]]
        bad = [k for k, r in enumerate(rows) if len(r) != col]
        if bad:
            raise MalformedDataError(f"{where}: atom line {bad[0] + 1} has {len(rows[bad[0]])} columns, expected {col}")
        numbers, positions, forces = _extxyz_atoms(rows, n, cols, forces_key, lf, ff, where)
        num.append(numbers)
        pos.append(positions)
        frc.append(forces)
        lattice = kv.get("Lattice")
        cells.append(np.zeros((3, 3)) if lattice is None else np.asarray(lattice, dtype=float).reshape(3, 3) * lf)
        pbc = kv.get("pbc", [lattice is not None] * 3)
        pbcs.append(np.asarray(pbc, dtype=bool).reshape(3))
        e = kv.get(energy_key)
        ens.append(float(e) * ef if e is not None else np.nan)
        for key in ("config_type",):
            if key in kv:
                info.setdefault(key, []).append(str(kv[key]))
        nat.append(n)
        frame += 1
        i += 2 + n
    if not nat:
        raise MalformedDataError(f"{path}: no frames found")
    infos = {k: np.asarray(v) for k, v in info.items() if len(v) == len(nat)}
    infos["file_frame"] = np.arange(len(nat))
    return Frames(
        np.concatenate(pos),
        np.concatenate(num),
        np.asarray(nat),
        np.stack(cells),
        np.stack(pbcs),
        np.asarray(ens),
        np.concatenate(frc),
        info=infos,
        source=str(path),
    )


def _extxyz_columns(kv: dict, where: str) -> tuple[dict[str, tuple[int, int, str]], int]:
    """The atom-line columns the comment line's ``Properties`` declares (name -> first column,
    count, kind) and how many there are; ``species`` and ``pos`` must be among them."""
    props = str(kv.get("Properties", "species:S:1:pos:R:3")).split(":")
    cols, col = {}, 0
    for name, kind, count in zip(props[0::3], props[1::3], props[2::3]):
        cols[name] = (col, int(count), kind)
        col += int(count)
    if "species" not in cols or "pos" not in cols:
        raise MalformedDataError(f"{where}: Properties lacks species or pos: {kv.get('Properties')}")
    return cols, col


def _extxyz_atoms(
    rows: list[list[str]],
    n: int,
    cols: dict[str, tuple[int, int, str]],
    forces_key: str,
    lf: float,
    ff: float,
    where: str,
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """One frame's ``n`` atom lines (split) -> atomic numbers, positions (Å) and forces (eV/Å; NaN
    without a ``forces_key`` column)."""
    from ase.data import atomic_numbers as z_of

    try:
        s0 = cols["species"][0]
        numbers = [z_of[r[s0]] for r in rows]
        p0 = cols["pos"][0]
        positions = np.array([[float(x) for x in r[p0 : p0 + 3]] for r in rows]) * lf
        if forces_key in cols:
            f0 = cols[forces_key][0]
            forces = np.array([[float(x) for x in r[f0 : f0 + 3]] for r in rows]) * ff
        else:
            forces = np.full((n, 3), np.nan)
    except (KeyError, ValueError) as exc:
        raise MalformedDataError(f"{where}: bad atom line value: {exc}") from None
    return numbers, positions, forces


def read_nequip_npz(path: Path, energy_unit: str = "eV", force_unit: str = "eV/Å", length_unit: str = "Å") -> Frames:
    """The npz layout of the EGraFFBench release: pos [F,N,3], energy [F] or [F,1], forces [F,N,3],
    atomic_numbers [N] or [F,N], cell [3,3] or [F,3,3], pbc [3] or [F,3]."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001
        raise MalformedDataError(f"{path}: not a readable npz file: {exc}") from None
    missing = {"pos", "atomic_numbers"} - set(d)
    if missing:
        raise MalformedDataError(f"{path}: npz lacks keys {sorted(missing)} (has {sorted(d)})")
    pos = np.asarray(d["pos"], dtype=np.float64)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise MalformedDataError(f"{path}: 'pos' has shape {pos.shape}, expected [frames, atoms, 3]")
    nf, n = pos.shape[:2]
    numbers = np.asarray(d["atomic_numbers"])
    z = numbers.reshape(-1, n) if numbers.size != n else np.tile(numbers.reshape(1, n), (nf, 1))
    if z.shape != (nf, n):
        raise MalformedDataError(
            f"{path}: 'atomic_numbers' has shape {np.shape(d['atomic_numbers'])}, expected [{n}] or [{nf},{n}]"
        )
    cell_in = np.asarray(d.get("cell", np.zeros((3, 3))), dtype=np.float64)
    cell = np.broadcast_to(cell_in.reshape(-1, 3, 3), (nf, 3, 3)) if cell_in.size in (9, nf * 9) else None
    if cell is None:
        raise MalformedDataError(f"{path}: 'cell' has shape {np.shape(d['cell'])}, expected [3,3] or [{nf},3,3]")
    pbc = np.broadcast_to(np.asarray(d.get("pbc", np.zeros(3, bool)), dtype=bool).reshape(-1, 3), (nf, 3))
    energy = np.asarray(d["energy"], dtype=np.float64).reshape(-1) if "energy" in d else np.full(nf, np.nan)
    forces = np.asarray(d["forces"], dtype=np.float64) if "forces" in d else np.full((nf, n, 3), np.nan)
    if energy.shape != (nf,) or forces.shape != (nf, n, 3):
        raise MalformedDataError(
            f"{path}: energy {energy.shape} / forces {forces.shape} do not match {nf} frames of {n} atoms"
        )
    lf = length_factor(length_unit)
    return Frames(
        pos.reshape(-1, 3) * lf,
        z.reshape(-1),
        np.full(nf, n),
        cell * lf,
        pbc,
        energy * energy_factor(energy_unit),
        forces.reshape(-1, 3) * force_factor(force_unit),
        info={"file_frame": np.arange(nf)},
        source=str(path),
    )


class _DeepmdFiles:
    """The files of a DeePMD folder: ``files`` (its declared files, by path inside ``folder``) or,
    without them, the folder as it lies."""

    def __init__(self, folder: Path, files: Mapping[str, Path] | None):
        self.folder, self.files = folder, files

    def find(self, rel: str) -> Path | None:
        if self.files is not None:
            return self.files.get(rel)
        path = self.folder / rel
        return path if path.exists() else None

    def need(self, rel: str) -> Path:
        path = self.find(rel)
        if path is not None:
            return path
        if self.files is not None:
            raise MalformedDataError(
                f"{self.folder / rel}: not among the files the registry declares for the DeePMD folder {self.folder} "
                "(egbench reads only declared files, each verified against its checksum)"
            )
        raise MalformedDataError(f"{self.folder / rel}: missing (needed for labelled frames)")


def _deepmd_set(
    found: _DeepmdFiles,
    set_name: str,
    z: np.ndarray,
    require_forces: bool,
    energy_unit: str,
    force_unit: str,
    length_unit: str,
) -> Frames:
    """The frames of one ``set.*`` folder (``z``: the atomic numbers of every frame's atoms)."""
    n = len(z)
    box, coord, energy = (np.load(found.need(f"{set_name}/{k}.npy")) for k in ("box", "coord", "energy"))
    force_path = found.need(f"{set_name}/force.npy") if require_forces else found.find(f"{set_name}/force.npy")
    force = None if force_path is None else np.load(force_path)
    nf = len(energy)
    where = f"{found.folder / set_name}"
    if box.reshape(-1).size != nf * 9 or coord.reshape(-1).size != nf * n * 3:
        raise MalformedDataError(
            f"{where}: box {box.shape} / coord {coord.shape} do not match {nf} frames of {n} atoms"
        )
    lf = length_factor(length_unit)
    forces = force.reshape(nf * n, 3) * force_factor(force_unit) if force is not None else np.full((nf * n, 3), np.nan)
    return Frames(
        coord.reshape(nf * n, 3) * lf,
        np.tile(z, nf),
        np.full(nf, n),
        box.reshape(nf, 3, 3) * lf,
        np.ones((nf, 3), bool),
        energy.reshape(-1) * energy_factor(energy_unit),
        forces,
        info={"file_frame": np.arange(nf)},
        source=where,
    )


def read_deepmd(
    folder: Path,
    energy_unit: str = "eV",
    force_unit: str = "eV/Å",
    length_unit: str = "Å",
    require_forces: bool = True,
    files: Mapping[str, Path] | None = None,
) -> Frames:
    """DeePMD raw/npy layout: ``type.raw``, ``type_map.raw``, ``set.*/{box,coord,energy,force}.npy``.

    ``files``: the only files that may be read, by their path inside ``folder`` (``"type.raw"``,
    ``"set.000/box.npy"``) to the (verified) copy to read; a registry folder passes the files its
    registry declares. The sets are then those its files name: a ``set.*`` folder on disk that
    none names is left out (a warning names it), and a file a set needs that is not among
    ``files`` is refused in one line naming it. Without ``files`` the folder is read as it lies."""
    from ase.data import atomic_numbers as z_of

    folder = Path(folder)
    found = _DeepmdFiles(folder, files)
    type_raw, type_map_raw = found.need("type.raw"), found.need("type_map.raw")
    try:
        types = np.loadtxt(type_raw, dtype=np.int64).reshape(-1)
        type_map = type_map_raw.read_text().split()
    except (OSError, ValueError) as exc:
        raise MalformedDataError(f"{folder}: cannot read type.raw / type_map.raw: {exc}") from None
    if types.size and types.max() >= len(type_map):
        raise MalformedDataError(
            f"{folder}/type.raw: species index {types.max()} but type_map.raw has {len(type_map)} names"
        )
    z = np.array([z_of[type_map[t]] for t in types], dtype=np.int64)
    on_disk = sorted(p.name for p in folder.glob("set.*") if p.is_dir())
    if files is None:
        sets = on_disk
    else:
        sets = sorted({rel.split("/", 1)[0] for rel in files if rel.startswith("set.") and "/" in rel})
        for stray in sorted(set(on_disk) - set(sets)):
            log.warning("%s is not declared in the registry (no declared file lies in it): not read", folder / stray)
    parts = [_deepmd_set(found, set_name, z, require_forces, energy_unit, force_unit, length_unit) for set_name in sets]
    if not parts:
        raise MalformedDataError(
            f"{folder}: no set.* folders" + (" among its declared files" if files is not None else "")
        )
    frames = Frames.concatenate(parts, source=str(folder))
    if len(parts) == 1:  # one set: the frame's file is the set folder
        frames.info["file"] = np.full(len(frames), parts[0].source)
    return frames


_FIELDS = ("positions", "numbers", "n_atoms", "cell", "pbc", "energy", "forces")


def save_frames(path: Path, named: dict[str, Frames]) -> None:
    """Several named Frames in one npz (written atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{name}/{k}": getattr(f, k) for name, f in named.items() for k in _FIELDS}
    tmp = path.with_name(path.name + ".part.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_frames(path: Path) -> dict[str, Frames]:
    with np.load(path) as z:
        names = sorted({k.rsplit("/", 1)[0] for k in z.files})
        return {n: Frames(**{k: z[f"{n}/{k}"] for k in _FIELDS}, source=f"{path}:{n}") for n in names}


READERS: dict[str, Callable[..., Frames]] = {
    "extxyz": read_extxyz,
    "nequip-npz": read_nequip_npz,
    "deepmd": read_deepmd,
}


def read_frames(path: Path, fmt: str, **units) -> Frames:
    try:
        reader = READERS[fmt]
    except KeyError:
        raise ValueError(f"{path}: unknown format {fmt!r}; egbench reads {sorted(READERS)}") from None
    frames = reader(Path(path), **units)
    log.debug("read %d frames from %s", len(frames), path)
    return frames


FOLDER_READERS = {"deepmd"}  # formats whose data is a folder of files (their reader takes ``files``)


def read_folder(folder: Path, fmt: str, files: Mapping[str, Path], **units) -> Frames:
    """Frames of a registry folder in format ``fmt``, read from ``files`` only (its declared files,
    by path inside the folder, to their verified copies; see :func:`read_deepmd`)."""
    if fmt not in FOLDER_READERS:
        raise ValueError(f"{folder}: format {fmt!r} does not read a folder; folder formats: {sorted(FOLDER_READERS)}")
    frames = READERS[fmt](Path(folder), files=files, **units)
    log.debug("read %d frames from %s", len(frames), folder)
    return frames


def write_extxyz(
    fh: io.TextIOBase, atoms, energy: float | None, forces: np.ndarray | None, info: dict | None = None
) -> None:
    """One frame of extended XYZ with energy and forces written as plain keys (no calculator)."""
    lat = " ".join(f"{x:.8f}" for x in atoms.cell.array.reshape(-1))
    props = "species:S:1:pos:R:3" + (":forces:R:3" if forces is not None else "")
    extra = "".join(f" {k}={v}" for k, v in (info or {}).items())
    e = f" energy={energy:.10f}" if energy is not None else ""
    pbc = " ".join("T" if p else "F" for p in atoms.pbc)
    fh.write(f'{len(atoms)}\nLattice="{lat}" Properties={props}{e}{extra} pbc="{pbc}"\n')
    pos = atoms.positions
    sym = atoms.get_chemical_symbols()
    for k in range(len(atoms)):
        row = f"{sym[k]} {pos[k, 0]:.8f} {pos[k, 1]:.8f} {pos[k, 2]:.8f}"
        if forces is not None:
            row += f" {forces[k, 0]:.8f} {forces[k, 1]:.8f} {forces[k, 2]:.8f}"
        fh.write(row + "\n")
