"""egbench plugin: PaiNN (polarizable atom interaction neural network) as the ``painn`` model.

Registration is cheap: this module does not import torch; :mod:`.model` (plain torch) is loaded
when a model is built.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from egbench_core import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec

from .presets import PRESETS

__version__ = "0.1.0"

CITATION = ("K. T. Schütt, O. T. Unke, M. Gastegger, Equivariant message passing for the prediction of tensorial "
            "properties and molecular spectra, Proceedings of the 38th International Conference on Machine Learning "
            "(ICML 2021), PMLR 139, 9377-9388; arXiv:2102.03150")

MODEL_KEYS = ("features", "interactions", "n_rbf", "rbf_kind", "shared_filters", "shared_interactions", "epsilon")


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    """``PaiNN`` for ``species`` (sorted atomic numbers); ``params`` = the preset's ``model`` dict."""
    from .model import PaiNN

    unknown = set(params) - set(MODEL_KEYS)
    if unknown:
        raise ValueError(f"unknown PaiNN settings {sorted(unknown)}; known: {sorted(MODEL_KEYS)}")
    return PaiNN(n_species=len(species), cutoff=cutoff, **dict(params))


def painn_spec() -> ModelSpec:
    return ModelSpec(
        name="painn",
        build=build,
        presets=copy.deepcopy(PRESETS),
        version=__version__,
        description="PaiNN: equivariant message passing with scalar and vector features (plain-torch implementation).",
        citation=CITATION,
        licence="MIT (this implementation)",
        url="https://arxiv.org/abs/2102.03150",
        requires=["torch>=2.2"],
        capabilities=Capabilities(periodic=True, stress=True, max_elements=None, trainable=True),
    )


@hookimpl
def register_models(register):
    register(painn_spec())
