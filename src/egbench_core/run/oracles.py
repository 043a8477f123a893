"""Reference calculators on the frames a model visits (docs/metrics.md, "Errors where the model goes").

A dataset declares its oracle (``[datasets.<id>.oracle]``: the oracle plugin, its level of theory
and settings); an oracle plugin registers an :class:`~egbench_core.interfaces.OracleSpec` that makes
the ASE calculator. Generators of synthetic sets are *exact* oracles (no calibration, all saved
frames). An expensive oracle is:

* **calibrated** before use on K ≥ 8 evenly spaced frames of the dataset's test split: force MAE
  against the dataset's own labels, energy offset mean and spread (oracle − label); refused when
  the force MAE exceeds the declared threshold (default 5 meV/Å); the calibration is cached and
  stored with every cell that uses it;
* evaluated on an evenly spaced sample of each replica's stable frames (default 10 per replica,
  the start frame excluded), every evaluation cached by a hash of the frame, so a re-score costs
  nothing.

The cache lives under ``<data dir>/oracle-cache/<oracle id>/``; the id hashes the oracle plugin's
name, version and settings. Every cache file (a frame's label, a calibration) carries the sha256 of
its canonical payload and the key it was written under, both checked on every read: a file changed
after it was written, one without a checksum (written by an older egbench), one that is not valid
JSON or that was written for another key is never used: a warning names it, and the frame is
labelled (or the oracle calibrated) again and the file rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from egbench_core.data.registry import data_dir
from egbench_core.interfaces import stable_hash

log = logging.getLogger(__name__)

CALIBRATION_FRAMES = 8
FRAMES_PER_REPLICA = 10
MAX_CALIBRATION_FORCE_MAE = 5e-3  # eV/Å


class OracleError(RuntimeError):
    """The oracle cannot be used for this dataset (the message says why)."""


@dataclass(frozen=True)
class Oracle:
    """A dataset's oracle, resolved against the installed oracle plugins."""

    name: str  # the oracle plugin's id ("pyscf", "emt")
    version: str
    level: str  # level of theory, as the dataset declares it
    params: dict[str, Any]
    exact: bool = False  # a generator: no calibration, every saved frame
    calibration_frames: int = CALIBRATION_FRAMES
    frames_per_replica: int = FRAMES_PER_REPLICA
    max_force_mae: float = MAX_CALIBRATION_FORCE_MAE
    spec: Any = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.name}-{stable_hash({'name': self.name, 'version': self.version, 'params': self.params})[:16]}"

    def describe(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "name", "version", "level", "params", "exact")}

    def calculator(self):
        return self.spec.make(dict(self.params))


DECLARATION_KEYS = {
    "plugin",
    "level",
    "exact",
    "calibration_frames",
    "frames_per_replica",
    "max_force_mae_eV_A",
    "params",
}


def resolve(catalog, dataset) -> tuple[Oracle | None, str]:
    """The dataset's oracle, or None and why not (no declaration, plugin not installed)."""
    decl = dataset.oracle_declaration()
    if not decl:
        why = dataset.extra.get("oracle_unavailable") if hasattr(dataset, "extra") else None
        return None, why or f"dataset {dataset.name} declares no oracle"
    unknown = sorted(set(decl) - DECLARATION_KEYS)
    if unknown:
        raise OracleError(
            f"dataset {dataset.name}: [oracle] has unknown keys {unknown}; expected some of {sorted(DECLARATION_KEYS)}"
        )
    spec = catalog.oracles.get(decl.get("plugin", ""))
    if spec is None:
        return None, (
            f"dataset {dataset.name}'s oracle needs the oracle plugin {decl.get('plugin')!r}, which is not "
            f"installed (installed: {', '.join(sorted(catalog.oracles)) or 'none'})"
        )
    return Oracle(
        name=spec.name,
        version=spec.version,
        level=str(decl.get("level", "")),
        params=dict(decl.get("params", {})),
        exact=bool(decl.get("exact", False)),
        calibration_frames=int(decl.get("calibration_frames", CALIBRATION_FRAMES)),
        frames_per_replica=int(decl.get("frames_per_replica", FRAMES_PER_REPLICA)),
        max_force_mae=float(decl.get("max_force_mae_eV_A", MAX_CALIBRATION_FORCE_MAE)),
        spec=spec,
    ), ""


def opt_in_reason(oracle: Oracle, dataset) -> str:
    """Why an expensive oracle did not label a cell's MD frames: it runs only when asked for."""
    return f"the {oracle.level} oracle of {dataset.name} is opt-in for this preset: egbench run --oracle dft"


# -- evaluation with a cache -------------------------------------------------------------------
def frame_key(atoms) -> str:
    """sha256 of what a reference calculation depends on: species, positions (to 1e-8 Å), cell, pbc."""
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.round(np.asarray(atoms.positions, dtype=np.float64), 8).tobytes())
    h.update(np.round(np.asarray(atoms.cell.array, dtype=np.float64), 8).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=bool).tobytes())
    return h.hexdigest()


def _digest(payload: dict[str, Any]) -> str:
    """sha256 of a payload's canonical JSON (sorted keys, no spaces; floats as Python writes them)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_checked(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` as JSON with ``sha256`` (of its canonical form) added, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")  # the umask's mode
    try:
        tmp.write_text(json.dumps({**payload, "sha256": _digest(payload)}))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def read_checked(path: Path, expect: dict[str, Any], need: Iterable[str] = ()) -> dict[str, Any] | None:
    """The payload of the cache file ``path`` if it can be trusted: it matches the sha256 it records,
    holds the ``expect`` values (the key it was written under) and every key of ``need``. None if
    it does not exist, or, with a warning naming the file and why, if it cannot be trusted (the
    caller computes it again and rewrites it)."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise ValueError(f"a JSON {type(record).__name__}, not an object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = f"it cannot be read as JSON ({exc})"
    else:
        recorded = record.pop("sha256", None)
        actual = _digest(record)
        wrong = {k: record.get(k) for k, v in expect.items() if record.get(k) != v}
        missing = sorted(set(need) - set(record))
        if recorded is None:
            why = "it records no checksum (written by an older egbench)"
        elif recorded != actual:
            why = f"its content has sha256 {actual}, but it recorded {recorded} when it was written"
        elif wrong:
            why = f"it was written for {wrong}, not {dict((k, expect[k]) for k in wrong)}"
        elif missing:
            why = f"it lacks {missing}"
        else:
            return record
    log.warning("oracle cache file %s is not trusted: %s; computing it again", path, why)
    return None


class OracleCache:
    def __init__(self, oracle: Oracle):
        self.oracle = oracle
        self.folder = data_dir() / "oracle-cache" / oracle.id
        self._calc = None
        self.computed = 0
        self.reused = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def evaluate(self, atoms) -> tuple[float, np.ndarray]:
        """Energy (eV) and forces (eV/Å) of the oracle on ``atoms``, from the cache when known."""
        key = frame_key(atoms)
        path = self._path(key)
        d = read_checked(path, {"frame": key, "oracle": self.oracle.id})
        if d is not None:
            self.reused += 1
            return float(d["energy"]), np.asarray(d["forces"], dtype=np.float64)
        if self._calc is None:
            self._calc = self.oracle.calculator()
        a = atoms.copy()
        a.calc = self._calc
        energy, forces = float(a.get_potential_energy()), np.asarray(a.get_forces(), dtype=np.float64)
        self.computed += 1
        write_checked(path, {"energy": energy, "forces": forces.tolist(), "oracle": self.oracle.id, "frame": key})
        return energy, forces


# -- calibration ---------------------------------------------------------------------------------
@dataclass
class Calibration:
    oracle: str
    dataset: str
    split: str
    frames: list[int]
    force_mae: float  # eV/Å, oracle vs the dataset's labels
    force_max: float  # eV/Å
    energy_offset_mean: float  # eV, oracle − label
    energy_offset_std: float  # eV (sample std)
    max_force_mae: float
    accepted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def refusal(self) -> str:
        return (
            f"oracle {self.oracle} refused for {self.dataset}: calibration force MAE "
            f"{self.force_mae * 1e3:.2f} meV/Å on {len(self.frames)} {self.split} frames exceeds "
            f"{self.max_force_mae * 1e3:g} meV/Å"
        )


def calibration_split(dataset) -> str:
    for name, info in dataset.splits.items():
        if "test" in info.tags or name == "test":
            return name
    raise OracleError(f"dataset {dataset.name} has no test split to calibrate its oracle on")


def calibrate(oracle: Oracle, dataset) -> Calibration:
    """Evaluate the oracle on K evenly spaced frames of the dataset's test split (cached)."""
    split = calibration_split(dataset)
    key = stable_hash(
        {
            "oracle": oracle.id,
            "data": dataset.fingerprint(),
            "split": split,
            "k": oracle.calibration_frames,
            "threshold": oracle.max_force_mae,
        }
    )[:16]
    path = data_dir() / "oracle-cache" / oracle.id / f"calibration-{dataset.name}-{key}.json"
    names = [f.name for f in fields(Calibration)]
    known = read_checked(path, {"key": key, "oracle": oracle.id, "dataset": dataset.name}, need=names)
    if known is not None:
        return Calibration(**{k: known[k] for k in names})
    frames = dataset.load(split)
    k = min(oracle.calibration_frames, len(frames))
    idx = [int(i) for i in np.unique(np.linspace(0, len(frames) - 1, k).round().astype(int))]
    cache = OracleCache(oracle)
    errs, offsets, worst = [], [], 0.0
    for i in idx:
        log.info("calibrating oracle %s on %s/%s frame %d", oracle.id, dataset.name, split, i)
        e, f = cache.evaluate(frames.to_atoms(i))
        d = np.abs(f - frames.forces[frames.atoms_slice(i)])
        errs.append(d.reshape(-1))
        worst = max(worst, float(d.max()))
        offsets.append(e - float(frames.energy[i]))
    mae = float(np.mean(np.concatenate(errs)))
    cal = Calibration(
        oracle.id,
        dataset.name,
        split,
        idx,
        mae,
        worst,
        float(np.mean(offsets)),
        float(np.std(offsets, ddof=1)) if len(offsets) > 1 else 0.0,
        oracle.max_force_mae,
        mae <= oracle.max_force_mae,
    )
    write_checked(path, {**cal.to_dict(), "key": key})
    return cal


# -- the frames a model visited ------------------------------------------------------------------
def sample_indices(n_stable: int, k: int | None) -> list[int]:
    """Evenly spaced saved frames 1 … n_stable − 1 (the start frame, a reference frame, is left out);
    all of them when ``k`` is None."""
    if n_stable <= 1:
        return []
    if k is None or n_stable - 1 <= k:
        return list(range(1, n_stable))
    return [int(i) for i in np.unique(np.linspace(1, n_stable - 1, k).round().astype(int))]


def evaluate_replicas(oracle: Oracle, replicas, art_dir: Path, timestep_fs: float) -> dict[str, Any]:
    """The oracle on each replica's sampled stable frames: per replica the frame times, model and
    oracle energies (eV) and the per-frame force errors; written to ``oracle.json`` beside the
    cell's other artifacts and returned."""
    from egbench_core.data.readers import read_extxyz

    cache = OracleCache(oracle)
    out = []
    for r in replicas:
        if not r.trajectory or r.steps_done == 0:
            out.append({"replica": r.index, "frames": 0})
            continue
        traj = read_extxyz(Path(r.trajectory))
        times = np.asarray(r.times_fs[: len(traj)])
        # the stable part: frames saved before the step at which the replica failed
        stable = len(traj) if r.failed_step is None else int(np.sum(times < r.failed_step * timestep_fs - 1e-9))
        picks = sample_indices(stable, None if oracle.exact else oracle.frames_per_replica)
        rec = {
            "replica": r.index,
            "frames": len(picks),
            "time_fs": [],
            "n_atoms": int(traj.n_atoms[0]),
            "energy_model": [],
            "energy_oracle": [],
            "force_mae": [],
            "force_abs_err_sum": [],
            "n_force": [],
            "fv": [],
        }
        for i in picks:
            e, f = cache.evaluate(traj.to_atoms(i))
            fm = traj.forces[traj.atoms_slice(i)]
            err = np.abs(fm - f)
            rec["time_fs"].append(float(times[i]))
            rec["energy_model"].append(float(traj.energy[i]))
            rec["energy_oracle"].append(e)
            rec["force_mae"].append(float(err.mean()))
            rec["force_abs_err_sum"].append(float(err.sum()))
            rec["n_force"].append(int(err.size))
            rec["fv"].append(float(np.linalg.norm(fm - f) / max(float(np.linalg.norm(fm) + np.linalg.norm(f)), 1e-300)))
        out.append(rec)
    payload = {"oracle": oracle.describe(), "replicas": out, "computed": cache.computed, "reused": cache.reused}
    (Path(art_dir) / "oracle.json").write_text(json.dumps(payload))
    return payload
