"""Batched predictions of a potential over a set of frames (static evaluation)."""

from __future__ import annotations

import numpy as np
import torch

from egbench_core.data.readers import Frames
from egbench_core.model.graph import NeighbourLists, collate, frames_to_parts
from egbench_core.model.potential import NormalisedPotential, evaluate


def predict(
    potential: NormalisedPotential, frames: Frames, batch_size: int = 16, neighbours: NeighbourLists | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Energies [F] (eV) and forces [ΣN,3] (eV/Å) of ``potential`` on every frame, on the device of
    its parameters (neighbour lists on the CPU, shared through ``neighbours`` when given; only the
    batch moves)."""
    device = next((p.device for p in potential.parameters()), torch.device("cpu"))
    parts = frames_to_parts(frames, potential.cutoff, neighbours)
    dtype = potential.dtype
    energies, forces = [], []
    was_training = potential.training
    potential.eval()
    try:
        for start in range(0, len(parts), batch_size):
            g = collate(parts[start : start + batch_size], dtype=dtype, species=potential.species).to(device)
            out = evaluate(potential, g, forces=True)
            energies.append(out["energy"].detach().to(torch.float64).cpu().numpy())
            forces.append(out["forces"].detach().to(torch.float64).cpu().numpy())
    finally:
        potential.train(was_training)
    return np.concatenate(energies), np.concatenate(forces)
