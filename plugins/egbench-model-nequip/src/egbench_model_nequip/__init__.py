"""egbench plugin: NequIP (``nequip`` 0.19) as the ``nequip`` model.

Registration is cheap: this module imports neither nequip nor torch; :mod:`.adapter` (the only
module that imports nequip) is loaded when a model is built.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from egbench_core import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec

from .presets import PRESETS

__version__ = "0.1.0"

REQUIRES = ["nequip>=0.19,<0.20"]

CITATION = ("S. Batzner, A. Musaelian, L. Sun, M. Geiger, J. P. Mailoa, M. Kornbluth, N. Molinari, T. E. Smidt, "
            "B. Kozinsky, E(3)-equivariant graph neural networks for data-efficient and accurate interatomic "
            "potentials, Nat. Commun. 13, 2453 (2022)")


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    from .adapter import build as build_adapter

    return build_adapter(species, cutoff, params, stats)


def nequip_spec() -> ModelSpec:
    return ModelSpec(
        name="nequip",
        build=build,
        presets=copy.deepcopy(PRESETS),
        version=__version__,
        description="NequIP: E(3)-equivariant message passing (nequip 0.19 NequIPGNNModel, energy only; "
                    "E0s and scale from egbench).",
        citation=CITATION,
        licence="MIT (nequip)",
        url="https://github.com/mir-group/nequip",
        requires=list(REQUIRES),
        capabilities=Capabilities(periodic=True, stress=True, max_elements=None, trainable=True),
    )


@hookimpl
def register_models(register):
    register(nequip_spec())
