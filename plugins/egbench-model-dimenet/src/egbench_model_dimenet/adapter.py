"""The only module that imports ``torch_geometric``: DimeNet++ assembled from torch-geometric's
building blocks (``torch_geometric.nn.models.dimenet``: ``BesselBasisLayer``,
``SphericalBasisLayer``, ``EmbeddingBlock``, ``InteractionPPBlock``, ``OutputPPBlock``), exactly as
``DimeNetPlusPlus.forward`` wires them, but fed egbench's periodic edges:

* edges: ``graph.edge_index`` from core's neighbour list (vesin), periodic images included,
  instead of ``radius_graph`` (which needs pyg-lib); distances from ``graph.edge_vectors()`` so
  that forces and stress flow through autograd;
* triplets: :func:`egbench_model_dimenet.triplets.triplets` (plain torch, image-aware back-edge
  test) instead of ``torch_geometric...dimenet.triplets`` (which needs torch-sparse);
* angles: the angle between ``r_ji`` (i -> j) and ``r_kj`` (j -> k) from the edge vectors
  themselves (image shifts included), ``atan2(|a x b|, a . b)`` — torch-geometric's and OCP's
  DimeNet++ convention.

Edge mapping: egbench's edge ``(i, j)`` (centre ``i``) is torch-geometric's ``j -> i`` message,
so torch-geometric's ``i`` (target) is ``edge_index[0]`` and its ``j`` (source) ``edge_index[1]``.
The output blocks sum messages onto their target atom; the per-atom outputs are summed per
structure: the energy in units of ``stats.scale`` relative to core's per-element reference
energies.

Output initialiser: torch-geometric's (and OCP's) default, ``"zeros"``, zero-initialises the
last layer of every output block, so a fresh model predicts E ≡ 0 and zero forces — egbench's
conformance kit (energy must change when atoms move; force loss must reach the weights) cannot
check such a model, so the presets use ``"glorot_orthogonal"`` (the other option of the same
layers). ``"zeros"`` remains available (``output_initializer`` in the model dict).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch_geometric.nn.models.dimenet import (
    BesselBasisLayer,
    EmbeddingBlock,
    InteractionPPBlock,
    OutputPPBlock,
    SphericalBasisLayer,
)
from torch_geometric.nn.resolver import activation_resolver

from egbench_core.plugin_kit import check_settings

from .presets import PAPER_MODEL
from .triplets import triplets

# torch-geometric's DimeNetPlusPlus defaults, except output_initializer: the paper preset's model
DEFAULTS: dict[str, Any] = dict(PAPER_MODEL)

MAX_Z = 94  # EmbeddingBlock has 95 rows, indexed by atomic number


# SphericalBasisLayer derives its basis with sympy (symbolic simplification) on construction: ~4 s
# for 3 x 4 functions, ~20-40 s for the paper's 7 x 6 on a busy 2-core CPU. It has no parameters
# and its symbolic part does not depend on the cutoff (only ``forward`` divides by it), so one
# instance per (num_spherical, num_radial, envelope_exponent) is built per process and every
# build gets a deep copy with its own cutoff.
_SBF_CACHE: dict[tuple[int, int, int], SphericalBasisLayer] = {}


def spherical_basis(num_spherical: int, num_radial: int, cutoff: float, envelope_exponent: int) -> SphericalBasisLayer:
    key = (int(num_spherical), int(num_radial), int(envelope_exponent))
    if key not in _SBF_CACHE:
        _SBF_CACHE[key] = SphericalBasisLayer(key[0], key[1], 1.0, key[2])
    layer = copy.deepcopy(_SBF_CACHE[key])
    layer.cutoff = float(cutoff)
    return layer


def _norm_safe(x: torch.Tensor) -> torch.Tensor:
    """|x| along the last axis with zero (not NaN) gradient at x = 0 (collinear triplets)."""
    sq = (x * x).sum(dim=-1)
    nonzero = sq > 0
    return torch.where(nonzero, torch.sqrt(torch.where(nonzero, sq, torch.ones_like(sq))), torch.zeros_like(sq))


class DimeNetPPPotential(nn.Module):
    """``forward(graph) -> Tensor[B]``: DimeNet++ energy, in units of ``stats.scale``."""

    def __init__(self, species: Sequence[int], cutoff: float, **params: Any):
        super().__init__()
        p = {**DEFAULTS, **check_settings("DimeNet++", params, DEFAULTS)}
        species = [int(z) for z in species]
        if not species or min(species) < 1 or max(species) > MAX_Z:
            raise ValueError(f"DimeNet++ embeds atomic numbers 1..{MAX_Z}; got species {species}")
        if p["num_spherical"] < 2:
            raise ValueError("num_spherical must be at least 2")
        if p["output_initializer"] not in ("zeros", "glorot_orthogonal"):
            raise ValueError(f"output_initializer {p['output_initializer']!r}: expected 'zeros' or 'glorot_orthogonal'")
        self.params = p
        self.cutoff = float(cutoff)
        self.register_buffer("atomic_numbers", torch.tensor(species, dtype=torch.long))
        act = activation_resolver(p["act"])
        h, radial, spherical = p["hidden_channels"], p["num_radial"], p["num_spherical"]
        self.rbf = BesselBasisLayer(radial, self.cutoff, p["envelope_exponent"])
        self.sbf = spherical_basis(spherical, radial, self.cutoff, p["envelope_exponent"])
        self.emb = EmbeddingBlock(radial, h, act)
        self.output_blocks = nn.ModuleList(
            OutputPPBlock(radial, h, p["out_emb_channels"], 1, p["num_output_layers"], act, p["output_initializer"])
            for _ in range(p["num_blocks"] + 1)
        )
        self.interaction_blocks = nn.ModuleList(
            InteractionPPBlock(
                h,
                p["int_emb_size"],
                p["basis_emb_size"],
                spherical,
                radial,
                p["num_before_skip"],
                p["num_after_skip"],
                act,
            )
            for _ in range(p["num_blocks"])
        )

    def geometry(self, graph):
        """Distances [E] (Å), triplet angles [T] (rad), and the triplet index pair (idx_kj, idx_ji)."""
        vec = graph.edge_vectors()
        dist = torch.linalg.vector_norm(vec, dim=-1)
        idx_kj, idx_ji = triplets(graph.edge_index, graph.unit_shifts, int(graph.positions.shape[0]))
        r_ji, r_kj = vec[idx_ji], vec[idx_kj]  # i -> j, j -> k (image shifts included)
        angle = torch.atan2(_norm_safe(torch.cross(r_ji, r_kj, dim=-1)), (r_ji * r_kj).sum(dim=-1))
        return dist, angle, idx_kj, idx_ji

    def atom_energies(self, graph) -> torch.Tensor:
        dist, angle, idx_kj, idx_ji = self.geometry(graph)
        i, j = graph.edge_index  # torch-geometric's target (centre) and source
        n = int(graph.positions.shape[0])
        rbf = self.rbf(dist)
        sbf = self.sbf(dist, angle, idx_kj)
        x = self.emb(self.atomic_numbers[graph.species], rbf, i, j)
        out = self.output_blocks[0](x, rbf, i, num_nodes=n)
        for interaction, output in zip(self.interaction_blocks, self.output_blocks[1:]):
            x = interaction(x, rbf, sbf, idx_kj, idx_ji)
            out = out + output(x, rbf, i, num_nodes=n)
        return out.squeeze(-1)

    def forward(self, graph) -> torch.Tensor:
        e = self.atom_energies(graph)
        return torch.zeros(graph.num_graphs, dtype=e.dtype, device=e.device).index_add(0, graph.batch, e)


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats) -> DimeNetPPPotential:
    return DimeNetPPPotential(species, cutoff, **dict(params))
