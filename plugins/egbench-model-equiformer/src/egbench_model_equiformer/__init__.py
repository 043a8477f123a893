"""egbench plugin: Equiformer v1 (equivariant graph attention Transformer) as the ``equiformer`` model.

Registration is cheap: this module imports neither torch nor e3nn; :mod:`.model` (which does)
is loaded when a model is built.
"""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import MODEL_KEYS, PRESETS

__version__ = "0.1.0"

CITATION = (
    "Y.-L. Liao, T. Smidt, Equiformer: Equivariant Graph Attention Transformer for 3D Atomistic Graphs, "
    "International Conference on Learning Representations (ICLR 2023), arXiv:2206.11990"
)

equiformer_spec, register_models = model_plugin(
    "equiformer",
    build="egbench_model_equiformer.model:build",
    presets=PRESETS,
    settings=MODEL_KEYS,
    what="Equiformer",
    version=__version__,
    description="Equiformer v1, MD17 variant: equivariant graph attention with non-linear messages "
    "(implemented with e3nn; smooth at the cutoff, periodic cells supported).",
    citation=CITATION,
    licence="MIT",
    url="https://arxiv.org/abs/2206.11990",
    requires=["e3nn>=0.4.4,<0.7"],
)
