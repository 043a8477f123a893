"""egbench plugin: BOTNet (Body-Ordered Tensor Network) as the ``botnet`` model.

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

CITATION = ("I. Batatia, S. Batzner, D. P. Kovács, A. Musaelian, G. N. C. Simm, R. Drautz, C. Ortner, B. Kozinsky, "
            "G. Csányi, The Design Space of E(3)-Equivariant Atom-Centered Interatomic Potentials, arXiv:2205.06643 "
            "(2022); Nature Machine Intelligence 7, 56 (2025)")

MODEL_KEYS = {"hidden_irreps", "num_interactions", "max_ell", "num_bessel", "num_polynomial_cutoff", "radial_mlp",
              "radial_species", "mlp_irreps", "gate", "nonlinear_readout"}


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    """``BOTNet`` for ``species`` (sorted atomic numbers); ``params`` = a preset's ``model`` dict."""
    unknown = set(params) - MODEL_KEYS
    if unknown:
        raise ValueError(f"unknown BOTNet settings {sorted(unknown)}; known: {sorted(MODEL_KEYS)}")
    from .model import BOTNet  # torch and e3nn are imported here, not at registration

    return BOTNet(n_species=len(species), cutoff=float(cutoff), avg_num_neighbors=float(stats.avg_num_neighbors),
                  **dict(params))


def botnet_spec() -> ModelSpec:
    return ModelSpec(
        name="botnet",
        build=build,
        presets=copy.deepcopy(PRESETS),
        version=__version__,
        description="BOTNet: body-ordered equivariant message passing (linear messages, element-dependent residual "
                    "updates, per-layer readouts), implemented with e3nn.",
        citation=CITATION,
        licence="MIT",
        url="https://arxiv.org/abs/2205.06643",
        requires=["e3nn>=0.4.4,<0.7"],
        capabilities=Capabilities(periodic=True, stress=True, max_elements=None, trainable=True),
    )


@hookimpl
def register_models(register):
    register(botnet_spec())
