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

from egbench_core.plugin_kit import pretrained_plugin

from .checkpoints import CHECKPOINTS, CUTOFF, ELEMENTS

__version__ = "0.1.0"

CITATION = (
    "Y. Park, J. Kim, S. Hwang, S. Han, Scalable parallel algorithm for graph neural network interatomic "
    "potentials in molecular dynamics simulations, J. Chem. Theory Comput. 20, 4857-4868 (2024)"
)

sevennet_specs, register_models = pretrained_plugin(
    CHECKPOINTS,
    load="egbench_model_sevennet.adapter:load_network",
    version=__version__,
    cutoff=CUTOFF,
    citation=CITATION,
    licence="GPL-3.0-only (sevenn code and the checkpoints in its wheel)",
    url="https://github.com/MDIL-SNU/SevenNet",
    requires=["sevenn==0.13.0"],
    elements=ELEMENTS,
)
