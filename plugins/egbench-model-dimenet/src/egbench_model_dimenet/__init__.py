"""egbench plugin: DimeNet++ (directional message passing) as the ``dimenet`` model.

Registration is cheap: this module imports neither torch nor torch_geometric; :mod:`.adapter`
(the only module that imports torch_geometric) is loaded when a model is built.
"""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import PRESETS

__version__ = "0.1.0"

CITATION = (
    "J. Gasteiger, S. Giri, J. T. Margraf, S. Günnemann, Fast and Uncertainty-Aware Directional Message "
    "Passing for Non-Equilibrium Molecules, Machine Learning for Molecules Workshop, NeurIPS 2020, "
    "arXiv:2011.14115; building on J. Gasteiger, J. Groß, S. Günnemann, Directional Message Passing for "
    "Molecular Graphs, ICLR 2020"
)

dimenet_spec, register_models = model_plugin(
    "dimenet",
    build="egbench_model_dimenet.adapter:build",
    presets=PRESETS,
    version=__version__,
    description="DimeNet++: directional message passing over edge triplets (torch-geometric layers, periodic "
    "triplets).",
    citation=CITATION,
    licence="MIT (this plugin; torch-geometric: MIT)",
    url="https://github.com/pyg-team/pytorch_geometric",
    requires=["torch-geometric>=2.5,<3", "sympy"],
)
