"""egbench plugin: TorchMD-Net's equivariant transformer (torchmd-net) as the ``torchmd-net`` model.

Registration is cheap: this module imports neither torchmd-net nor torch; :mod:`.adapter` (the
only module that imports torchmd-net) is loaded when a model is built.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from egbench_core import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec

from .presets import PRESETS

__all__ = ["CITATION", "PRESETS", "build", "register_models", "torchmdnet_spec"]

__version__ = "0.1.0"

CITATION = ("P. Thölke, G. De Fabritiis, Equivariant Transformers for Neural Network based Molecular "
            "Potentials, International Conference on Learning Representations (ICLR 2022), arXiv:2202.02541")


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    from .adapter import build as build_adapter

    return build_adapter(species, cutoff, params, stats)


def torchmdnet_spec() -> ModelSpec:
    return ModelSpec(
        name="torchmd-net",
        build=build,
        presets=copy.deepcopy(PRESETS),
        version=__version__,
        description=("TorchMD-Net equivariant transformer (torchmd-net 3.1 layers on egbench's periodic "
                     "neighbour list; E0s and scale from egbench)."),
        citation=CITATION,
        licence="MIT (torchmd-net)",
        url="https://github.com/torchmd/torchmd-net",
        requires=["torchmd-net>=3.1,<3.2"],
        capabilities=Capabilities(periodic=True, stress=True, max_elements=None, trainable=True),
    )


@hookimpl
def register_models(register):
    register(torchmdnet_spec())
