"""egbench plugin: MACE (mace-torch) as the ``mace`` model.

Registration is cheap: this module imports neither mace nor torch; :mod:`.adapter` (the only
module that imports mace) is loaded when a model is built.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from egbench_core import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec

from .presets import PRESETS

__version__ = "0.1.0"

CITATION = ("I. Batatia, D. P. Kovács, G. N. C. Simm, C. Ortner, G. Csányi, MACE: Higher Order Equivariant "
            "Message Passing Neural Networks for Fast and Accurate Force Fields, NeurIPS 35 (2022)")


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    from .adapter import build as build_adapter

    return build_adapter(species, cutoff, params, stats)


def warm_up() -> None:
    """Import mace-torch and e3nn (about 5 s here): what a worker process does before its first cell."""
    from .adapter import mace_version

    mace_version()


def mace_spec() -> ModelSpec:
    return ModelSpec(
        name="mace",
        build=build,
        presets=copy.deepcopy(PRESETS),
        version=__version__,
        description="MACE: higher-order equivariant message passing (mace-torch ScaleShiftMACE, E0s and scale from egbench).",
        citation=CITATION,
        licence="MIT (mace-torch)",
        url="https://github.com/ACEsuit/mace",
        requires=["mace-torch>=0.3.13,<0.4"],
        capabilities=Capabilities(periodic=True, stress=True, max_elements=None, trainable=True),
        warm_up=warm_up,
    )


@hookimpl
def register_models(register):
    register(mace_spec())
