"""A minimal SchNet-style network: the part of a plugin that holds the architecture."""

from __future__ import annotations

import math

import torch
from torch import nn


class Interaction(nn.Module):
    def __init__(self, features: int, rbf: int):
        super().__init__()
        self.filter = nn.Sequential(nn.Linear(rbf, features), nn.Tanh(), nn.Linear(features, features))
        self.inp = nn.Linear(features, features, bias=False)
        self.out = nn.Sequential(nn.Linear(features, features), nn.Tanh(), nn.Linear(features, features))

    def forward(self, h, edge_index, basis, envelope):
        i, j = edge_index
        w = self.filter(basis) * envelope[:, None]
        messages = self.inp(h)[j] * w
        agg = torch.zeros_like(h).index_add(0, i, messages)
        return h + self.out(agg)


class SchNetLike(nn.Module):
    def __init__(self, n_species: int, cutoff: float, features: int = 32, interactions: int = 2, rbf: int = 16):
        super().__init__()
        self.cutoff = cutoff
        self.embed = nn.Embedding(n_species, features)
        self.register_buffer("centres", torch.linspace(0.0, cutoff, rbf))
        self.width = cutoff / rbf
        self.blocks = nn.ModuleList(Interaction(features, rbf) for _ in range(interactions))
        self.readout = nn.Sequential(nn.Linear(features, features // 2), nn.Tanh(), nn.Linear(features // 2, 1))

    def forward(self, graph) -> torch.Tensor:
        d = graph.edge_vectors().norm(dim=-1)
        basis = torch.exp(-(((d[:, None] - self.centres) / self.width) ** 2))
        envelope = 0.5 * (torch.cos(math.pi * d / self.cutoff) + 1.0) * (d < self.cutoff)
        h = self.embed(graph.species)
        for block in self.blocks:
            h = block(h, graph.edge_index, basis, envelope)
        atom_energy = self.readout(h).squeeze(-1)
        # new tensors take the device (and dtype) of the graph's: the model may run on a GPU
        energy = torch.zeros(graph.num_graphs, dtype=atom_energy.dtype, device=graph.positions.device)
        return energy.index_add(0, graph.batch, atom_energy)


def build(species, cutoff: float, params, stats) -> SchNetLike:
    """The network for ``species`` (sorted atomic numbers); ``params`` = a preset's ``model`` dict;
    ``stats`` (E0s, scale, average neighbour count) if the architecture needs them."""
    return SchNetLike(n_species=len(species), cutoff=cutoff, **params)
