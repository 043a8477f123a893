"""The inputs of a cell: its task's splits, loaded (verified by the dataset), limited by the
protocol preset (:func:`subset_indices`), and the isolated-atom energies of its training dataset.
The ``inputs`` part of the train and simulate stages' keys (:mod:`egbench_core.stages.code_paths`)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from egbench_core.cell import CellInputs
from egbench_core.data.readers import Frames
from egbench_core.run.protocol import ProtocolPreset


def subset_indices(frames: Frames, proto: ProtocolPreset, role: str) -> np.ndarray | None:
    """Indices of the frames a cell uses from a split (None: all of them), by the protocol preset.
    ``role`` is "train", "val" or "eval"."""
    n = len(frames)
    max_frames = {"train": proto.max_train_frames, "val": proto.max_val_frames, "eval": proto.max_eval_frames}[role]
    max_atoms = proto.max_train_atoms if role == "train" else None
    if (max_frames is None or n <= max_frames) and (max_atoms is None or frames.n_atoms.sum() <= max_atoms):
        return None
    max_frames = n if max_frames is None else max_frames
    if proto.subset == "first":
        return np.arange(min(n, max_frames))
    if role == "eval":  # evenly spaced: keeps a trajectory's time coverage
        return np.unique(np.linspace(0, n - 1, max_frames).round().astype(np.int64))
    order = np.random.default_rng(proto.subset_seed).permutation(n)[:max_frames]
    if max_atoms is not None:
        keep = max(1, int(np.searchsorted(np.cumsum(frames.n_atoms[order]), max_atoms, side="right")))
        order = order[:keep]
    return np.sort(order)


def _limit(frames: Frames, proto: ProtocolPreset, role: str, name: str, subsets: dict[str, dict[str, Any]]) -> Frames:
    idx = subset_indices(frames, proto, role)
    if idx is None:
        return frames
    subsets[name] = {
        "frames": int(len(idx)),
        "of": int(len(frames)),
        "rule": proto.subset,
        "indices_sha256": hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest(),
    }
    return frames.subset(idx)


def load_inputs(cell, catalog, proto: ProtocolPreset) -> CellInputs:
    ds = catalog.datasets[cell.dataset]
    train_ds = catalog.datasets[cell.plan.train_dataset] if cell.plan.train_dataset else ds
    subsets: dict[str, dict[str, Any]] = {}
    inputs = CellInputs(
        train=_limit(train_ds.load(cell.plan.train_split), proto, "train", "train", subsets),
        val=_limit(train_ds.load(cell.plan.val_split), proto, "val", "val", subsets),
        evals={s: _limit(ds.load(s), proto, "eval", s, subsets) for s in cell.plan.eval_splits},
        isolated_atom_energies=_isolated(train_ds),
        subsets=subsets,
    )
    md = cell.plan.md
    if md is not None and proto.md_replicas > 0:
        inputs.md_start = ds.load(md.start_split)
        inputs.md_reference = ds.load(md.reference_split)
    unseen = sorted(set(int(z) for f in [*inputs.evals.values()] for z in f.elements) - set(inputs.train.elements))
    if unseen:
        raise ValueError(
            f"the evaluation frames contain atomic numbers {unseen} that the (limited) training split "
            f"({len(inputs.train)} frames) does not: the model cannot represent them"
        )
    return inputs


def _isolated(dataset) -> dict[int, float] | None:
    fn = getattr(dataset, "isolated_atom_energies", None)
    return fn() if fn is not None else None
