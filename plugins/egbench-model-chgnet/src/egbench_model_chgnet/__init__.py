"""egbench plugin: CHGNet pretrained universal potentials (``chgnet`` 0.4.2) as ``chgnet-0.3`` and
``chgnet-0.2``, the checkpoints inside the chgnet wheel (sha256 checked before each load), each
zero-shot and fine-tuned (``<id>-ft``).

CHGNet's energy is a differentiable function of the positions, so it goes through egbench's model
seam (core's ``pretrained_models``, :class:`.adapter.CHGNetEnergy`): forces by egbench's autograd,
egbench's MD engines, fine-tuning with egbench's one trainer; energies get per-element offsets
refitted on each cell's training split ("zero-shot (E0 refit)"). Registration is cheap: neither
chgnet nor torch is imported here; :mod:`.adapter` (the only module importing chgnet) is loaded
when a cell runs.
"""
from __future__ import annotations

from egbench_core import hookimpl
from functools import partial

from egbench_core.interfaces import FINETUNE_PRESETS, pretrained_models

from .checkpoints import CHECKPOINTS, ELEMENTS

__version__ = "0.1.0"

REQUIRES = ["chgnet==0.4.2"]

CITATION = ("B. Deng, P. Zhong, K. Jun, J. Riebesell, K. Han, C. J. Bartel, G. Ceder, CHGNet as a pretrained "
            "universal neural network potential for charge-informed atomistic modelling, Nat. Mach. Intell. 5, "
            "1031-1041 (2023)")
LICENCE = "Modified BSD (LBNL; chgnet code and the checkpoints in its wheel)"


# the atom-graph cutoff of both checkpoints (Å): egbench's neighbour list only feeds the training
# statistics; CHGNet builds its own atom and bond graphs
CUTOFF = 6.0


def _load(model_id: str):
    from .adapter import load_energy

    return load_energy(model_id)


def chgnet_specs(model_id: str = "chgnet-0.3"):
    """``[zero-shot spec, fine-tuned spec]`` of one checkpoint."""
    ckpt = CHECKPOINTS[model_id]
    return pretrained_models(model_id, partial(_load, model_id), cutoff=CUTOFF, finetune=FINETUNE_PRESETS,
                             version=f"{__version__}+ckpt.{ckpt.sha256[:12]}", description=ckpt.description,
                             citation=CITATION, licence=LICENCE, url="https://github.com/CederGroupHub/chgnet",
                             requires=list(REQUIRES), stress=False, elements=ELEMENTS)


@hookimpl
def register_models(register):
    for model_id in CHECKPOINTS:
        for spec in chgnet_specs(model_id):
            register(spec)
