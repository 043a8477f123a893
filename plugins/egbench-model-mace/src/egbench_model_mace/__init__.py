"""egbench plugin: MACE (mace-torch) as the ``mace`` model.

Registration is cheap: this module imports neither mace nor torch; :mod:`.adapter` (the only
module that imports mace) is loaded when a model is built.
"""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import PRESETS

__version__ = "0.1.0"

CITATION = (
    "I. Batatia, D. P. Kovács, G. N. C. Simm, C. Ortner, G. Csányi, MACE: Higher Order Equivariant "
    "Message Passing Neural Networks for Fast and Accurate Force Fields, NeurIPS 35 (2022)"
)

# warm_up: import mace-torch and e3nn (about 5 s here), what a worker process does before its first cell
mace_spec, register_models = model_plugin(
    "mace",
    build="egbench_model_mace.adapter:build",
    presets=PRESETS,
    version=__version__,
    description="MACE: higher-order equivariant message passing (mace-torch ScaleShiftMACE, E0s and scale from "
    "egbench).",
    citation=CITATION,
    licence="MIT (mace-torch)",
    url="https://github.com/ACEsuit/mace",
    requires=["mace-torch>=0.3.13,<0.4"],
    warm_up="egbench_model_mace.adapter:mace_version",
)
