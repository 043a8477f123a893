"""egbench plugin: Equiformer v1 (equivariant graph attention Transformer) as the ``equiformer`` model.

Registration is cheap: this module imports neither torch nor e3nn; :mod:`.model` (which does)
is loaded when a model is built.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from egbench_core import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec

from .presets import PRESETS

__version__ = "0.1.0"

CITATION = ("Y.-L. Liao, T. Smidt, Equiformer: Equivariant Graph Attention Transformer for 3D Atomistic Graphs, "
            "International Conference on Learning Representations (ICLR 2023), arXiv:2206.11990")

MODEL_KEYS = {"irreps_node_embedding", "num_layers", "irreps_sh", "num_basis", "basis_type", "fc_neurons",
              "irreps_feature", "irreps_head", "num_heads", "irreps_mlp_mid", "smooth_cutoff", "envelope_p"}


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    """``Equiformer`` for ``species`` (sorted atomic numbers); ``params`` = a preset's ``model`` dict."""
    unknown = set(params) - MODEL_KEYS
    if unknown:
        raise ValueError(f"unknown Equiformer settings {sorted(unknown)}; known: {sorted(MODEL_KEYS)}")
    from .model import Equiformer  # torch and e3nn are imported here, not at registration

    return Equiformer(n_species=len(species), cutoff=float(cutoff), avg_num_neighbors=float(stats.avg_num_neighbors),
                      **dict(params))


def equiformer_spec() -> ModelSpec:
    return ModelSpec(
        name="equiformer",
        build=build,
        presets=copy.deepcopy(PRESETS),
        version=__version__,
        description="Equiformer v1, MD17 variant: equivariant graph attention with non-linear messages "
                    "(implemented with e3nn; smooth at the cutoff, periodic cells supported).",
        citation=CITATION,
        licence="MIT",
        url="https://arxiv.org/abs/2206.11990",
        requires=["e3nn>=0.4.4,<0.7"],
        capabilities=Capabilities(periodic=True, stress=True, max_elements=None, trainable=True),
    )


@hookimpl
def register_models(register):
    register(equiformer_spec())
