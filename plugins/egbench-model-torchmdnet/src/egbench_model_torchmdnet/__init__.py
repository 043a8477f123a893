"""egbench plugin: TorchMD-Net's equivariant transformer (torchmd-net) as the ``torchmd-net`` model.

Registration is cheap: this module imports neither torchmd-net nor torch; :mod:`.adapter` (the
only module that imports torchmd-net) is loaded when a model is built.
"""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import PRESETS

__version__ = "0.1.0"

CITATION = (
    "P. Thölke, G. De Fabritiis, Equivariant Transformers for Neural Network based Molecular "
    "Potentials, International Conference on Learning Representations (ICLR 2022), arXiv:2202.02541"
)

torchmdnet_spec, register_models = model_plugin(
    "torchmd-net",
    build="egbench_model_torchmdnet.adapter:build",
    presets=PRESETS,
    version=__version__,
    description=(
        "TorchMD-Net equivariant transformer (torchmd-net 3.1 layers on egbench's periodic "
        "neighbour list; E0s and scale from egbench)."
    ),
    citation=CITATION,
    licence="MIT (torchmd-net)",
    url="https://github.com/torchmd/torchmd-net",
    requires=["torchmd-net>=3.1,<3.2"],
)
