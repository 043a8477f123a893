"""Execute one cell: data → stats → build → train → static predictions → MD → metrics.

Returns everything the store keeps; raises on failure (the runner records the traceback).
"""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import Frames
from .environment import hardware, peak_rss_mb
from .interfaces import MetricValue
from .md import MDSettings, run_md
from .outputs import CellOutputs, SplitPrediction
from .potential import NormalisedPotential
from .predict import predict
from .protocol import ProtocolPreset
from .stats import compute_stats
from .train import TrainConfig, train

log = logging.getLogger(__name__)


@dataclass
class CellResult:
    metrics: list[tuple[MetricValue, str]] = field(default_factory=list)  # (value, metric version)
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (kind, path relative to results root)
    info: dict[str, Any] = field(default_factory=dict)


class NullProgress:
    def train_epoch(self, epoch: int, total: int, row: dict) -> None: ...
    def md_step(self, replica: int, step: int, total: int) -> None: ...
    def stage(self, name: str) -> None: ...


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _limit(frames: Frames, n: int | None) -> Frames:
    return frames if n is None or len(frames) <= n else frames.subset(np.arange(n))


def execute_cell(cell, catalog, root: Path, art_dir: Path, proto: ProtocolPreset, progress=None) -> CellResult:
    progress = progress or NullProgress()
    spec = catalog.models[cell.model]
    ds = catalog.datasets[cell.dataset]
    train_ds = catalog.datasets[cell.plan.train_dataset] if cell.plan.train_dataset else ds
    preset = spec.preset(cell.preset)
    cutoff = float(preset["cutoff"])
    cfg = TrainConfig.from_dict(preset.get("train", {}))
    res = CellResult()
    rel = lambda p: str(Path(p).relative_to(root))  # noqa: E731

    progress.stage("data")
    tr = _limit(train_ds.load(cell.plan.train_split), proto.max_train_frames)
    va = _limit(train_ds.load(cell.plan.val_split), proto.max_val_frames)
    stats = compute_stats(tr, cutoff)

    progress.stage("build")
    seed_everything(cell.seed)
    model = spec.build(list(stats.species), cutoff, dict(preset.get("model", {})), stats)
    pot = NormalisedPotential(model, stats, cutoff)

    progress.stage("train")
    rec = train(pot, tr, va, cfg, seed=cell.seed, on_epoch=progress.train_epoch)
    ckpt = art_dir / "model.pt"
    torch.save({"model": cell.model, "preset": cell.preset, "params": preset, "stats": stats.to_dict(),
                "state_dict": pot.state_dict()}, ckpt)
    res.artifacts.append(("checkpoint", rel(ckpt)))

    progress.stage("evaluate")
    outputs = CellOutputs(model=cell.model, preset=cell.preset, dataset=ds, task=cell.task, plan=cell.plan,
                          seed=cell.seed, stats=stats, train=rec, hardware=hardware(cfg.dtype),
                          artifacts_dir=str(art_dir))
    for split in cell.plan.eval_splits:
        ref = _limit(ds.load(split), proto.max_eval_frames)
        e, f = predict(pot, ref)
        outputs.predictions[split] = SplitPrediction(split, ref, e, f)
        path = art_dir / f"predictions-{split}.npz"
        np.savez_compressed(path, energy=e, forces=f, ref_energy=ref.energy, ref_forces=ref.forces, n_atoms=ref.n_atoms)
        res.artifacts.append(("predictions", rel(path)))

    md_plan = cell.plan.md
    if md_plan is not None and proto.md_replicas > 0:
        progress.stage("md")
        start = ds.load(md_plan.start_split)
        outputs.md_reference = ds.load(md_plan.reference_split)
        outputs.md_total_time_fs = proto.md_steps * md_plan.timestep_fs
        settings = MDSettings(proto.md_replicas, proto.md_steps, proto.md_save_every, cell.seed)
        observers = [m for m in catalog.metrics.values() if m.make_observer is not None]

        def make_observers(replica: int) -> dict[str, Any]:
            made = {}
            for m in observers:
                obs = m.make_observer(outputs)
                if obs is not None:
                    made[m.name] = obs
            return made

        outputs.md = run_md(pot, start, md_plan, settings, art_dir / "md", make_observers,
                            on_step=progress.md_step)
        for r in outputs.md:
            res.artifacts.append(("trajectory", rel(r.trajectory)))
        (art_dir / "md" / "replicas.json").write_text(json.dumps([r.to_dict() for r in outputs.md], default=_jsonable))
        res.artifacts.append(("md-summary", rel(art_dir / "md" / "replicas.json")))

    progress.stage("metrics")
    errors = {}
    for m in catalog.metrics.values():
        try:
            for v in m.compute(outputs):
                res.metrics.append((v, m.version))
        except Exception as exc:  # noqa: BLE001 - one metric's bug must not lose the cell
            log.exception("metric %s failed on %s", m.name, cell.label)
            errors[m.name] = f"{type(exc).__name__}: {exc}"
    known = {p for _, p in res.artifacts}
    for f in sorted(art_dir.glob("*.json")):  # arrays behind metric values (RDFs, EV(t), ...)
        if rel(f) not in known:
            res.artifacts.append((f.stem.split("-")[0], rel(f)))
    res.info = {"train": rec.to_dict(), "stats": stats.to_dict(), "hardware": outputs.hardware,
                "protocol": proto.to_dict(), "peak_rss_mb": peak_rss_mb(), "metric_errors": errors,
                "md_failures": [r.failure for r in outputs.md if r.failure],
                "seeds": {"cell": cell.seed, "replicas": [r.seed for r in outputs.md]},
                "n_frames": {"train": len(tr), "val": len(va),
                             **{s: len(p.reference) for s, p in outputs.predictions.items()}}}
    return res


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)
