"""One code path from a model's output to energy, forces and stress, for every model.

:class:`NormalisedPotential` wraps what a plugin built: ``E = Σ_i (E0[Z_i] + shift) + scale · model(graph)``
(see :mod:`egbench_core.model.stats` for E0 and shift) with the reference sum in float64 (so total energies
near -40 000 eV keep meV resolution even when the model runs in float32). :func:`evaluate` differentiates it:
forces = -dE/dr, stress = (1/V) dE/dε via a symmetric strain applied to positions and cell.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from egbench_core.model.graph import AtomicGraph
from egbench_core.model.stats import DatasetStats


class NormalisedPotential(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, stats: DatasetStats, cutoff: float):
        super().__init__()
        self.model = model
        self.cutoff = float(cutoff)
        self.species: tuple[int, ...] = tuple(stats.species)
        # float64 on purpose and not buffers: ``.float()`` / ``.to(dtype)`` must never round them
        self.e0 = torch.tensor(stats.e0, dtype=torch.float64) + float(stats.shift)
        self.scale = torch.tensor(stats.scale, dtype=torch.float64)

    @property
    def dtype(self) -> torch.dtype:
        for p in self.model.parameters():
            return p.dtype
        return torch.get_default_dtype()

    def forward(self, graph: AtomicGraph) -> torch.Tensor:
        if graph.species is None:
            graph = graph.with_species(self.species)
        out = self.model(graph)
        if out.shape != (graph.num_graphs,):
            raise ValueError(f"model returned energy of shape {tuple(out.shape)}, expected [{graph.num_graphs}]")
        ref = torch.zeros(graph.num_graphs, dtype=torch.float64, device=out.device)
        ref = ref.index_add(0, graph.batch, self.e0.to(out.device)[graph.species])
        return ref + self.scale.to(out.device) * out.to(torch.float64)


def evaluate(
    potential: torch.nn.Module,
    graph: AtomicGraph,
    forces: bool = True,
    stress: bool = False,
    create_graph: bool = False,
) -> dict[str, torch.Tensor]:
    """Energy [B] (eV, float64), forces [N,3] (eV/Å) and, if asked, stress [B,3,3] (eV/Å³)."""
    pos = graph.positions
    if not (forces or stress):
        return {"energy": potential(graph)}
    pos = pos.detach().requires_grad_(True)
    inputs = [pos]
    if stress:
        strain = torch.zeros((graph.num_graphs, 3, 3), dtype=pos.dtype, device=pos.device, requires_grad=True)
        sym = 0.5 * (strain + strain.transpose(1, 2))
        pos_s = pos + torch.einsum("ni,nij->nj", pos, sym[graph.batch])
        cell_s = graph.cell + torch.einsum("bki,bij->bkj", graph.cell, sym)
        g = replace(graph, positions=pos_s, cell=cell_s)
        inputs.append(strain)
    else:
        g = replace(graph, positions=pos)
    energy = potential(g)
    grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
    out = {"energy": energy}
    dpos = grads[0] if grads[0] is not None else torch.zeros_like(pos)
    out["forces"] = -dpos
    if stress:
        volume = torch.abs(torch.linalg.det(graph.cell.to(torch.float64))).to(pos.dtype)
        ds = grads[1] if grads[1] is not None else torch.zeros_like(strain)
        volume = torch.where(volume > 1e-12, volume, torch.full_like(volume, float("nan")))  # no cell: no stress
        out["stress"] = ds / volume[:, None, None]
    return out
