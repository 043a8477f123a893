"""The one trainer every trainable model goes through.

Loss (dimensionless, the same for every model): ``w_E · mean_k ((Ê_k − E_k) / (N_k s))²  +
w_F · mean ((F̂ − F) / s)²`` with ``s`` = force RMS of the training split (``stats.scale``).
Adam/AdamW (amsgrad optional), ReduceLROnPlateau on the validation loss, early stopping, optional
EMA of the weights, the best-validation checkpoint kept and restored. Every random choice
(weight init is seeded by the caller; batch order here) comes from ``seed``.

Training length is a number of epochs, so results do not depend on the machine's load.
``max_time_s`` is only a guard: when it fires, the record says ``truncated`` and the cell is
marked so wherever its numbers are shown. A non-finite training or validation loss fails the cell
(:class:`NonFiniteLossError`) instead of returning the untrained weights.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from egbench_core.data.readers import Frames
from egbench_core.model.graph import GraphParts, NeighbourLists, collate, frames_to_parts
from egbench_core.model.potential import NormalisedPotential, evaluate
from egbench_core.records import TrainRecord

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 8  # frames per batch
    # at most this many atoms per batch (fewer frames of large structures, so every dataset gets a
    # comparable number of optimiser steps per epoch); None: no limit
    max_batch_atoms: int | None = None
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam" or "adamw"
    amsgrad: bool = True
    weight_decay: float = 0.0
    energy_weight: float = 1.0
    force_weight: float = 10.0
    scheduler_factor: float = 0.8
    scheduler_patience: int = 10
    min_lr: float = 1e-6  # training stops when the learning rate falls below this
    early_stop_patience: int = 50  # epochs without validation improvement
    ema_decay: float | None = None
    max_time_s: float | None = None  # wall-clock guard: training that hits it is marked truncated
    grad_clip: float | None = 10.0
    dtype: str = "float32"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training settings {sorted(unknown)}; known: {sorted(known)}")
        cfg = cls(**d)
        if cfg.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer {cfg.optimizer!r}: expected 'adam' or 'adamw'")
        if cfg.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype {cfg.dtype!r}: expected 'float32' or 'float64'")
        return cfg

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32


EpochCallback = Callable[[int, int, dict[str, float]], None]


class NonFiniteLossError(RuntimeError):
    pass


def _batches(
    parts: Sequence[GraphParts], frames: Frames, order: np.ndarray, batch_size: int, dtype, species, device=None
):
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        g = collate([parts[i] for i in idx], dtype=dtype, species=species)
        e = torch.from_numpy(frames.energy[idx])
        f = torch.from_numpy(np.concatenate([frames.forces[frames.atoms_slice(int(i))] for i in idx]))
        if device is not None:
            g, e, f = g.to(device), e.to(device), f.to(device)
        yield g, e, f


def _loss(potential, g, e_ref, f_ref, cfg: TrainConfig, create_graph: bool) -> torch.Tensor:
    out = evaluate(potential, g, forces=True, create_graph=create_graph)
    s = potential.scale
    n = g.n_atoms.to(torch.float64)
    le = (((out["energy"] - e_ref) / (n * s)) ** 2).mean()
    lf = (((out["forces"].to(torch.float64) - f_ref) / s) ** 2).mean()
    return cfg.energy_weight * le + cfg.force_weight * lf


def train(
    potential: NormalisedPotential,
    train_frames: Frames,
    val_frames: Frames,
    cfg: TrainConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
    device: torch.device | str | None = None,
    neighbours: NeighbourLists | None = None,
) -> TrainRecord:
    """Train ``potential`` in place (on ``device``, default: where its parameters are); on return it
    holds the best-validation weights. ``neighbours`` shares the neighbour lists of both splits
    (built once per cell: the statistics and the predictions use them too)."""
    t_start = time.perf_counter()
    dtype = cfg.torch_dtype
    potential.model.to(dtype)  # reference energies and scale stay float64 (NormalisedPotential)
    if device is not None:
        potential.model.to(device)
    device = next((p.device for p in potential.parameters()), torch.device("cpu"))
    tr_parts = frames_to_parts(train_frames, potential.cutoff, neighbours)
    va_parts = frames_to_parts(val_frames, potential.cutoff, neighbours)
    params = [p for p in potential.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    opt = opt_cls(params, lr=cfg.lr, amsgrad=cfg.amsgrad, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=cfg.scheduler_factor, patience=cfg.scheduler_patience
    )
    ema = None
    if cfg.ema_decay:
        ema = torch.optim.swa_utils.AveragedModel(
            potential, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay)
        )
    rng = np.random.default_rng(seed)
    batch = frames_per_batch(cfg, train_frames)
    rec = TrainRecord(n_parameters=sum(p.numel() for p in params), seed=seed, frames_per_batch=batch)
    best_state = copy.deepcopy(potential.state_dict())
    since_best = 0
    epoch_times = []
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        batches = _batches(
            tr_parts, train_frames, rng.permutation(len(tr_parts)), batch, dtype, potential.species, device
        )
        total, count = _train_epoch(potential, batches, opt, params, ema, cfg, epoch)
        evaluated = ema.module if ema is not None else potential
        val = _validate(evaluated, va_parts, val_frames, cfg, dtype, device)
        if not np.isfinite(val):
            raise NonFiniteLossError(
                f"validation loss became {val} at epoch {epoch} (training loss "
                f"{total / max(count, 1):.4g}); the model diverged"
            )
        sched.step(val)
        epoch_times.append(time.perf_counter() - t0)
        lr = opt.param_groups[0]["lr"]
        row = {
            "epoch": epoch,
            "train_loss": total / max(count, 1),
            "val_loss": val,
            "lr": lr,
            "time_s": epoch_times[-1],
        }
        rec.history.append(row)
        if val < rec.best_val_loss:
            rec.best_val_loss, rec.best_epoch, since_best = val, epoch, 0
            best_state = copy.deepcopy(evaluated.state_dict())
        else:
            since_best += 1
        rec.epochs_run = epoch
        if on_epoch:
            on_epoch(epoch, cfg.epochs, row)
        elapsed = time.perf_counter() - t_start
        if since_best >= cfg.early_stop_patience:
            rec.stop_reason = f"early stop: no validation improvement for {since_best} epochs"
            break
        if lr < cfg.min_lr:
            rec.stop_reason = f"learning rate {lr:.2e} below min_lr {cfg.min_lr:.0e}"
            break
        if cfg.max_time_s is not None and elapsed >= cfg.max_time_s and epoch < cfg.epochs:
            rec.truncated = True
            rec.stop_reason = (
                f"truncated: the wall-clock guard of {cfg.max_time_s:g} s fired after {epoch} of {cfg.epochs} epochs"
            )
            break
    else:
        rec.stop_reason = f"epoch limit {cfg.epochs} reached"
    potential.load_state_dict(best_state)
    potential.eval()
    rec.time_per_epoch_s = float(np.mean(epoch_times)) if epoch_times else 0.0
    rec.total_time_s = time.perf_counter() - t_start
    log.info(
        "trained %d epochs (best %d, val loss %.4g) in %.1f s: %s",
        rec.epochs_run,
        rec.best_epoch,
        rec.best_val_loss,
        rec.total_time_s,
        rec.stop_reason,
    )
    return rec


def _train_epoch(potential, batches, opt, params, ema, cfg: TrainConfig, epoch: int) -> tuple[float, int]:
    """One epoch of optimiser steps over ``batches``; the summed loss (each batch's weighted by its
    frames) and the frames seen."""
    potential.train()
    total, count = 0.0, 0
    for g, e, f in batches:
        opt.zero_grad(set_to_none=True)
        loss = _loss(potential, g, e, f, cfg, create_graph=True)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"training loss became {loss.item()} at epoch {epoch}")
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        if ema is not None:
            ema.update_parameters(potential)
        total += loss.item() * g.num_graphs
        count += g.num_graphs
    return total, count


def frames_per_batch(cfg: TrainConfig, frames: Frames) -> int:
    """``batch_size`` frames, fewer when ``max_batch_atoms`` caps the atoms of a batch (by the mean
    structure size of the split)."""
    if cfg.max_batch_atoms is None or len(frames) == 0:
        return cfg.batch_size
    mean_atoms = float(np.mean(frames.n_atoms))
    return max(1, min(cfg.batch_size, int(round(cfg.max_batch_atoms / mean_atoms))))


def _validate(potential, parts, frames: Frames, cfg: TrainConfig, dtype, device=None) -> float:
    potential.eval()
    total, count = 0.0, 0
    for g, e, f in _batches(
        parts, frames, np.arange(len(parts)), max(cfg.batch_size, 16), dtype, potential.species, device
    ):
        loss = _loss(potential, g, e, f, cfg, create_graph=False)
        total += loss.item() * g.num_graphs
        count += g.num_graphs
    return total / max(count, 1)
