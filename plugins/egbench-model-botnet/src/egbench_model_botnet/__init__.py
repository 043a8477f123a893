"""egbench plugin: BOTNet (Body-Ordered Tensor Network) as the ``botnet`` model.

Registration is cheap: this module imports neither torch nor e3nn; :mod:`.model` (which does)
is loaded when a model is built.
"""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import MODEL_KEYS, PRESETS

__version__ = "0.1.0"

CITATION = (
    "I. Batatia, S. Batzner, D. P. Kovács, A. Musaelian, G. N. C. Simm, R. Drautz, C. Ortner, B. Kozinsky, "
    "G. Csányi, The Design Space of E(3)-Equivariant Atom-Centered Interatomic Potentials, arXiv:2205.06643 "
    "(2022); Nature Machine Intelligence 7, 56 (2025)"
)

botnet_spec, register_models = model_plugin(
    "botnet",
    build="egbench_model_botnet.model:build",
    presets=PRESETS,
    settings=MODEL_KEYS,
    what="BOTNet",
    version=__version__,
    description="BOTNet: body-ordered equivariant message passing (linear messages, element-dependent residual "
    "updates, per-layer readouts), implemented with e3nn.",
    citation=CITATION,
    licence="MIT",
    url="https://arxiv.org/abs/2205.06643",
    requires=["e3nn>=0.4.4,<0.7"],
)
