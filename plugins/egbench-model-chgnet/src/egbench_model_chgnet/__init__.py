"""egbench plugin: CHGNet pretrained universal potentials (``chgnet`` 0.4.2) as ``chgnet-0.3`` and
``chgnet-0.2``, the checkpoints inside the chgnet wheel (sha256 checked before each load).

For now each is a calculator-backed model (core's ``calculator_model``): evaluated and simulated
through CHGNet's own forces, not trained; energies get per-element offsets refitted on each
cell's training split ("zero-shot (E0 refit)"). Registration is cheap: neither chgnet nor torch is
imported here; :mod:`.adapter` (the only module importing chgnet) is loaded when a cell runs.
"""
from __future__ import annotations

from egbench_core import hookimpl
from egbench_core.interfaces import calculator_model

from .checkpoints import CHECKPOINTS, ELEMENTS

__version__ = "0.1.0"

REQUIRES = ["chgnet==0.4.2"]

CITATION = ("B. Deng, P. Zhong, K. Jun, J. Riebesell, K. Han, C. J. Bartel, G. Ceder, CHGNet as a pretrained "
            "universal neural network potential for charge-informed atomistic modelling, Nat. Mach. Intell. 5, "
            "1031-1041 (2023)")
LICENCE = "Modified BSD (LBNL; chgnet code and the checkpoints in its wheel)"


def chgnet_spec(model_id: str = "chgnet-0.3"):
    ckpt = CHECKPOINTS[model_id]

    def make():
        from .adapter import make_calculator

        return make_calculator(model_id)

    return calculator_model(model_id, make, version=f"{__version__}+ckpt.{ckpt.sha256[:12]}",
                            description=f"{ckpt.description}; zero-shot through CHGNet's own forces",
                            citation=CITATION, licence=LICENCE, url="https://github.com/CederGroupHub/chgnet",
                            requires=list(REQUIRES), periodic=True, elements=ELEMENTS)


@hookimpl
def register_models(register):
    for model_id in CHECKPOINTS:
        register(chgnet_spec(model_id))
