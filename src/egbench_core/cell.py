"""The unit of work, of caching and of scheduling — a leaf module: what a cell is
(:class:`Cell`), what it reads (:class:`CellInputs`), what a model run hands to the metrics
(:class:`CellOutputs`), what the store keeps (:class:`CellResult`), and how each travels between
processes (a Dask worker, an environment's worker). It imports nothing that runs cells; everything
that runs cells imports it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from egbench_core.data.readers import Frames, load_frames, save_frames
from egbench_core.interfaces import MDPlan, MetricValue, TaskPlan
from egbench_core.model.stats import DatasetStats
from egbench_core.records import ReplicaResult, TrainRecord


@dataclass
class Cell:
    model: str
    preset: str
    dataset: str
    task: str
    seed: int
    plan: TaskPlan | None = None
    skip_reason: str = ""
    key: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)  # what the key hashes, readable
    stages: dict[str, str] = field(default_factory=dict)  # stage kind -> its key (train, simulate)

    @property
    def label(self) -> str:
        return f"{self.model}[{self.preset}] × {self.dataset} × {self.task} (seed {self.seed})"

    @property
    def ident(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("model", "preset", "dataset", "task", "seed")}

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.ident,
            "plan": asdict(self.plan) if self.plan else None,
            "skip_reason": self.skip_reason,
            "key": self.key,
            "provenance": self.provenance,
            "stages": self.stages,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cell:
        return cls(
            d["model"],
            d["preset"],
            d["dataset"],
            d["task"],
            int(d["seed"]),
            plan_from_dict(d.get("plan")),
            d.get("skip_reason", ""),
            d.get("key", ""),
            d.get("provenance") or {},
            d.get("stages") or {},
        )


def plan_from_dict(d: dict[str, Any] | None) -> TaskPlan | None:
    if d is None:
        return None
    d = dict(d)
    d["md"] = MDPlan(**d["md"]) if d.get("md") else None
    d["eval_splits"] = tuple(d["eval_splits"])
    return TaskPlan(**d)


@dataclass
class CellInputs:
    """The frames a cell needs, in egbench units, already verified and limited."""

    train: Frames
    val: Frames
    evals: dict[str, Frames]
    md_start: Frames | None = None
    md_reference: Frames | None = None
    isolated_atom_energies: dict[int, float] | None = None  # eV, declared by the training dataset
    subsets: dict[str, dict[str, Any]] = field(default_factory=dict)  # split role -> size, of, hash

    def named(self) -> dict[str, Frames]:
        out = {"train": self.train, "val": self.val, **{f"eval:{k}": v for k, v in self.evals.items()}}
        if self.md_start is not None:
            assert self.md_reference is not None  # md_start and md_reference are set together (load_inputs, load)
            out["md:start"] = self.md_start
            out["md:reference"] = self.md_reference
        return out

    def save(self, folder: Path) -> None:
        """``inputs.npz`` (the frames) and ``inputs.json`` (the rest) in ``folder``."""
        save_frames(Path(folder) / "inputs.npz", self.named())
        e0 = self.isolated_atom_energies
        (Path(folder) / "inputs.json").write_text(
            json.dumps(
                {"isolated_atom_energies": {str(z): e for z, e in e0.items()} if e0 else None, "subsets": self.subsets}
            )
        )

    @classmethod
    def load(cls, folder: Path) -> CellInputs:
        named = load_frames(Path(folder) / "inputs.npz")
        meta = json.loads((Path(folder) / "inputs.json").read_text())
        e0 = meta.get("isolated_atom_energies")
        return cls(
            train=named["train"],
            val=named["val"],
            evals={k[5:]: v for k, v in named.items() if k.startswith("eval:")},
            md_start=named.get("md:start"),
            md_reference=named.get("md:reference"),
            isolated_atom_energies={int(z): float(e) for z, e in e0.items()} if e0 else None,
            subsets=meta.get("subsets") or {},
        )

    @staticmethod
    def discard(folder: Path) -> None:
        for name in ("inputs.npz", "inputs.json"):
            (Path(folder) / name).unlink(missing_ok=True)


@dataclass
class SplitPrediction:
    split: str
    reference: Frames
    energy: np.ndarray  # [F] eV, the model's
    forces: np.ndarray  # [ΣN, 3] eV/Å, the model's


@dataclass
class CellOutputs:
    """What a finished model run hands to the metrics: plain arrays and records, no live models."""

    model: str
    preset: str
    dataset: Any  # DatasetSpec
    task: str
    plan: TaskPlan
    seed: int
    stats: DatasetStats | None = None
    train: TrainRecord | None = None
    predictions: dict[str, SplitPrediction] = field(default_factory=dict)
    md: list[ReplicaResult] = field(default_factory=list)
    md_reference: Frames | None = None
    md_total_time_fs: float = 0.0  # requested simulated time per replica
    hardware: dict[str, Any] = field(default_factory=dict)
    artifacts_dir: str = ""
    cache: dict[str, Any] = field(default_factory=dict)  # shared by metrics within one cell (e.g. g_ref)
    oracle: dict[str, Any] | None = None  # oracle, calibration and sampled frames (egbench_core.run.oracles)
    # how the model's energies came about: {"energy": "trained"} or, for a calculator-backed model,
    # {"energy": "zero-shot (E0 refit)", "offsets_eV": ..., ...} (egbench_core.model.calculator_model)
    model_info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """What an environment worker hands back (arrays live in the artifact files next to it)."""
        assert self.stats is not None and self.train is not None  # run_model sets both for every run
        return {
            "stats": self.stats.to_dict(),
            "train": self.train.to_dict(),
            "hardware": self.hardware,
            "predictions": sorted(self.predictions),
            "md": [r.to_dict() for r in self.md],
            "md_total_time_fs": self.md_total_time_fs,
            "model_info": self.model_info,
        }

    @classmethod
    def of_cell(cls, cell: Cell, dataset: Any, art_dir: Path, **fields: Any) -> CellOutputs:
        """The outputs of ``cell`` (its model, preset, task, plan and seed) on ``dataset``, with
        their artifacts in ``art_dir``; ``fields``: the other fields."""
        assert cell.plan is not None  # a cell with outputs ran, so its task planned it (only a skipped cell lacks one)
        return cls(
            model=cell.model,
            preset=cell.preset,
            dataset=dataset,
            task=cell.task,
            plan=cell.plan,
            seed=cell.seed,
            artifacts_dir=str(art_dir),
            **fields,
        )

    @classmethod
    def from_json(cls, d: dict[str, Any], cell: Cell, inputs: CellInputs, dataset, art_dir: Path) -> CellOutputs:
        out = cls.of_cell(
            cell,
            dataset,
            art_dir,
            stats=DatasetStats.from_dict(d["stats"]),
            train=TrainRecord(**d["train"]),
            hardware=d["hardware"],
            md_reference=inputs.md_reference,
            md_total_time_fs=d["md_total_time_fs"],
            model_info=d.get("model_info") or {},
        )
        out.load_predictions(d["predictions"], inputs)
        out.md = [ReplicaResult(**r) for r in d["md"]]
        return out

    def load_predictions(self, splits, inputs: CellInputs) -> None:
        """The model's energies and forces on ``splits`` from ``predictions-<split>.npz`` in the
        artifacts folder, beside their reference frames."""
        for split in splits:
            with np.load(Path(self.artifacts_dir) / f"predictions-{split}.npz") as z:
                self.predictions[split] = SplitPrediction(split, inputs.evals[split], z["energy"], z["forces"])


@dataclass
class CellResult:
    """What the store keeps of a finished cell."""

    metrics: list[tuple[MetricValue, str]] = field(default_factory=list)  # (value, metric version)
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (kind, path relative to the cell's folder)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Execution:
    """How a cell runs wherever it runs: torch threads, device, precision override, MD engine.
    Travels with the cell to Dask and environment workers."""

    threads: int = 1
    device: str = "cpu"  # "cpu", "cuda", "cuda:1" (resolved: never "auto")
    dtype: str | None = None  # None: the preset's
    md_engine: str = "batched"  # "batched" (all replicas as one batch) or "ase" (the reference path)
    oracle: str = "auto"  # "auto" (the protocol preset's choice), "on", "off": expensive oracles only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
