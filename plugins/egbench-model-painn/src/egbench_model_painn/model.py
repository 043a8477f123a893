"""PaiNN in plain torch: Schütt, Unke, Gastegger, "Equivariant message passing for the prediction
of tensorial properties and molecular spectra", ICML 2021 (arXiv:2102.03150).

Every atom carries scalar features ``s`` [N, F] and vector features ``v`` [N, 3, F] (the Cartesian
axis in the middle, as in SchNetPack). Starting from ``s = embedding(species)`` and ``v = 0``,
each of the ``interactions`` layers applies

* the **message block** (paper eq. 7-8, Fig. 2b): a filter ``W(r_ij) = Linear(rbf(r_ij)) · f_cut(r_ij)``
  times ``φ(s_j)`` (a 2-layer MLP, F → F → 3F), split into three F-wide parts::

      Δs_i = Σ_j  φ_s(s_j) ∘ W_s(r_ij)
      Δv_i = Σ_j  v_j ∘ φ_vv(s_j) ∘ W_vv(r_ij)  +  Σ_j  φ_vs(s_j) ∘ W_vs(r_ij) · r_ij / |r_ij|

* the **update block** (eq. 9-11, Fig. 2c): linear maps ``U``, ``V`` over the feature axis (no
  bias: they must commute with rotations), ``a = MLP([s_i, ||V v_i||])`` (2F → F → 3F) split into
  ``a_vv``, ``a_sv``, ``a_ss``::

      Δv_i = a_vv ∘ (U v_i)
      Δs_i = a_ss + a_sv ∘ <U v_i, V v_i>

  both added residually. ``||V v_i||`` is ``sqrt(Σ_xyz (V v_i)² + ε)`` (ε = 1e-8, as SchNetPack:
  keeps the gradient finite at v = 0).

Radial basis: the paper's ``sin(n π r / r_c) / r`` (n = 1..K, ``rbf_kind="sinc"``) or
SchNetPack's Gaussians on [0, r_c] (``"gaussian"``); cosine cutoff. The filters are one linear map
per layer (``shared_filters=False``, the default, as SchNetPack) or one for all layers. The
readout is atom-wise, ``Linear(F, F/2) → SiLU → Linear(F/2, 1)``, summed per structure: the
energy in units of ``stats.scale`` relative to the per-element reference energies that core adds.

Edges follow egbench's convention: ``(i, j) = graph.edge_index`` with ``i`` the centre that
receives the message from neighbour ``j``; ``r_ij = graph.edge_vectors()`` (periodic images
included, differentiable with respect to positions and cell).
"""

from __future__ import annotations

import math

import torch
from torch import nn

RBF_KINDS = ("sinc", "gaussian")


class RadialBasis(nn.Module):
    """K radial functions of the distance r (Å) -> [E, K]."""

    def __init__(self, n_rbf: int, cutoff: float, kind: str = "sinc"):
        super().__init__()
        if kind not in RBF_KINDS:
            raise ValueError(f"rbf_kind {kind!r}: expected one of {RBF_KINDS}")
        self.kind, self.cutoff, self.n_rbf = kind, float(cutoff), int(n_rbf)
        if kind == "sinc":  # the paper: sin(n pi r / r_c) / r
            self.register_buffer("freq", torch.arange(1, n_rbf + 1, dtype=torch.get_default_dtype()) * math.pi / cutoff)
        else:  # SchNetPack's GaussianRBF: centres on [0, r_c], width = spacing
            if n_rbf < 2:
                raise ValueError("Gaussian radial basis needs n_rbf >= 2")
            centres = torch.linspace(0.0, cutoff, n_rbf)
            self.register_buffer("centres", centres)
            self.gamma = 0.5 / float(centres[1] - centres[0]) ** 2

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r[:, None]
        if self.kind == "sinc":
            return torch.sin(self.freq * r) / r
        return torch.exp(-self.gamma * (r - self.centres) ** 2)


def cosine_cutoff(r: torch.Tensor, cutoff: float) -> torch.Tensor:
    return 0.5 * (torch.cos(math.pi * r / cutoff) + 1.0) * (r < cutoff).to(r.dtype)


class PaiNNMessage(nn.Module):
    """Message block: returns (Δs [N, F], Δv [N, 3, F])."""

    def __init__(self, features: int):
        super().__init__()
        self.features = features
        self.phi = nn.Sequential(nn.Linear(features, features), nn.SiLU(), nn.Linear(features, 3 * features))

    def split(self, s, filters, j):
        """The three per-edge factors (φ_s∘W_s, φ_vv∘W_vv, φ_vs∘W_vs), each [E, F]."""
        x = self.phi(s)[j] * filters
        return torch.split(x, self.features, dim=-1)

    def forward(self, s, v, filters, unit, edge_index):
        i, j = edge_index
        x_s, x_vv, x_vs = self.split(s, filters, j)
        ds = torch.zeros_like(s).index_add(0, i, x_s)
        dv_edge = v[j] * x_vv[:, None, :] + unit[:, :, None] * x_vs[:, None, :]
        dv = torch.zeros_like(v).index_add(0, i, dv_edge)
        return ds, dv


class PaiNNUpdate(nn.Module):
    """Update block: returns (Δs [N, F], Δv [N, 3, F])."""

    def __init__(self, features: int, epsilon: float = 1e-8):
        super().__init__()
        self.features, self.epsilon = features, float(epsilon)
        self.U = nn.Linear(features, features, bias=False)
        self.V = nn.Linear(features, features, bias=False)
        self.a = nn.Sequential(nn.Linear(2 * features, features), nn.SiLU(), nn.Linear(features, 3 * features))

    def forward(self, s, v):
        uv, vv = self.U(v), self.V(v)  # linear over the feature axis: commutes with rotations
        vv_norm = torch.sqrt((vv**2).sum(dim=1) + self.epsilon)
        a_vv, a_sv, a_ss = torch.split(self.a(torch.cat([s, vv_norm], dim=-1)), self.features, dim=-1)
        dv = a_vv[:, None, :] * uv
        ds = a_ss + a_sv * (uv * vv).sum(dim=1)
        return ds, dv


class PaiNN(nn.Module):
    """``forward(graph) -> Tensor[B]``: energy in units of ``stats.scale``."""

    def __init__(
        self,
        n_species: int,
        cutoff: float,
        features: int = 128,
        interactions: int = 3,
        n_rbf: int = 20,
        rbf_kind: str = "sinc",
        shared_filters: bool = False,
        shared_interactions: bool = False,
        epsilon: float = 1e-8,
    ):
        super().__init__()
        if features < 2 or interactions < 1 or n_rbf < 1:
            raise ValueError("PaiNN needs features >= 2, interactions >= 1, n_rbf >= 1")
        self.cutoff = float(cutoff)
        self.features, self.interactions = int(features), int(interactions)
        self.shared_filters, self.shared_interactions = bool(shared_filters), bool(shared_interactions)
        self.embedding = nn.Embedding(n_species, features)
        self.radial = RadialBasis(n_rbf, cutoff, rbf_kind)
        n_filter_sets = 1 if shared_filters else interactions
        self.filter_net = nn.Linear(n_rbf, 3 * features * n_filter_sets)
        n_blocks = 1 if shared_interactions else interactions
        self.messages = nn.ModuleList(PaiNNMessage(features) for _ in range(n_blocks))
        self.updates = nn.ModuleList(PaiNNUpdate(features, epsilon) for _ in range(n_blocks))
        self.readout = nn.Sequential(nn.Linear(features, features // 2), nn.SiLU(), nn.Linear(features // 2, 1))

    def edge_features(self, graph):
        """Unit vectors [E, 3] and one filter tensor [E, 3F] per layer."""
        vec = graph.edge_vectors()
        r = torch.linalg.vector_norm(vec, dim=-1)
        unit = vec / r[:, None]
        filters = self.filter_net(self.radial(r)) * cosine_cutoff(r, self.cutoff)[:, None]
        if self.shared_filters:
            per_layer = [filters] * self.interactions
        else:
            per_layer = list(torch.split(filters, 3 * self.features, dim=-1))
        return unit, per_layer

    def block(self, layer: int) -> tuple[PaiNNMessage, PaiNNUpdate]:
        k = 0 if self.shared_interactions else layer
        return self.messages[k], self.updates[k]

    def representation(self, graph) -> tuple[torch.Tensor, torch.Tensor]:
        """Scalar features [N, F] (invariant) and vector features [N, 3, F] (equivariant)."""
        unit, filters = self.edge_features(graph)
        s = self.embedding(graph.species)
        v = s.new_zeros((s.shape[0], 3, self.features))
        for layer in range(self.interactions):
            message, update = self.block(layer)
            ds, dv = message(s, v, filters[layer], unit, graph.edge_index)
            s, v = s + ds, v + dv
            ds, dv = update(s, v)
            s, v = s + ds, v + dv
        return s, v

    def forward(self, graph) -> torch.Tensor:
        s, _ = self.representation(graph)
        atom_energy = self.readout(s).squeeze(-1)
        out = torch.zeros(graph.num_graphs, dtype=atom_energy.dtype, device=atom_energy.device)
        return out.index_add(0, graph.batch, atom_energy)


def build(species, cutoff: float, params, stats) -> PaiNN:
    """``PaiNN`` for ``species`` (sorted atomic numbers); ``params`` = the preset's ``model`` dict."""
    return PaiNN(n_species=len(species), cutoff=cutoff, **dict(params))
