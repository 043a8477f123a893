"""Equiformer v1 (Liao & Smidt, ICLR 2023), the MD17 variant, re-implemented with e3nn.

Follows ``GraphAttentionTransformerMD17`` as built by
``graph_attention_transformer_nonlinear_exp_l2_md17`` in the authors' code
(github.com/atomicarchitects/equiformer, ``nets/graph_attention_transformer{,_md17}.py``):

* input: an element embedding (the authors' one-hot over 64 atom types, "64x0e", through a
  linear layer; here an ``Embedding`` over the model's species, the same function class) plus
  the **edge-degree embedding** ``Σ_j Linear(DTP(c, Y(r̂_ij); R(r_ij))) / sqrt(avg degree)``;
* radial basis: exponential-normal functions (``ExpNormalSmearing`` of TorchMD-Net, with its
  built-in cosine cutoff), fed to radial MLPs (``RadialProfile``: Linear, LayerNorm, SiLU);
* ``num_layers`` pre-norm Transformer blocks: ``x ← x + GA(LN(x))``, ``x ← x + FFN(LN(x))``
  (the last block maps to the scalar ``irreps_feature`` through a linear shortcut);
* **equivariant graph attention with non-linear messages**: ``x_ij = Lin_src(x_j) + Lin_dst(x_i)``;
  a depthwise tensor product (DTP) with the edge's spherical harmonics, weighted by a radial
  MLP; its scalars give per-head attention logits through SmoothLeakyReLU and a dot product with
  learned vectors (MLP attention), normalised by a softmax over each atom's neighbours; the
  value goes through a linear layer, a gate activation and a second DTP (internal weights),
  is split into heads, weighted by the attention and summed; the heads are merged by a linear
  projection;
* equivariant layer norm (``EquivariantLayerNormV2``), gated feed-forward networks, a final
  layer norm and scalar MLP head, energies summed over atoms.

What differs from the authors' code, and why (see README.md):

* ``smooth_cutoff=True`` (default) makes the energy smooth where a neighbour crosses the cutoff,
  which the original is not (its radial MLPs have biases and its softmax gives an entering
  neighbour finite weight at once): a polynomial envelope ``u(r)`` (p = 6, no cosine) multiplies
  the attention values and the edge-degree terms, and the softmax is envelope-weighted,
  ``α_ij = u_ij exp(a_ij) / Σ_k u_ik exp(a_ik)`` (it still sums to one over each atom's
  neighbours). ``smooth_cutoff=False`` gives the original behaviour.
* The tensor products use e3nn's default normalisation instead of the authors' re-scaled
  ("TensorProductRescale") initialisation, the average degree comes from the training split
  instead of QM9's statistics, and the per-structure sum is not divided by sqrt(18.03) (QM9's
  average number of atoms): these change initial scales only. Dropout is off (the MD17 variant
  uses 0.0 everywhere).
* The two linear maps of the attention's DTP output (to the logits and to the gate) are one map
  onto the concatenated outputs, and the gate is a plain-torch equivalent of e3nn's ``nn.Gate``:
  the same functions, fewer generated modules (faster to build and to run).

Periodic cells work through the edge vectors ``graph.edge_vectors()`` (neighbours include
periodic images): the authors' MD runs gave Equiformer no cell at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._e3nn import import_e3nn

e3nn = import_e3nn()
from e3nn import o3  # noqa: E402


# --------------------------------------------------------------------------------------
# Small building blocks
# --------------------------------------------------------------------------------------
class ExpNormalSmearing(torch.nn.Module):
    """TorchMD-Net's exp-normal basis, as Equiformer's ``basis_type='exp'``:
    ``f_c(r) exp(-β (exp(-α r) - μ_k)²)`` with a cosine cutoff ``f_c``, α = 5 / r_c."""

    def __init__(self, cutoff: float, num_rbf: int):
        super().__init__()
        self.cutoff = float(cutoff)
        self.alpha = 5.0 / self.cutoff
        start = math.exp(-self.cutoff)
        self.register_buffer("means", torch.linspace(start, 1.0, num_rbf))
        self.register_buffer("betas", torch.full((num_rbf,), (2.0 / num_rbf * (1.0 - start)) ** -2))

    def forward(self, r: torch.Tensor) -> torch.Tensor:  # [E] -> [E, num_rbf]
        r = r[:, None]
        fc = 0.5 * (torch.cos(math.pi * r / self.cutoff) + 1.0) * (r < self.cutoff).to(r.dtype)
        return fc * torch.exp(-self.betas * (torch.exp(-self.alpha * r) - self.means) ** 2)


class PolynomialEnvelope(torch.nn.Module):
    """``1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)``, x = r / r_c (0 beyond)."""

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        self.cutoff, self.p = float(cutoff), float(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p, x = self.p, r / self.cutoff
        env = (
            1.0
            - (p + 1.0) * (p + 2.0) / 2.0 * x**p
            + p * (p + 2.0) * x ** (p + 1.0)
            - p * (p + 1.0) / 2.0 * x ** (p + 2.0)
        )
        return env * (x < 1.0).to(r.dtype)


class RadialProfile(torch.nn.Module):
    """Equiformer's radial MLP: (Linear, LayerNorm, SiLU) per hidden layer, a bias-free last
    layer plus a learned offset."""

    def __init__(self, channels: Sequence[int]):
        super().__init__()
        layers = []
        for k in range(1, len(channels)):
            last = k == len(channels) - 1
            layers.append(torch.nn.Linear(channels[k - 1], channels[k], bias=not last))
            if not last:
                layers += [torch.nn.LayerNorm(channels[k]), torch.nn.SiLU()]
        self.net = torch.nn.Sequential(*layers)
        bound = 1.0 / math.sqrt(channels[-2])
        self.offset = torch.nn.Parameter(torch.empty(channels[-1]).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) + self.offset


class SmoothLeakyReLU(torch.nn.Module):
    def __init__(self, negative_slope: float = 0.2):
        super().__init__()
        self.alpha = float(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (1 + self.alpha) * x + 0.5 * (1 - self.alpha) * x * (2 * torch.sigmoid(x) - 1)


def linear(irreps_in, irreps_out, bias: bool = True):
    """Equiformer's ``LinearRS``: an equivariant linear map with biases on the 0e outputs."""
    return o3.Linear(o3.Irreps(irreps_in), o3.Irreps(irreps_out), biases=bias)


def depthwise_tp(irreps_in, irreps_sh, irreps_target, internal_weights: bool):
    """Equiformer's ``DepthwiseTensorProduct``: 'uvu' paths from each input channel and each
    spherical harmonic to every output irrep present in ``irreps_target`` (and always 0e)."""
    irreps_in, irreps_sh, irreps_target = o3.Irreps(irreps_in), o3.Irreps(irreps_sh), o3.Irreps(irreps_target)
    out, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in irreps_target or ir_out == o3.Irrep(0, 1):
                    instructions.append((i, j, len(out), "uvu", True))
                    out.append((mul, ir_out))
    irreps_out, perm, _ = o3.Irreps(out).sort()
    instructions = [(i1, i2, perm[k], mode, train) for i1, i2, k, mode, train in instructions]
    return o3.TensorProduct(
        irreps_in,
        irreps_sh,
        irreps_out,
        instructions,
        internal_weights=internal_weights,
        shared_weights=internal_weights,
    )


_NORMALISATION: dict[str, float] = {}


def normalised(name: str):
    """SiLU or sigmoid scaled to unit second moment under a standard normal input (what e3nn's
    ``Activation``/``Gate`` and Equiformer's fast ``Gate`` do); the constant is computed once."""
    f = {"silu": torch.nn.functional.silu, "sigmoid": torch.sigmoid}[name]
    if name not in _NORMALISATION:
        from e3nn.math import normalize2mom

        _NORMALISATION[name] = float(normalize2mom(f).cst)
    return f, _NORMALISATION[name]


class ScalarActivation(torch.nn.Module):
    """Normalised SiLU on scalar (0e) features."""

    def __init__(self):
        super().__init__()
        self.cst = normalised("silu")[1]

    def forward(self, x):
        return torch.nn.functional.silu(x) * self.cst


class Gate(torch.nn.Module):
    """Equiformer's gate activation: normalised SiLU on the 0e channels; every other channel is
    multiplied by the normalised sigmoid of its own gate scalar. The input is laid out as
    ``irreps_in`` = scalars + gates + gated (what the preceding linear layer produces); the output
    is ``irreps_out`` = scalars + gated. The same function as e3nn's ``nn.Gate``, without its
    per-instance codegen."""

    def __init__(self, irreps):
        super().__init__()
        irreps = o3.Irreps(irreps)
        self.scalars = o3.Irreps([(mul, ir) for mul, ir in irreps if ir.l == 0 and ir.p == 1]).simplify()
        self.gated = o3.Irreps([(mul, ir) for mul, ir in irreps if not (ir.l == 0 and ir.p == 1)]).simplify()
        n_gates = self.gated.num_irreps
        self.irreps_in = self.scalars + (o3.Irreps(f"{n_gates}x0e") if n_gates else o3.Irreps("")) + self.gated
        self.irreps_out = self.scalars + self.gated
        self.n_scalars, self.n_gates = self.scalars.dim, n_gates
        self.blocks = [(mul, ir.dim) for mul, ir in self.gated]
        self.c_silu = normalised("silu")[1]
        self.c_sigmoid = normalised("sigmoid")[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch.split (not narrow/slicing): its backward concatenates, instead of scattering each
        # slice's gradient into a full-size zero tensor
        sizes = [self.n_scalars, self.n_gates] + [mul * dim for mul, dim in self.blocks]
        scalars, gates, *gated = torch.split(x, sizes, dim=1)
        out = [torch.nn.functional.silu(scalars) * self.c_silu]
        if self.n_gates:
            gates = torch.sigmoid(gates) * self.c_sigmoid
            for block, g, (mul, dim) in zip(gated, torch.split(gates, [m for m, _ in self.blocks], dim=1), self.blocks):
                out.append((block.reshape(-1, mul, dim) * g[:, :, None]).reshape(-1, mul * dim))
        return torch.cat(out, dim=1)


def gate_for(irreps) -> Gate:
    return Gate(irreps)


class EquivariantLayerNorm(torch.nn.Module):
    """Equiformer's ``EquivariantLayerNormV2`` (component normalisation): per irrep type, centre
    the 0e channels, divide by the RMS over channels and components, learned scale (and bias
    for 0e)."""

    def __init__(self, irreps, eps: float = 1e-5):
        super().__init__()
        self.irreps = o3.Irreps(irreps)
        self.eps = float(eps)
        self.weight = torch.nn.Parameter(torch.ones(self.irreps.num_irreps))
        self.bias = torch.nn.Parameter(torch.zeros(sum(mul for mul, ir in self.irreps if ir.l == 0 and ir.p == 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fields, iw, ib = [], 0, 0
        for (mul, ir), field in zip(self.irreps, torch.split(x, [mul * ir.dim for mul, ir in self.irreps], dim=1)):
            d = ir.dim
            field = field.reshape(-1, mul, d)
            scalar = ir.l == 0 and ir.p == 1
            if scalar:
                field = field - field.mean(dim=1, keepdim=True)
            norm = field.pow(2).mean(-1).mean(dim=1, keepdim=True)  # [N, 1]
            scale = (norm + self.eps).pow(-0.5) * self.weight[None, iw : iw + mul]
            iw += mul
            field = field * scale[:, :, None]
            if scalar:
                field = field + self.bias[ib : ib + mul].reshape(mul, 1)
                ib += mul
            fields.append(field.reshape(-1, mul * d))
        return torch.cat(fields, dim=-1)


class Vec2Heads(torch.nn.Module):
    """``[N, irreps_head * H]`` (each irrep block holding H heads' channels) -> ``[N, H, head dim]``."""

    def __init__(self, irreps_head, num_heads: int):
        super().__init__()
        self.num_heads = int(num_heads)
        self.sizes = [mul * num_heads * ir.dim for mul, ir in o3.Irreps(irreps_head)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        return torch.cat([b.reshape(n, self.num_heads, -1) for b in torch.split(x, self.sizes, dim=1)], dim=2)


class Heads2Vec(torch.nn.Module):
    """Inverse of :class:`Vec2Heads`."""

    def __init__(self, irreps_head):
        super().__init__()
        self.sizes = [mul * ir.dim for mul, ir in o3.Irreps(irreps_head)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        return torch.cat([b.reshape(n, -1) for b in torch.split(x, self.sizes, dim=2)], dim=1)


def envelope_softmax(logits: torch.Tensor, envelope: torch.Tensor | None, index: torch.Tensor, num_nodes: int):
    """Softmax of ``logits`` [E, H] over the edges sharing ``index`` (their centre atom), each
    term weighted by ``envelope`` [E] (None: plain softmax). Sums to one over each centre."""
    heads = logits.shape[1]
    idx = index[:, None].expand(-1, heads)
    big = torch.full((num_nodes, heads), float("-inf"), dtype=logits.dtype, device=logits.device)
    shift = big.scatter_reduce(0, idx, logits.detach(), reduce="amax", include_self=True)
    w = torch.exp(logits - shift[index])
    if envelope is not None:
        w = w * envelope[:, None]
    denom = torch.zeros((num_nodes, heads), dtype=w.dtype, device=w.device).index_add(0, index, w)
    return w / denom[index].clamp_min(torch.finfo(w.dtype).tiny)


# --------------------------------------------------------------------------------------
# Attention, feed-forward, blocks
# --------------------------------------------------------------------------------------
class GraphAttention(torch.nn.Module):
    """Equivariant graph attention with non-linear messages (``nonlinear_message=True``)."""

    def __init__(self, irreps_node, irreps_sh, fc_neurons: Sequence[int], irreps_head, num_heads: int):
        super().__init__()
        irreps_node = o3.Irreps(irreps_node)
        self.irreps_head = o3.Irreps(irreps_head)
        self.num_heads = int(num_heads)
        irreps_heads = o3.Irreps([(mul * num_heads, ir) for mul, ir in self.irreps_head])
        self.mul_alpha_head = self.irreps_head.count(o3.Irrep(0, 1))
        if self.mul_alpha_head == 0:
            raise ValueError(f"irreps_head {self.irreps_head} needs 0e channels for the attention logits")
        self.merge_src = linear(irreps_node, irreps_node, bias=True)
        self.merge_dst = linear(irreps_node, irreps_node, bias=False)
        # non-linear message: DTP weighted by a radial MLP, then logits / gated value
        self.dtp_act = depthwise_tp(irreps_node, irreps_sh, irreps_node, internal_weights=False)
        self.rad_act = RadialProfile(list(fc_neurons) + [self.dtp_act.weight_numel])
        self.gate = gate_for(irreps_node)
        # the authors' two linear maps of the DTP output (to the attention scalars, "sep_alpha", and
        # to the gate's input, "sep_act.lin") as one map onto the concatenated outputs
        self.n_alpha = self.mul_alpha_head * num_heads
        self.lin_alpha_act = linear(
            self.dtp_act.irreps_out.simplify(), o3.Irreps(f"{self.n_alpha}x0e") + self.gate.irreps_in
        )
        self.dtp_value = depthwise_tp(self.gate.irreps_out, irreps_sh, irreps_heads, internal_weights=True)
        self.lin_value = linear(self.dtp_value.irreps_out.simplify(), irreps_heads)
        self.vec2heads = Vec2Heads(self.irreps_head, num_heads)
        self.heads2vec = Heads2Vec(self.irreps_head)
        self.alpha_act = SmoothLeakyReLU(0.2)
        self.alpha_dot = torch.nn.Parameter(torch.empty(num_heads, self.mul_alpha_head))
        bound = math.sqrt(6.0 / (num_heads + self.mul_alpha_head))  # glorot, as the authors (after GATv2)
        torch.nn.init.uniform_(self.alpha_dot, -bound, bound)
        self.proj = linear(irreps_heads, irreps_node)

    def forward(self, x, edge_index, edge_sh, edge_rbf, envelope):
        i, j = edge_index  # i: centre ("dst"), j: neighbour ("src")
        n = x.shape[0]
        message = self.merge_src(x)[j] + self.merge_dst(x)[i]
        message = self.dtp_act(message, edge_sh, self.rad_act(edge_rbf))
        logits, value = torch.split(self.lin_alpha_act(message), [self.n_alpha, self.gate.irreps_in.dim], dim=1)
        logits = self.alpha_act(logits.reshape(-1, self.num_heads, self.mul_alpha_head))
        logits = torch.einsum("ehk,hk->eh", logits, self.alpha_dot)  # [E, H]
        value = self.gate(value)
        value = self.lin_value(self.dtp_value(value, edge_sh))
        value = self.vec2heads(value)  # [E, H, head dim]
        alpha = envelope_softmax(logits, envelope, i, n)  # [E, H]
        weight = alpha if envelope is None else alpha * envelope[:, None]
        out = torch.zeros((n,) + value.shape[1:], dtype=value.dtype, device=value.device)
        out = out.index_add(0, i, value * weight[:, :, None])
        return self.proj(self.heads2vec(out)), alpha


class FeedForward(torch.nn.Module):
    """Linear -> gate -> linear (the authors' FCTPs with the constant 1x0e node attribute)."""

    def __init__(self, irreps_in, irreps_mid, irreps_out):
        super().__init__()
        self.gate = gate_for(irreps_mid)
        self.lin_1 = linear(irreps_in, self.gate.irreps_in)
        self.lin_2 = linear(self.gate.irreps_out, irreps_out)

    def forward(self, x):
        return self.lin_2(self.gate(self.lin_1(x)))


class TransBlock(torch.nn.Module):
    def __init__(self, irreps_node, irreps_out, irreps_sh, fc_neurons, irreps_head, num_heads, irreps_mlp_mid):
        super().__init__()
        self.norm_1 = EquivariantLayerNorm(irreps_node)
        self.ga = GraphAttention(irreps_node, irreps_sh, fc_neurons, irreps_head, num_heads)
        self.norm_2 = EquivariantLayerNorm(irreps_node)
        self.ffn = FeedForward(irreps_node, irreps_mlp_mid, irreps_out)
        self.shortcut = None if o3.Irreps(irreps_node) == o3.Irreps(irreps_out) else linear(irreps_node, irreps_out)

    def forward(self, x, edge_index, edge_sh, edge_rbf, envelope):
        y, alpha = self.ga(self.norm_1(x), edge_index, edge_sh, edge_rbf, envelope)
        x = x + y
        y = self.ffn(self.norm_2(x))
        if self.shortcut is not None:
            x = self.shortcut(x)
        return x + y, alpha


class EdgeDegreeEmbedding(torch.nn.Module):
    """``Σ_j Linear(DTP(c, Y(r̂_ij); R(r_ij))) / sqrt(avg degree)`` with a learned constant scalar
    vector ``c`` (the authors feed ones through a linear layer with bias; only its 0e part is
    non-zero, so the DTP is built on the scalars)."""

    def __init__(self, irreps_node, irreps_sh, fc_neurons, avg_degree: float):
        super().__init__()
        irreps_node = o3.Irreps(irreps_node)
        n_scalars = irreps_node.count(o3.Irrep(0, 1))
        self.const = torch.nn.Parameter(torch.randn(n_scalars))
        self.dtp = depthwise_tp(o3.Irreps(f"{n_scalars}x0e"), irreps_sh, irreps_node, internal_weights=False)
        self.rad = RadialProfile(list(fc_neurons) + [self.dtp.weight_numel])
        self.proj = linear(self.dtp.irreps_out.simplify(), irreps_node)
        self.norm = 1.0 / math.sqrt(max(float(avg_degree), 1.0))

    def forward(self, num_nodes, edge_index, edge_sh, edge_rbf, envelope):
        i = edge_index[0]
        c = self.const.to(edge_sh.dtype).expand(edge_sh.shape[0], -1)
        e = self.proj(self.dtp(c, edge_sh, self.rad(edge_rbf)))
        if envelope is not None:
            e = e * envelope[:, None]
        out = torch.zeros((num_nodes, e.shape[1]), dtype=e.dtype, device=e.device).index_add(0, i, e)
        return out * self.norm


class Equiformer(torch.nn.Module):
    """``forward(graph) -> Tensor[B]``; ``forward(graph, return_attention=True)`` also returns the
    attention weights of every block, each ``[E, num_heads]`` in the order of ``graph.edge_index``
    (centre ``edge_index[0]``), summing to one over each atom's neighbours."""

    def __init__(
        self,
        n_species: int,
        cutoff: float,
        avg_num_neighbors: float,
        irreps_node_embedding: str = "128x0e+64x1e+32x2e",
        num_layers: int = 6,
        irreps_sh: str = "1x0e+1x1e+1x2e",
        num_basis: int = 32,
        basis_type: str = "exp",
        fc_neurons: Sequence[int] = (64, 64),
        irreps_feature: str = "512x0e",
        irreps_head: str = "32x0e+16x1e+8x2e",
        num_heads: int = 4,
        irreps_mlp_mid: str = "384x0e+192x1e+96x2e",
        smooth_cutoff: bool = True,
        envelope_p: int = 6,
    ):
        super().__init__()
        if basis_type != "exp":
            raise ValueError(f"basis_type {basis_type!r}: only 'exp' (the MD17 variant's) is implemented")
        irreps_node = o3.Irreps(irreps_node_embedding)
        if irreps_node != irreps_node.sort().irreps.simplify() or irreps_node[0].ir != o3.Irrep(0, 1):
            raise ValueError(f"irreps_node_embedding {irreps_node} must be sorted, simplified and start with 0e")
        irreps_head = o3.Irreps(irreps_head)
        if irreps_head != irreps_head.sort().irreps.simplify():
            raise ValueError(f"irreps_head {irreps_head} must be sorted and simplified")
        if o3.Irreps(irreps_feature).lmax != 0:
            raise ValueError("irreps_feature must be scalars (the energy head reads 0e channels)")
        self.n_species = int(n_species)
        self.cutoff = float(cutoff)
        self.irreps_node = irreps_node
        self.n_scalars = irreps_node.count(o3.Irrep(0, 1))
        self.embedding = torch.nn.Embedding(n_species, self.n_scalars)
        self.spherical_harmonics = o3.SphericalHarmonics(
            o3.Irreps(irreps_sh), normalize=True, normalization="component"
        )
        self.rbf = ExpNormalSmearing(cutoff, num_basis)
        self.envelope = PolynomialEnvelope(cutoff, envelope_p) if smooth_cutoff else None
        fc = [int(num_basis)] + [int(h) for h in fc_neurons]
        self.edge_degree = EdgeDegreeEmbedding(irreps_node, irreps_sh, fc, avg_num_neighbors)
        self.blocks = torch.nn.ModuleList(
            TransBlock(
                irreps_node,
                irreps_node if k < num_layers - 1 else irreps_feature,
                irreps_sh,
                fc,
                irreps_head,
                num_heads,
                irreps_mlp_mid,
            )
            for k in range(num_layers)
        )
        self.norm = EquivariantLayerNorm(irreps_feature)
        self.head = torch.nn.Sequential(
            linear(irreps_feature, irreps_feature), ScalarActivation(), linear(irreps_feature, "1x0e")
        )

    def forward(self, graph, return_attention: bool = False):
        vectors = graph.edge_vectors()
        lengths = torch.linalg.norm(vectors, dim=-1)
        edge_sh = self.spherical_harmonics(vectors)
        edge_rbf = self.rbf(lengths)
        envelope = self.envelope(lengths) if self.envelope is not None else None
        n = graph.positions.shape[0]
        x = self.embedding(graph.species).to(vectors.dtype)
        x = torch.cat([x, x.new_zeros((n, self.irreps_node.dim - self.n_scalars))], dim=1)
        x = x + self.edge_degree(n, graph.edge_index, edge_sh, edge_rbf, envelope)
        attention = []
        for block in self.blocks:
            x, alpha = block(x, graph.edge_index, edge_sh, edge_rbf, envelope)
            attention.append(alpha)
        node_energy = self.head(self.norm(x)).squeeze(-1)
        energy = torch.zeros(graph.num_graphs, dtype=node_energy.dtype, device=node_energy.device)
        energy = energy.index_add(0, graph.batch, node_energy)
        return (energy, attention) if return_attention else energy


def build(species: Sequence[int], cutoff: float, params, stats) -> Equiformer:
    """``Equiformer`` for ``species`` (sorted atomic numbers); ``params`` = a preset's ``model`` dict."""
    return Equiformer(
        n_species=len(species), cutoff=float(cutoff), avg_num_neighbors=float(stats.avg_num_neighbors), **dict(params)
    )
