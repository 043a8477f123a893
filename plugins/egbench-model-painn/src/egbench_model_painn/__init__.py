"""egbench plugin: PaiNN (polarizable atom interaction neural network) as the ``painn`` model.

Registration is cheap: this module does not import torch; :mod:`.model` (plain torch) is loaded
when a model is built.
"""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import MODEL_KEYS, PRESETS

__version__ = "0.1.0"

CITATION = (
    "K. T. Schütt, O. T. Unke, M. Gastegger, Equivariant message passing for the prediction of tensorial "
    "properties and molecular spectra, Proceedings of the 38th International Conference on Machine Learning "
    "(ICML 2021), PMLR 139, 9377-9388; arXiv:2102.03150"
)

painn_spec, register_models = model_plugin(
    "painn",
    build="egbench_model_painn.model:build",
    presets=PRESETS,
    settings=MODEL_KEYS,
    what="PaiNN",
    version=__version__,
    description="PaiNN: equivariant message passing with scalar and vector features (plain-torch implementation).",
    citation=CITATION,
    licence="MIT (this implementation)",
    url="https://arxiv.org/abs/2102.03150",
    requires=["torch>=2.2"],
)
