"""BOTNet (Body-Ordered Tensor Network; Batatia et al., arXiv:2205.06643) in e3nn.

The architecture of the paper's reference code (github.com/gncs/botnet, ``botnet/modules``: the
``NonLinearBodyOrderedModel`` with ``AgnosticNonlinearInteractionBlock`` first and
``AgnosticResidualNonlinearInteractionBlock`` after it; mace-torch carried the same classes as
``BOTNet`` until 0.3.12), re-implemented here on the e3nn API shared by e3nn 0.4.4 and 0.5/0.6:

* node features start as a linear embedding of the element (scalars only);
* each interaction ``t`` forms equivariant messages that are **linear in the neighbour's
  features**: ``m_i = (1/avg_num_neighbors) · Linear( Σ_j TP( Linear_up(h_j), Y(r̂_ij);
  R(r_ij, z_i, z_j) ) )`` with spherical harmonics ``Y`` up to ``max_ell`` and radial weights
  ``R`` from an MLP over a Bessel basis × polynomial cutoff envelope. There is no non-linearity
  on the features between layers, so layer ``t`` raises the body order by exactly one;
* the update is residual and element-dependent: ``h_i ← m_i + W(z_i) h_i`` (the first layer,
  whose input holds only scalars, applies the element-dependent map to the message instead);
* every layer has a readout; the energy is the sum of all readouts over all atoms. The readouts
  are linear except the last one, a one-hidden-layer MLP (``mlp_irreps``, SiLU). That is the
  only non-linearity acting on features, so a BOTNet with ``nonlinear_readout=False`` is
  exactly body-ordered: ``T`` layers give at most ``(T + 1)``-body energies.

"Nonlinear" in the reference block names refers to the non-linear radial MLP (as opposed to the
linear element-dependent radial weights of its ``ElementDependentInteractionBlock``). Here the
radial MLP is element-dependent as well (``radial_species``): its first layer has one weight
matrix per (centre, neighbour) element pair. It has no biases, so the radial weights vanish with
the envelope at the cutoff and the energy is smooth there.

Returned energies are in units of ``stats.scale`` relative to the per-element reference energies
(egbench's model seam): E0s, the scale and forces/stress are core's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._e3nn import import_e3nn

e3nn = import_e3nn()
from e3nn import nn as enn  # noqa: E402
from e3nn import o3  # noqa: E402
from e3nn.math import normalize2mom  # noqa: E402

RADIAL_SPECIES = ("pair", "neighbour", "none")
GATES = {"silu": torch.nn.functional.silu, "tanh": torch.tanh}


# --------------------------------------------------------------------------------------
# Irreps helpers (the reference code's ``irreps_tools``)
# --------------------------------------------------------------------------------------
def tp_out_irreps_with_instructions(irreps1: o3.Irreps, irreps2: o3.Irreps, target: o3.Irreps):
    """Irreps and 'uvu' instructions of a depthwise tensor product ``irreps1 ⊗ irreps2`` keeping
    only outputs present in ``target`` (sorted, instructions permuted accordingly)."""
    out, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps1):
        for j, (_, ir_edge) in enumerate(irreps2):
            for ir_out in ir_in * ir_edge:
                if ir_out in target:
                    instructions.append((i, j, len(out), "uvu", True))
                    out.append((mul, ir_out))
    irreps_out, perm, _ = o3.Irreps(out).sort()
    instructions = [(i1, i2, perm[k], mode, train) for i1, i2, k, mode, train in instructions]
    return irreps_out, instructions


def linear_out_irreps(irreps: o3.Irreps, target: o3.Irreps) -> o3.Irreps:
    """For each irrep type of (simplified) ``irreps``, the multiplicity it has in ``target``."""
    out = []
    for _, ir in irreps:
        for mul, ir_target in target:
            if ir == ir_target:
                out.append((mul, ir_target))
                break
        else:
            raise ValueError(f"{ir} is not in the hidden irreps {target}")
    return o3.Irreps(out)


# --------------------------------------------------------------------------------------
# Radial part
# --------------------------------------------------------------------------------------
class BesselBasis(torch.nn.Module):
    """``sqrt(2/r_c) sin(nπ r / r_c) / r``, n = 1..num_basis (fixed frequencies)."""

    def __init__(self, cutoff: float, num_basis: int):
        super().__init__()
        self.register_buffer("freq", math.pi / cutoff * torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()))
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:  # [E] -> [E, num_basis]
        r = r[:, None]
        return self.prefactor * torch.sin(self.freq * r) / r


class PolynomialCutoff(torch.nn.Module):
    """Smooth envelope ``1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)``, x = r / r_c."""

    def __init__(self, cutoff: float, p: int):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = float(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p, x = self.p, r / self.cutoff
        env = (
            1.0
            - (p + 1.0) * (p + 2.0) / 2.0 * x**p
            + p * (p + 2.0) * x ** (p + 1.0)
            - p * (p + 1.0) / 2.0 * x ** (p + 2.0)
        )
        return env * (x < 1.0).to(r.dtype)


class RadialEmbedding(torch.nn.Module):
    def __init__(self, cutoff: float, num_bessel: int, num_polynomial_cutoff: int):
        super().__init__()
        self.bessel = BesselBasis(cutoff, num_bessel)
        self.envelope = PolynomialCutoff(cutoff, num_polynomial_cutoff)
        self.out_dim = int(num_bessel)

    def forward(self, r: torch.Tensor) -> torch.Tensor:  # [E] -> [E, num_bessel]
        return self.bessel(r) * self.envelope(r)[:, None]


class SpeciesRadialMLP(torch.nn.Module):
    """Radial weights ``R(r_ij; z_i, z_j)`` of a tensor product, from the radial features.

    First layer: one weight matrix per (centre, neighbour) element pair (``"pair"``), per
    neighbour element (``"neighbour"``) or shared (``"none"``); then an e3nn
    ``FullyConnectedNet`` with SiLU. No biases anywhere: the output is zero where the radial
    features are (beyond the cutoff), so the energy is smooth at the cutoff. ``hidden = []`` gives
    the linear element-dependent radial weights of the reference ``ElementDependent`` blocks.
    """

    def __init__(self, n_species: int, n_basis: int, hidden: Sequence[int], n_out: int, species: str = "pair"):
        super().__init__()
        if species not in RADIAL_SPECIES:
            raise ValueError(f"radial_species {species!r}: expected one of {RADIAL_SPECIES}")
        self.species = species
        self.n_species = int(n_species)
        n_sets = {"pair": n_species * n_species, "neighbour": n_species, "none": 1}[species]
        hidden = [int(h) for h in hidden]
        width = hidden[0] if hidden else int(n_out)
        self.first = torch.nn.Parameter(torch.randn(n_sets, n_basis, width))
        self.norm = 1.0 / math.sqrt(n_basis)
        if hidden:
            self.act = normalize2mom(torch.nn.functional.silu)
            self.rest = enn.FullyConnectedNet(hidden + [int(n_out)], torch.nn.functional.silu)
        else:
            self.act = None
            self.rest = None

    def forward(self, feats: torch.Tensor, s_i: torch.Tensor, s_j: torch.Tensor) -> torch.Tensor:
        if self.species == "pair":
            w = self.first[s_i * self.n_species + s_j]
        elif self.species == "neighbour":
            w = self.first[s_j]
        else:
            w = self.first.expand(feats.shape[0], -1, -1)
        x = torch.einsum("eb,ebh->eh", feats, w) * self.norm
        if self.rest is not None:
            x = self.rest(self.act(x))
        return x


# --------------------------------------------------------------------------------------
# Interaction and readouts
# --------------------------------------------------------------------------------------
class Interaction(torch.nn.Module):
    """One BOTNet layer: messages linear in the neighbours' features, element-dependent
    (residual) update. ``residual=False`` is the first layer (its input holds scalars only)."""

    def __init__(
        self,
        node_irreps,
        sh_irreps,
        hidden_irreps,
        n_species: int,
        n_basis: int,
        radial_mlp: Sequence[int],
        radial_species: str,
        avg_num_neighbors: float,
        residual: bool,
    ):
        super().__init__()
        self.residual = bool(residual)
        self.avg_num_neighbors = float(avg_num_neighbors)
        self.irreps_in = o3.Irreps(node_irreps)
        self.linear_up = o3.Linear(self.irreps_in, self.irreps_in, internal_weights=True, shared_weights=True)
        irreps_mid, instructions = tp_out_irreps_with_instructions(self.irreps_in, sh_irreps, hidden_irreps)
        self.conv_tp = o3.TensorProduct(
            self.irreps_in, sh_irreps, irreps_mid, instructions, shared_weights=False, internal_weights=False
        )
        self.radial = SpeciesRadialMLP(n_species, n_basis, radial_mlp, self.conv_tp.weight_numel, radial_species)
        irreps_mid = irreps_mid.simplify()
        self.irreps_out = linear_out_irreps(irreps_mid, hidden_irreps).simplify()
        self.linear = o3.Linear(irreps_mid, self.irreps_out, internal_weights=True, shared_weights=True)
        attrs = o3.Irreps(f"{n_species}x0e")
        # the element-dependent "selector" tensor product of the reference code
        self.skip_tp = o3.FullyConnectedTensorProduct(
            self.irreps_in if residual else self.irreps_out, attrs, self.irreps_out
        )

    def forward(self, h, node_attrs, edge_sh, edge_feats, edge_index, species):
        i, j = edge_index  # i: centre (receives), j: neighbour
        sc = self.skip_tp(h, node_attrs) if self.residual else None
        h = self.linear_up(h)
        weights = self.radial(edge_feats, species[i], species[j])
        m_ij = self.conv_tp(h[j], edge_sh, weights)
        m = torch.zeros((h.shape[0], m_ij.shape[1]), dtype=m_ij.dtype, device=m_ij.device).index_add(0, i, m_ij)
        m = self.linear(m) / self.avg_num_neighbors
        if self.residual:
            return m + sc
        return self.skip_tp(m, node_attrs)


class NonLinearReadout(torch.nn.Module):
    def __init__(self, irreps_in, mlp_irreps, gate):
        super().__init__()
        self.linear_1 = o3.Linear(irreps_in, mlp_irreps)
        self.non_linearity = enn.Activation(irreps_in=mlp_irreps, acts=[gate])
        self.linear_2 = o3.Linear(mlp_irreps, o3.Irreps("0e"))

    def forward(self, x):
        return self.linear_2(self.non_linearity(self.linear_1(x)))


class BOTNet(torch.nn.Module):
    """``forward(graph) -> Tensor[B]``: the sum over layers and atoms of the readouts.
    :meth:`energy_contributions` gives the per-layer energies ``[B, num_interactions]``."""

    def __init__(
        self,
        n_species: int,
        cutoff: float,
        avg_num_neighbors: float,
        hidden_irreps: str = "32x0e+32x1o+32x2e+32x3o",
        num_interactions: int = 5,
        max_ell: int = 3,
        num_bessel: int = 8,
        num_polynomial_cutoff: int = 6,
        radial_mlp: Sequence[int] = (64, 64, 64),
        radial_species: str = "pair",
        mlp_irreps: str = "16x0e",
        gate: str = "silu",
        nonlinear_readout: bool = True,
    ):
        super().__init__()
        if num_interactions < 1:
            raise ValueError("num_interactions must be at least 1")
        if gate not in GATES:
            raise ValueError(f"gate {gate!r}: expected one of {sorted(GATES)}")
        hidden = o3.Irreps(hidden_irreps).sort().irreps.simplify()
        n_scalars = hidden.count(o3.Irrep(0, 1))
        if n_scalars == 0:
            raise ValueError(f"hidden irreps {hidden} have no 0e channels")
        self.n_species = int(n_species)
        self.cutoff = float(cutoff)
        self.num_interactions = int(num_interactions)
        node_attr_irreps = o3.Irreps(f"{n_species}x0e")
        self.node_embedding = o3.Linear(node_attr_irreps, o3.Irreps(f"{n_scalars}x0e"))
        self.radial_embedding = RadialEmbedding(cutoff, num_bessel, num_polynomial_cutoff)
        sh_irreps = o3.Irreps.spherical_harmonics(max_ell)
        self.spherical_harmonics = o3.SphericalHarmonics(sh_irreps, normalize=True, normalization="component")
        self.interactions = torch.nn.ModuleList()
        self.readouts = torch.nn.ModuleList()
        irreps = o3.Irreps(f"{n_scalars}x0e")
        for t in range(num_interactions):
            inter = Interaction(
                irreps,
                sh_irreps,
                hidden,
                n_species,
                num_bessel,
                list(radial_mlp),
                radial_species,
                avg_num_neighbors,
                residual=t > 0,
            )
            self.interactions.append(inter)
            irreps = inter.irreps_out
            # as in the reference NonLinearBodyOrderedModel: the last readout is an MLP (from the
            # second layer on; a one-layer model keeps its linear readout)
            if nonlinear_readout and t == num_interactions - 1 and t > 0:
                self.readouts.append(NonLinearReadout(irreps, o3.Irreps(mlp_irreps), GATES[gate]))
            else:
                self.readouts.append(o3.Linear(irreps, o3.Irreps("0e")))

    def energy_contributions(self, graph) -> torch.Tensor:
        """Energy of each layer's readout, summed over each structure's atoms: ``[B, T]``."""
        vectors = graph.edge_vectors()
        lengths = torch.linalg.norm(vectors, dim=-1)
        edge_sh = self.spherical_harmonics(vectors)
        edge_feats = self.radial_embedding(lengths)
        species = graph.species
        node_attrs = torch.nn.functional.one_hot(species, self.n_species).to(vectors.dtype)
        h = self.node_embedding(node_attrs)
        out = []
        for interaction, readout in zip(self.interactions, self.readouts):
            h = interaction(h, node_attrs, edge_sh, edge_feats, graph.edge_index, species)
            node_energy = readout(h).squeeze(-1)
            e = torch.zeros(graph.num_graphs, dtype=node_energy.dtype, device=node_energy.device)
            out.append(e.index_add(0, graph.batch, node_energy))
        return torch.stack(out, dim=-1)

    def forward(self, graph) -> torch.Tensor:
        return self.energy_contributions(graph).sum(-1)


def build(species: Sequence[int], cutoff: float, params, stats) -> BOTNet:
    """``BOTNet`` for ``species`` (sorted atomic numbers); ``params`` = a preset's ``model`` dict."""
    return BOTNet(
        n_species=len(species), cutoff=float(cutoff), avg_num_neighbors=float(stats.avg_num_neighbors), **dict(params)
    )
