"""egbench plugin: Allegro (``nequip-allegro`` 0.8) as the ``allegro`` model.

Registration is cheap: this module imports neither allegro, nequip nor torch; :mod:`.adapter`
(the only module that imports allegro) is loaded when a model is built.
"""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import PRESETS

__version__ = "0.1.0"

# nequip-allegro 0.8 accepts nequip >= 0.18; the shared adapter is written against nequip 0.19
REQUIRES = ["nequip-allegro>=0.8,<0.9", "nequip>=0.19,<0.20"]

CITATION = (
    "A. Musaelian, S. Batzner, A. Johansson, L. Sun, C. J. Owen, M. Kornbluth, B. Kozinsky, Learning "
    "local equivariant representations for large-scale atomistic dynamics, Nat. Commun. 14, 579 (2023)"
)

allegro_spec, register_models = model_plugin(
    "allegro",
    build="egbench_model_allegro.adapter:build",
    presets=PRESETS,
    version=__version__,
    description="Allegro: strictly local equivariant edge-based potential (nequip-allegro 0.8 AllegroModel, "
    "energy only; E0s and scale from egbench).",
    citation=CITATION,
    licence="MIT (nequip-allegro)",
    url="https://github.com/mir-group/allegro",
    requires=REQUIRES,
)
