"""egbench plugin: SevenNet pretrained universal potentials (``sevenn`` 0.13.0) as ``sevennet-0``,
``sevennet-0-22may2024``, ``sevennet-mf-0`` and ``sevennet-l3i5``, the checkpoints inside the
sevenn wheel (sha256 checked before each load), each zero-shot and fine-tuned (``<id>-ft``).

SevenNet's energy is a differentiable function of edge vectors, so it goes through egbench's model
seam (core's ``pretrained_models``): egbench's graph, forces by egbench's autograd, batched MD,
fine-tuning with egbench's one trainer. Registration is cheap: neither sevenn nor torch is
imported here; :mod:`.adapter` (the only module importing sevenn) is loaded when a cell runs.
sevenn needs e3nn>=0.5 (MACE's plugin pins 0.4.4): install it in the ``nequip`` environment.
"""
from __future__ import annotations

from functools import partial

from egbench_core import hookimpl
from egbench_core.interfaces import FINETUNE_PRESETS, pretrained_models

from .checkpoints import CHECKPOINTS, CUTOFF, ELEMENTS

__version__ = "0.1.0"

REQUIRES = ["sevenn==0.13.0"]

CITATION = ("Y. Park, J. Kim, S. Hwang, S. Han, Scalable parallel algorithm for graph neural network interatomic "
            "potentials in molecular dynamics simulations, J. Chem. Theory Comput. 20, 4857-4868 (2024)")
LICENCE = "GPL-3.0-only (sevenn code and the checkpoints in its wheel)"

def _load(model_id: str):
    from .adapter import load_network

    return load_network(model_id)


def sevennet_specs(model_id: str = "sevennet-0"):
    """``[zero-shot spec, fine-tuned spec]`` of one checkpoint."""
    ckpt = CHECKPOINTS[model_id]
    return pretrained_models(model_id, partial(_load, model_id), cutoff=CUTOFF, finetune=FINETUNE_PRESETS,
                             version=f"{__version__}+ckpt.{ckpt.sha256[:12]}", description=ckpt.description,
                             citation=CITATION, licence=LICENCE, url="https://github.com/MDIL-SNU/SevenNet",
                             requires=list(REQUIRES), elements=ELEMENTS)


def warm_up() -> None:
    import sevenn.nn.sequential  # noqa: F401 - e3nn and sevenn imported ahead of the first cell


@hookimpl
def register_models(register):
    for model_id in CHECKPOINTS:
        for spec in sevennet_specs(model_id):
            register(spec)
