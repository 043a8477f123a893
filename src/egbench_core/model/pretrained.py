"""Pretrained networks through the model seam (:func:`egbench_core.interfaces.pretrained_models`).

A pretrained network predicts energies in eV against the reference energies of the DFT it was
trained on, which differ from the dataset's by a per-element constant. A cell therefore

1. computes the network's own ("raw") energies of the training split,
2. refits per-element offsets δ[Z] with ``E_ref ≈ E_raw + Σ_i δ[Z_i]`` by linear least squares
   (:func:`egbench_core.model.stats.refit_offsets`; the network untouched), and
3. wraps the network in core's :class:`~egbench_core.model.potential.NormalisedPotential` with those
   offsets as its E0 and the training split's force RMS as its scale (the network's output is
   divided by that scale, so the potential's energy is exactly ``E_raw + Σ δ`` and the trainer's
   loss is normalised as for every model).

A zero-shot cell evaluates and simulates that potential ("zero-shot (E0 refit)"); a fine-tuned cell
first trains it with egbench's one trainer (the offsets stay fixed). Forces are egbench's autograd
of that energy, MD runs on egbench's engines (batched included).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from egbench_core.data.readers import Frames
from egbench_core.model.neighbours import NeighbourLists
from egbench_core.model.potential import NormalisedPotential
from egbench_core.model.predict import predict
from egbench_core.model.stats import ENERGY_MODE, DatasetStats, composition_matrix, refit_offsets

log = logging.getLogger(__name__)

E0_REFIT = "refitted on the training split against the pretrained network's own energies"


class CheckpointError(RuntimeError):
    pass


def verify_checkpoint(model_id: str, path, sha256: str, package: str) -> str:
    """``path`` once the file exists and its sha256 is ``sha256`` (:class:`CheckpointError`
    naming the model, the file and both digests otherwise): checked before a plugin loads it."""
    path = Path(str(path))
    if not path.is_file():
        raise CheckpointError(f"{model_id}: checkpoint {path} is missing from the installed {package} package")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise CheckpointError(f"{model_id}: checkpoint {path} has sha256 {digest}, expected {sha256}")
    return str(path)


class PerScale(torch.nn.Module):
    """``network(graph) / scale``: a pretrained network's energy (eV) in NormalisedPotential's
    normalised units, so that the potential adds back exactly the network's energy."""

    def __init__(self, network: torch.nn.Module, scale: float):
        super().__init__()
        self.network = network
        self.inv_scale = 1.0 / float(scale)

    def forward(self, graph) -> torch.Tensor:
        return self.network(graph) * self.inv_scale


def pretrained_network(load: Callable[[], torch.nn.Module], stats: DatasetStats) -> PerScale:
    """What ``ModelSpec.build`` returns for a pretrained spec: the loaded network over ``stats.scale``."""
    network = load()
    if not isinstance(network, torch.nn.Module):
        raise TypeError(f"a pretrained model's load() returned {type(network).__name__}, expected a torch.nn.Module")
    return PerScale(network, stats.scale)


def raw_energies(pot: NormalisedPotential, frames: Frames, neighbours: NeighbourLists | None = None) -> np.ndarray:
    """The network's own energies [F] (eV): the potential's minus its per-element offsets
    (neighbour lists from ``neighbours`` when given, shared with the rest of the cell)."""
    energy, _ = predict(pot, frames, neighbours=neighbours)
    offsets = dict(zip(pot.species, pot.e0.tolist()))
    return energy - composition_matrix(frames, pot.species) @ np.array([offsets[z] for z in pot.species])


def refit_potential(
    model: torch.nn.Module,
    stats: DatasetStats,
    cutoff: float,
    train: Frames,
    dtype: torch.dtype,
    neighbours: NeighbourLists | None = None,
) -> tuple[NormalisedPotential, DatasetStats, dict[str, Any]]:
    """The cell's potential over a pretrained ``model`` (:class:`PerScale`), its energy offsets
    refitted on ``train``; returns it, its stats and what the store records about the fit."""
    zero = dataclasses.replace(stats, e0=tuple(0.0 for _ in stats.species), shift=0.0)
    probe = NormalisedPotential(model, zero, cutoff).to(dtype)
    raw = raw_energies(probe, train, neighbours)
    if not np.isfinite(raw).all():
        raise ValueError(
            f"the pretrained network gave non-finite energies on {int((~np.isfinite(raw)).sum())} training frames"
        )
    offsets = refit_offsets(train, raw)
    fitted = dataclasses.replace(stats, e0=tuple(offsets[z] for z in stats.species), shift=0.0, e0_source=E0_REFIT)
    pot = NormalisedPotential(model, fitted, cutoff).to(dtype)
    resid = train.energy - raw - composition_matrix(train, stats.species) @ np.array(fitted.e0)
    info = {
        "energy": ENERGY_MODE,
        "offsets_eV": {str(z): d for z, d in offsets.items()},
        "fit_frames": len(train),
        "fit_residual_rms_per_atom_eV": float(np.sqrt(np.mean((resid / train.n_atoms) ** 2))),
    }
    log.info("energy offsets refitted on %d training frames: %s", len(train), info["offsets_eV"])
    return pot, fitted, info
