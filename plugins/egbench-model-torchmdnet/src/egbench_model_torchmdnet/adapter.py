"""The only module that imports ``torchmdnet``: builds the equivariant transformer (ET) with
``torchmdnet.models.model.create_model`` and runs its layers on egbench's
:class:`~egbench_core.model.graph.AtomicGraph`.

How the cell reaches the ET (the authors gave it none, so on LiPS, LiPS20 and GeTe it ignored
periodic boundaries). torchmd-net's own neighbour search (``OptimizedDistance``, warp kernels)
takes a box only if it is lower-triangular with every width ≥ 2 × cutoff, has no gradient with
respect to the box (so no stress by strain), and cannot describe an atom that sees its own
periodic images. It is not used here. Instead :class:`TorchMDETPotential` feeds the ET's layers
egbench's edges: ``graph.edge_index`` with ``graph.edge_vectors()`` (= ``pos[j] − pos[i] +
unit_shifts @ cell``, every periodic image within the cutoff, differentiable w.r.t. positions
and cell). Any cell shape and size works, and forces and stress come from core's autograd like
for every other model.

What is re-done here rather than called, and why (two short pieces of torchmd-net 3.1's code,
with the same submodules and weights; ``tests/test_torchmdnet.py`` checks that the result equals
torchmd-net's own forward on molecules and on a periodic box valid for its neighbour search):

* ``TorchMD_ET.forward`` (embedding → neighbour embedding → attention layers → layer norm): it
  calls the neighbour search itself and tells self-loops from neighbours by
  ``edge_index[0] != edge_index[1]``, which is wrong for an atom's own periodic images;
* ``NeighborEmbedding.forward``: it drops edges by the same index test.

Conventions: torchmd-net's edge ``(s, t)`` = ``edge_index[:, e]`` sends a message from ``s`` to
``t`` with vector ``pos[s] − pos[t]``; egbench's edge ``(i, j)`` has vector ``pos[j] − pos[i]``
and belongs to centre ``i``, so torchmd-net gets ``(j, i)``. Like ``OptimizedDistance(loop=True)``
in the ET, every atom also gets one self-loop (distance 0, zero vector). The ET embeds elements
by ``graph.species`` (the index into the model's species), so ``max_z`` = number of species.
The energy head is torchmd-net's ``EquivariantScalar`` (``output_model: Scalar`` for the ET),
summed per structure; torchmd-net's mean/std/prior are not used: core adds the E0s and scale.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from egbench_core.plugin_kit import check_settings

from .presets import PAPER_MODEL

log = logging.getLogger(__name__)

_TMD: dict[str, Any] = {}

#: model settings a preset may give (torchmd-train names), and their defaults: the paper preset's
DEFAULTS: dict[str, Any] = dict(PAPER_MODEL)


def _import_torchmdnet():
    """Import torchmd-net. Importing it initialises warp-lang, which prints a banner on stdout
    and, without a GPU driver, a warning on stderr from native code; neither is needed (the
    ET's layers are plain torch here, warp kernels are only used by torchmd-net's own neighbour
    search), so the banner is switched off and the native message is logged at debug level."""
    if not _TMD:
        import warp

        if warp.config.log_level == warp.LOG_INFO:  # the default: keep a user's own choice
            warp.config.log_level = warp.LOG_WARNING
        _quiet_native_stderr(warp.init)
        import torchmdnet
        from torchmdnet.models import model as tmd_model

        _TMD.update(create_model=tmd_model.create_model, version=torchmdnet.__version__)
    return _TMD


def _quiet_native_stderr(fn) -> None:
    """Run ``fn`` with file descriptor 2 sent to a temporary file; log what it wrote."""
    try:
        fd = os.dup(2)
    except OSError:  # no usable stderr: nothing to keep quiet
        fn()
        return
    failed = True
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            fn()
            failed = False
        finally:
            os.dup2(fd, 2)
            os.close(fd)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace").strip()
            if text:  # if initialisation failed, what it wrote is the explanation: show it
                log.log(logging.ERROR if failed else logging.DEBUG, "warp-lang initialisation: %s", text)


def torchmdnet_version() -> str:
    return _import_torchmdnet()["version"]


def create_args(species: Sequence[int], cutoff: float, params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``create_model`` arguments (torchmd-train's names) for ``params`` (a preset's
    ``model`` dict, see :data:`DEFAULTS`)."""
    p = {**DEFAULTS, **check_settings("TorchMD-Net ET", params, DEFAULTS)}
    if p["embedding_dimension"] % p["num_heads"]:
        raise ValueError(
            f"embedding_dimension {p['embedding_dimension']} is not divisible by num_heads {p['num_heads']}"
        )
    return {
        "model": "equivariant-transformer",
        "embedding_dimension": int(p["embedding_dimension"]),
        "num_layers": int(p["num_layers"]),
        "num_heads": int(p["num_heads"]),
        "num_rbf": int(p["num_rbf"]),
        "rbf_type": str(p["rbf_type"]),
        "trainable_rbf": bool(p["trainable_rbf"]),
        "activation": str(p["activation"]),
        "attn_activation": str(p["attn_activation"]),
        "neighbor_embedding": bool(p["neighbor_embedding"]),
        "distance_influence": str(p["distance_influence"]),
        "vector_cutoff": bool(p["vector_cutoff"]),
        "cutoff_lower": 0.0,
        "cutoff_upper": float(cutoff),
        "max_z": len(species),  # elements are embedded by their index in `species`
        "max_num_neighbors": 32,  # only sizes torchmd-net's own neighbour search, unused here
        "box_vecs": None,
        "output_model": "Scalar",  # EquivariantScalar for the ET
        "reduce_op": "add",
        "prior_model": None,
        "atom_filter": -1,
        "derivative": False,  # core differentiates the energy
        "precision": 32,
    }


def build_torchmd_net(species: Sequence[int], cutoff: float, params: Mapping[str, Any]) -> torch.nn.Module:
    """torchmd-net's ``TorchMD_Net`` (ET representation + EquivariantScalar head), as
    ``torchmd-train`` builds it for these settings, without derivative, prior or standardisation."""
    return _import_torchmdnet()["create_model"](create_args(species, cutoff, params))


def _neighbour_embedding(
    ne: torch.nn.Module,
    z: torch.Tensor,
    x: torch.Tensor,
    centre: torch.Tensor,
    neighbour: torch.Tensor,
    r: torch.Tensor,
    rbf: torch.Tensor,
) -> torch.Tensor:
    """torchmd-net's ``NeighborEmbedding.forward`` over edges given without self-loops (its own
    forward drops every edge with equal indices, which would drop an atom's periodic images)."""
    w = ne.distance_proj(rbf) * ne.cutoff(r).unsqueeze(1)
    msg = w * ne.embedding(z).index_select(0, neighbour)
    agg = torch.zeros(z.shape[0], x.shape[1], dtype=x.dtype, device=x.device).index_add(0, centre, msg)
    return ne.combine(torch.cat([x, agg], dim=1))


class TorchMDETPotential(torch.nn.Module):
    """``forward(graph) -> Tensor[B]``: the ET energy in units of ``stats.scale``.

    ``self.net`` is torchmd-net's ``TorchMD_Net``; its weights (``state_dict`` keys) are those of
    a torchmd-net model of the same settings, but its ``forward`` (which searches neighbours
    itself) is not called."""

    def __init__(self, net: torch.nn.Module, species: Sequence[int]):
        super().__init__()
        self.net = net
        self.species = tuple(int(z) for z in species)

    def forward(self, graph) -> torch.Tensor:
        if graph.species is None:
            graph = graph.with_species(self.species)
        rep = self.net.representation_model
        z = graph.species
        n = z.shape[0]
        centre, neighbour = graph.edge_index
        vec = graph.edge_vectors()  # [E,3] pos[j] - pos[i] + shift: gradients reach positions and cell
        r = torch.linalg.norm(vec, dim=-1)
        loops = torch.arange(n, device=z.device)
        # torchmd-net edges (source, target) = (j, i), then one self-loop per atom, as in the ET
        edge_index = torch.cat([torch.stack([neighbour, centre]), torch.stack([loops, loops])], dim=1)
        edge_weight = torch.cat([r, r.new_zeros(n)])
        edge_dir = torch.cat([vec / r.unsqueeze(1), vec.new_zeros(n, 3)])
        edge_attr = rep.distance_expansion(edge_weight)

        x = rep.embedding(z)
        if rep.neighbor_embedding is not None:
            e = r.shape[0]
            x = _neighbour_embedding(rep.neighbor_embedding, z, x, centre, neighbour, r, edge_attr[:e])
        v = torch.zeros(n, 3, x.shape[1], dtype=x.dtype, device=x.device)
        for attn in rep.attention_layers:
            dx, dv = attn(x, v, edge_index, edge_weight, edge_attr, edge_dir)
            x = x + dx
            v = v + dv
        x = rep.out_norm(x)

        head = self.net.output_model
        atomic = head.pre_reduce(x, v, z, graph.positions, graph.batch)  # [N,1]
        energy = head.reduce(atomic, graph.batch, num_systems=graph.num_graphs)  # [B,1]
        return head.post_reduce(energy).squeeze(-1)


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats) -> TorchMDETPotential:
    return TorchMDETPotential(build_torchmd_net(species, cutoff, params), species)
