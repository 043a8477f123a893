"""egbench plugin: Allegro (``nequip-allegro`` 0.8) as the ``allegro`` model.

Registration is cheap: this module imports neither allegro, nequip nor torch; :mod:`.adapter`
(the only module that imports allegro) is loaded when a model is built.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from egbench_core import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec

from .presets import PRESETS

__version__ = "0.1.0"

# nequip-allegro 0.8 accepts nequip >= 0.18; the shared adapter is written against nequip 0.19
REQUIRES = ["nequip-allegro>=0.8,<0.9", "nequip>=0.19,<0.20"]

CITATION = ("A. Musaelian, S. Batzner, A. Johansson, L. Sun, C. J. Owen, M. Kornbluth, B. Kozinsky, Learning "
            "local equivariant representations for large-scale atomistic dynamics, Nat. Commun. 14, 579 (2023)")


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    from .adapter import build as build_adapter

    return build_adapter(species, cutoff, params, stats)


def allegro_spec() -> ModelSpec:
    return ModelSpec(
        name="allegro",
        build=build,
        presets=copy.deepcopy(PRESETS),
        version=__version__,
        description="Allegro: strictly local equivariant edge-based potential (nequip-allegro 0.8 AllegroModel, "
                    "energy only; E0s and scale from egbench).",
        citation=CITATION,
        licence="MIT (nequip-allegro)",
        url="https://github.com/mir-group/allegro",
        requires=list(REQUIRES),
        capabilities=Capabilities(periodic=True, stress=True, max_elements=None, trainable=True),
    )


@hookimpl
def register_models(register):
    register(allegro_spec())
