"""Dataset specs: what a dataset is (splits, elements, MD conditions) and how its frames load.

Two kinds, both registered through ``register_datasets``:

* :class:`RegistryDataset` — declared in ``datasets_registry.toml`` (files, splits, conditions);
* :class:`GeneratedDataset` — made on the fly by a seeded generator (e.g. EMT molecular
  dynamics), cached in the data folder beside a sha256 sidecar, with a reference calculator that
  can serve as oracle.

Registry values are range-checked when a dataset is made (``registry_checks``): a bad table
raises :class:`RegistryError` naming the registry file, the table, the key and the value, and
:func:`register_tables` registers it as broken while the plugin's other datasets work. So is a
key that the dataset's class does not read: each class declares the keys it reads
(:attr:`DatasetSpec.TABLE_KEYS` for ``[datasets.<id>]``, :attr:`DatasetSpec.SPLIT_KEYS` for its
splits, extended by subclasses), and any other key is refused as a misspelling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from egbench_core.data import registry_checks as checks
from egbench_core.data.isolated_atoms import energies_from_frames, inline_energies
from egbench_core.data.readers import (
    READERS,
    Frames,
    MalformedDataError,
    load_frames,
    read_folder,
    read_frames,
    save_frames,
)
from egbench_core.data.registry import FileEntry, Registry, RegistryError, cache_error, data_dir, writable_folder
from egbench_core.data.sidecar import sidecar_problem, write_sidecar
from egbench_core.interfaces import check_id, stable_hash

log = logging.getLogger(__name__)

SPEC_KEYS = {
    "splits",
    "elements",
    "periodic",
    "temperature_K",
    "timestep_fs",
    "friction_per_ps",
    "description",
    "citation",
    "licence",
    "tags",
}
DESCRIPTIVE_KEYS = {"description", "citation", "licence", "tags", "plugin"}  # change no number
# what every dataset table may hold: DatasetSpec's fields, the registering plugin, and what tasks and
# oracles read from ``extra`` (a training dataset, the oracle declaration or why there is none)
BASE_TABLE_KEYS = frozenset(SPEC_KEYS | {"plugin", "train_dataset", "oracle", "oracle_unavailable"})
BASE_SPLIT_KEYS = frozenset({"frames", "temperature_K", "contiguous", "frame_spacing_fs", "tags", "train_dataset"})


@dataclass(frozen=True)
class SplitInfo:
    name: str
    frames: int | None = None  # expected number of frames (checked on load)
    temperature_K: float | None = None
    contiguous: bool = False  # a time-contiguous trajectory
    frame_spacing_fs: float | None = None  # time between consecutive frames, if contiguous
    tags: tuple[str, ...] = ()
    train_dataset: str | None = None  # an OOD task evaluating this split trains there (else the dataset's own)


@dataclass
class DatasetSpec:
    """Base class. Subclasses implement :meth:`_load` and :meth:`fingerprint`.

    A class made from a registry table declares the keys it reads: ``TABLE_KEYS`` (of
    ``[datasets.<id>]``) and ``SPLIT_KEYS`` (of each split), extending these; any other key of its
    table is refused (``registry_checks.check_table_keys``), naming the nearest valid key."""

    TABLE_KEYS: ClassVar[frozenset[str]] = BASE_TABLE_KEYS
    SPLIT_KEYS: ClassVar[frozenset[str]] = BASE_SPLIT_KEYS

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

    def oracle_declaration(self) -> dict[str, Any] | None:
        """The dataset's ``[oracle]`` table: oracle plugin, level of theory, settings (see
        :mod:`egbench_core.run.oracles`), or None."""
        decl = self.extra.get("oracle")
        return dict(decl) if isinstance(decl, dict) else None

    def load(self, split: str) -> Frames:
        if split not in self.splits:
            raise KeyError(f"dataset {self.name!r} has no split {split!r}; it has {sorted(self.splits)}")
        frames = self._load(split)
        info = self.splits[split]
        if info.frames is not None and len(frames) != info.frames:
            raise MalformedDataError(
                f"dataset {self.name!r} split {split!r}: {len(frames)} frames from {frames.source}, "
                f"expected {info.frames}"
            )
        frames.check_finite(f"split {split} of dataset {self.name}")
        return frames

    def isolated_atom_energies(self) -> dict[int, float] | None:
        """Isolated-atom reference energies ``{Z: eV}`` covering every element, or None where the
        dataset declares none (docs/protocol.md, "Reference energies")."""
        return None

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
    (a seeded permutation cut into consecutive blocks; ``part`` picks one block), and a
    ``format`` overriding the files'. Isolated-atom energies: ``isolated_atoms = "<file id>"`` or
    ``isolated_atom_energies = { H = ..., ... }`` (eV; see ``data/isolated_atoms.py``).
    """

    TABLE_KEYS = DatasetSpec.TABLE_KEYS | {"isolated_atoms", "isolated_atom_energies"}
    SPLIT_KEYS = DatasetSpec.SPLIT_KEYS | {"file", "files", "folder", "format", "select"}

    def __init__(self, name: str, table: dict[str, Any], registry: Registry, plugin: str = "core"):
        origin = dataset_origin(registry, name)
        super().__init__(**spec_kwargs(name, table, plugin, origin, type(self)))
        self._table = table
        self._registry = registry
        self._origin = origin
        self._e0: dict[int, float] | None = None
        for s in self.splits:  # fail at registration if a split names an unknown or unreadable file
            for n in self._files_of(s):
                check_read_file(registry, n, f"dataset {name}", None if "format" in table["splits"][s] else READERS)
        where = f"datasets.{name}"
        if "isolated_atoms" in table and "isolated_atom_energies" in table:
            raise checks.bad(
                origin,
                where,
                "isolated_atoms",
                table["isolated_atoms"],
                "either isolated_atoms (a file id) or isolated_atom_energies (a table), not both",
            )
        if "isolated_atom_energies" in table:
            self._e0 = inline_energies(table["isolated_atom_energies"], self.elements, origin, where)
        if "isolated_atoms" in table:
            iso = table["isolated_atoms"]
            if not isinstance(iso, str) or iso not in registry.files:
                raise checks.bad(
                    origin, where, "isolated_atoms", iso, 'the id of a [files."..."] entry of the registry'
                )
            check_read_file(registry, iso, f"dataset {name}", READERS)

    def _split_table(self, split: str) -> dict[str, Any]:
        return self._table["splits"][split]

    def _files_of(self, split: str) -> list[str]:
        t = self._split_table(split)
        where = f"datasets.{self.name}.splits.{split}"
        if "folder" in t:
            try:
                return [e.name for e in self._registry.under(t["folder"])]
            except RegistryError:
                raise checks.bad(
                    self._origin, where, "folder", t["folder"], "a folder with registry files under it"
                ) from None
        names = list(t.get("files", [])) + ([t["file"]] if "file" in t else [])
        if not names:
            raise RegistryError(f"{self._origin}: [{where}] names no file, files or folder")
        for n in names:
            if n not in self._registry.files:
                raise checks.bad(
                    self._origin,
                    where,
                    "file" if n == t.get("file") else "files",
                    n,
                    'the id of a [files."..."] entry of the registry',
                )
        return names

    def _format_of(self, split: str, e: FileEntry) -> str:
        return self._split_table(split).get("format", e.format)

    def fingerprint(self) -> dict[str, str]:
        """Per file its checksum, the format it is read with and its units; the split tables; every
        dataset-level value that can change numbers (isolated-atom energies, conditions)."""
        formats: dict[str, set[str]] = {}
        for s in self.splits:
            for n in self._files_of(s):
                formats.setdefault(n, set()).add(self._format_of(s, self._registry.entry(n)))
        if "isolated_atoms" in self._table:
            iso = self._registry.entry(self._table["isolated_atoms"])
            formats.setdefault(iso.name, set()).add(iso.format)
        fp = {n: file_fingerprint(self._registry.entry(n), "+".join(sorted(f))) for n, f in sorted(formats.items())}
        fp["splits"] = stable_hash(self._table["splits"])
        fp["dataset"] = table_fingerprint(self._table)
        return fp

    def file_names(self, splits: Iterable[str] | None = None) -> list[str]:
        names = {f for s in (self.splits if splits is None else splits) for f in self._files_of(s)}
        if "isolated_atoms" in self._table:
            names.add(self._table["isolated_atoms"])
        return sorted(names)

    def unavailable_reason(self, splits: Iterable[str] | None = None) -> str | None:
        return missing_files_reason(self._registry, self.file_names(splits))

    def fetch(self) -> list[Path]:
        return [self._registry.fetch(n) for n in self.file_names()]

    def isolated_atom_energies(self) -> dict[int, float] | None:
        if self._e0 is None and "isolated_atoms" in self._table:
            e = self._registry.entry(self._table["isolated_atoms"])
            frames = read_frames(self._registry.local_path(e.name), e.format, **units_kwargs(e.units))
            self._e0 = energies_from_frames(frames, self.elements, self.name)
        return None if self._e0 is None else dict(self._e0)

    def _load(self, split: str) -> Frames:
        t = self._split_table(split)
        parts = []
        where = f"{self.name}/{split}"
        if "folder" in t:  # DeePMD layout: the registry files under the folder and nothing else
            names = self._files_of(split)
            first = self._registry.entry(names[0])
            parts.append(
                read_folder(
                    data_dir() / t["folder"],
                    self._format_of(split, first),
                    folder_files(self._registry, t["folder"], names),
                    **units_kwargs(first.units),
                )
            )
        else:
            for n in self._files_of(split):
                e = self._registry.entry(n)
                parts.append(
                    read_frames(self._registry.local_path(n), self._format_of(split, e), **units_kwargs(e.units))
                )
        frames = parts[0] if len(parts) == 1 else Frames.concatenate(parts)
        return enforce_periodicity(select_frames(frames, t.get("select"), where), self.periodic, where)


def folder_files(registry: Registry, folder: str, names: Iterable[str]) -> dict[str, Path]:
    """The verified local copy of each registry file ``names`` under ``folder``, by its path inside
    the folder: what a folder reader may read (a file in the cache folder that the registry does
    not declare is never read, since nothing verified it)."""
    prefix = folder.rstrip("/") + "/"
    return {n[len(prefix) :]: registry.local_path(n) for n in names if n.startswith(prefix)}


def dataset_origin(registry: Registry, name: str) -> str:
    """The registry file that declares ``[datasets.<name>]`` (for error messages)."""
    return registry.origins.get(f"dataset:{name}", "datasets_registry.toml")


def spec_kwargs(
    name: str,
    table: dict[str, Any],
    plugin: str,
    origin: str = "datasets_registry.toml",
    spec_class: type[DatasetSpec] | None = None,
) -> dict[str, Any]:
    """``DatasetSpec`` keyword arguments from a ``[datasets.<id>]`` registry table, range-checked
    (RegistryError naming ``origin``, the table, the key and the value); keys that DatasetSpec
    does not take land in ``extra`` (e.g. ``train_dataset``, ``estimates``). ``spec_class`` (the
    class being made): its table's keys are checked first against the ones it declares, so that
    a misspelt key is named as such (:func:`register_tables` checks them after any class too)."""
    if spec_class is not None:
        checks.check_table_keys(origin, name, table, spec_class.TABLE_KEYS, spec_class.SPLIT_KEYS)
    checks.check_dataset(name, table, origin)
    for s, t in table["splits"].items():
        checks.check_split(name, s, t, origin, READERS)
    splits = {s: split_info(s, t) for s, t in table["splits"].items()}
    return dict(
        name=name,
        splits=splits,
        elements=list(table["elements"]),
        periodic=bool(table["periodic"]),
        temperature_K=float(table["temperature_K"]),
        timestep_fs=float(table["timestep_fs"]),
        friction_per_ps=float(table.get("friction_per_ps", 0.5)),
        description=table.get("description", ""),
        citation=table.get("citation", ""),
        licence=table.get("licence", ""),
        tags=tuple(table.get("tags", ())),
        plugin=plugin,
        extra={k: v for k, v in table.items() if k not in SPEC_KEYS},
    )


def check_read_file(registry: Registry, name: str, used_by: str, formats: Iterable[str] | None) -> None:
    """Range-check the registry entry of a file that ``used_by`` reads (format if ``formats``, units)."""
    checks.check_file(registry.entry(name), registry.origins.get(f"file:{name}", "registry"), formats, used_by)


def file_fingerprint(e: FileEntry, fmt: str, units: dict[str, str] | None = None) -> str:
    """What identifies one file's numbers: checksum, the format it is read with, its units."""
    u = e.units if units is None else units
    return f"{e.checksum};format={fmt};units=" + ",".join(f"{k}={v}" for k, v in sorted(u.items()))


def table_fingerprint(table: dict[str, Any]) -> str:
    """Hash of every value of a ``[datasets.*]`` table except the descriptive ones."""
    return stable_hash({k: v for k, v in table.items() if k not in DESCRIPTIVE_KEYS})


def register_tables(
    register, registry: Registry, owner: str, make: Callable[[str, dict[str, Any]], DatasetSpec]
) -> None:
    """Register ``make(name, table)`` for every ``[datasets.*]`` table whose ``plugin`` key is
    ``owner`` (``""``: tables without one, core's). A table that ``make`` refuses (RegistryError;
    or a value of the wrong type that slipped past the checks), or that holds a key its class does
    not declare, is registered as a :class:`~egbench_core.interfaces.BrokenSpec` with the error; the
    owner's other datasets work."""
    from egbench_core.interfaces import BrokenSpec

    for name, table in sorted(registry.datasets.items()):
        if (table.get("plugin") or "") != owner:
            continue
        try:
            spec = make(name, table)
            cls = type(spec)
            checks.check_table_keys(dataset_origin(registry, name), name, table, cls.TABLE_KEYS, cls.SPLIT_KEYS)
        except RegistryError as exc:
            register(BrokenSpec("dataset", name, str(exc)))
            continue
        except (TypeError, ValueError, KeyError) as exc:
            where = f"{dataset_origin(registry, name)}: [datasets.{name}]"
            register(BrokenSpec("dataset", name, f"{where}: {type(exc).__name__}: {exc}"))
            continue
        register(spec)


def units_kwargs(units: dict[str, str]) -> dict[str, str]:
    """Registry ``units`` table -> keyword arguments of the readers."""
    names = {"energy": "energy_unit", "forces": "force_unit", "length": "length_unit"}
    return {names[k]: v for k, v in units.items() if k in names}


def split_info(name: str, t: dict[str, Any]) -> SplitInfo:
    return SplitInfo(
        name=name,
        frames=t.get("frames"),
        temperature_K=t.get("temperature_K"),
        contiguous=bool(t.get("contiguous", False)),
        frame_spacing_fs=t.get("frame_spacing_fs"),
        tags=tuple(t.get("tags", ())),
        train_dataset=t.get("train_dataset"),
    )


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
        raise MalformedDataError(
            f"{where}: the dataset is declared periodic but the file has pbc={frames.pbc[0].tolist()}"
        )
    vol = np.abs(np.linalg.det(frames.cell))
    if (vol < 1e-6).any():
        raise MalformedDataError(
            f"{frames.frame_label(int(np.argmax(vol < 1e-6)), where)}: a frame of a periodic "
            "dataset has no cell; expected a cell of non-zero volume"
        )
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
        return frames.subset(np.sort(perm[start : start + sizes[part]]))
    raise RegistryError(f"{where}: unknown select {select}; use range or random")


class GeneratedDataset(DatasetSpec):
    """A synthetic dataset produced by ``generate() -> dict[split, Frames]``, cached as npz in the
    data folder under a name that includes the generator's parameters, beside a sha256 sidecar.
    The sidecar is checked every time the npz is read; a mismatch (or no sidecar) is logged as a
    warning and the dataset is generated again."""

    def __init__(
        self,
        *,
        generate: Callable[[], dict[str, Frames]],
        params: dict[str, Any],
        oracle: Callable[[], Any] | None = None,
        **kw,
    ):
        super().__init__(**kw)
        self._generate = generate
        self._params = params
        self._oracle = oracle
        self._cache: dict[str, Frames] | None = None
        self.cache_status = ""  # what the last ensure_cache did

    def oracle(self):
        return self._oracle() if self._oracle else None

    def oracle_declaration(self) -> dict[str, Any] | None:
        """A declared ``oracle`` table, else: a generator with a calculator is an exact oracle
        (built-in plugin ``emt``)."""
        declared = super().oracle_declaration()
        if declared or not self._oracle:
            return declared
        return {"plugin": "emt", "level": "EMT (the generator of the data)", "exact": True}

    def fingerprint(self) -> dict[str, str]:
        return {"generator": stable_hash({"name": self.name, "params": self._params})}

    def cache_path(self) -> Path:
        return data_dir() / "generated" / f"{self.name}-{self.fingerprint()['generator'][:16]}.npz"

    def ensure_cache(self) -> str:
        """Read the cached npz if it matches its sidecar, else (re)generate it. Returns what was done:
        ``generated <path>``, ``verified <path>`` or ``regenerated <path>: <why>``."""
        path = self.cache_path()
        why = None
        if path.exists():
            why = sidecar_problem(path)
            if why is None:
                try:
                    frames = load_frames(path)
                except Exception as exc:  # noqa: BLE001 - any unreadable cache is regenerated
                    why = f"{path} cannot be read ({type(exc).__name__}: {exc})"
                else:
                    if set(frames) >= set(self.splits):
                        self._cache = frames
                        self.cache_status = f"verified {path}"
                        return self.cache_status
                    why = f"{path} lacks splits {sorted(set(self.splits) - set(frames))}"
            log.warning("%s; regenerating dataset %s", why, self.name)
        writable_folder(path.parent)
        log.info("generating dataset %s (%s)", self.name, self._params)
        self._cache = self._generate()
        try:
            save_frames(path, self._cache)
            write_sidecar(path)
        except OSError as exc:
            raise cache_error(exc) from None
        self.cache_status = f"regenerated {path}: {why}" if why else f"generated {path}"
        return self.cache_status

    def _load(self, split: str) -> Frames:
        if self._cache is None:
            self.ensure_cache()
        assert self._cache is not None  # ensure_cache loads or generates it, or raises
        return self._cache[split]
