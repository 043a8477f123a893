"""egbench plugin: NequIP (``nequip`` 0.19) as the ``nequip`` model.

Registration is cheap: this module imports neither nequip nor torch; :mod:`.adapter` (the only
module that imports nequip) is loaded when a model is built.
"""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import PRESETS

__version__ = "0.1.0"

REQUIRES = ["nequip>=0.19,<0.20"]

CITATION = (
    "S. Batzner, A. Musaelian, L. Sun, M. Geiger, J. P. Mailoa, M. Kornbluth, N. Molinari, T. E. Smidt, "
    "B. Kozinsky, E(3)-equivariant graph neural networks for data-efficient and accurate interatomic "
    "potentials, Nat. Commun. 13, 2453 (2022)"
)

nequip_spec, register_models = model_plugin(
    "nequip",
    build="egbench_model_nequip.adapter:build",
    presets=PRESETS,
    version=__version__,
    description="NequIP: E(3)-equivariant message passing (nequip 0.19 NequIPGNNModel, energy only; "
    "E0s and scale from egbench).",
    citation=CITATION,
    licence="MIT (nequip)",
    url="https://github.com/mir-group/nequip",
    requires=REQUIRES,
)
