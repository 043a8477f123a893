"""A tiny, fast, learnable pure-torch model for core's own tests, and a fake plugin that
registers it.

``toy-pair`` is a smooth pair potential: ``E = ½ Σ_(i,j) Σ_k W[s_i, s_j, k] φ_k(r_ij) f_c(r_ij)``
with Gaussian radial functions φ_k, a cosine cutoff f_c, and learnable weights symmetric in the
two species. No three-body terms, no message passing: it trains in seconds and is exactly
invariant, so core's trainer / runner / CLI tests can use it as a stand-in architecture::

    from egbench_core.plugins import load_catalog
    from egbench_core.testing.fakes import FakeModelPlugin

    catalog = load_catalog(extra_plugins=[FakeModelPlugin()], entry_points=False)
    spec = catalog.get("models", "toy-pair")
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec

TOY_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "cutoff": 4.0,
        "model": {"n_basis": 8},
        "train": {"epochs": 3, "batch_size": 8, "lr": 1e-2, "early_stop_patience": 3},
    },
    "quick": {
        "cutoff": 4.5,
        "model": {"n_basis": 12},
        "train": {"epochs": 30, "batch_size": 8, "lr": 1e-2, "scheduler_patience": 5},
    },
    "paper": {
        "cutoff": 5.0,
        "model": {"n_basis": 16},
        "train": {"epochs": 200, "batch_size": 8, "lr": 5e-3, "ema_decay": 0.99},
    },
}


def _module_class():
    """Defined lazily so that importing this module (to register the spec) stays torch-free."""
    import torch

    class ToyPairModel(torch.nn.Module):
        """Pair potential over the edges of an :class:`~egbench_core.model.graph.AtomicGraph`.
        Returns the energy in normalised units, shape [B]."""

        def __init__(self, n_species: int, cutoff: float, n_basis: int = 8, r_min: float = 0.5):
            super().__init__()
            self.n_species = int(n_species)
            self.cutoff = float(cutoff)
            self.register_buffer("centres", torch.linspace(r_min, cutoff, n_basis))
            self.gamma = float((n_basis / (cutoff - r_min)) ** 2)
            self.weights = torch.nn.Parameter(0.1 * torch.randn(n_species, n_species, n_basis))

        def forward(self, graph) -> torch.Tensor:
            return self.energy_from_vectors(graph, graph.edge_vectors())

        def energy_from_vectors(self, graph, vec) -> torch.Tensor:
            """The energy with the edge vectors ``vec`` [E, 3] (tests hand it wrong ones on purpose)."""
            r = torch.linalg.norm(vec, dim=-1)
            i, j = graph.edge_index
            w = 0.5 * (self.weights + self.weights.transpose(0, 1))
            basis = torch.exp(-self.gamma * (r[:, None] - self.centres) ** 2)
            fc = 0.5 * (torch.cos(math.pi * r / self.cutoff) + 1.0) * (r < self.cutoff)
            e_edge = 0.5 * (w[graph.species[i], graph.species[j]] * basis).sum(-1) * fc
            out = torch.zeros(graph.num_graphs, dtype=vec.dtype, device=vec.device)
            return out.index_add(0, graph.batch[i], e_edge)

    return ToyPairModel


def build_toy_pair(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats) -> Any:
    return _module_class()(len(species), cutoff, **dict(params))


def toy_pair_spec(
    name: str = "toy-pair",
    build=build_toy_pair,
    capabilities: Capabilities | None = None,
    presets: dict[str, dict[str, Any]] | None = None,
) -> ModelSpec:
    """The ``toy-pair`` :class:`ModelSpec` (``name``/``build``/``capabilities`` can be swapped, e.g.
    to make deliberately broken variants in tests)."""
    return ModelSpec(
        name=name,
        build=build,
        presets=copy.deepcopy(presets or TOY_PRESETS),
        version="1",
        description=(
            "Toy smooth pair potential (Gaussian radial basis x per-species-pair weights, cosine cutoff). For tests."
        ),
        citation="none (egbench test fixture)",
        licence="MIT",
        capabilities=capabilities or Capabilities(),
    )


class FakeModelPlugin:
    """A plugin object registering ``toy-pair`` (and any extra ``specs``) through the real hook::

    load_catalog(extra_plugins=[FakeModelPlugin()])
    """

    def __init__(self, *specs: ModelSpec):
        self.specs = list(specs) or [toy_pair_spec()]

    @hookimpl
    def register_models(self, register):
        for spec in self.specs:
            register(spec)
