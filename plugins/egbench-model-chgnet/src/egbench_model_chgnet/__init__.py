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

from egbench_core.plugin_kit import pretrained_plugin

from .checkpoints import CHECKPOINTS, ELEMENTS

__version__ = "0.1.0"

CITATION = (
    "B. Deng, P. Zhong, K. Jun, J. Riebesell, K. Han, C. J. Bartel, G. Ceder, CHGNet as a pretrained "
    "universal neural network potential for charge-informed atomistic modelling, Nat. Mach. Intell. 5, "
    "1031-1041 (2023)"
)

# cutoff: the atom-graph cutoff of both checkpoints (Å); egbench's neighbour list only feeds the
# training statistics, CHGNet builds its own atom and bond graphs
chgnet_specs, register_models = pretrained_plugin(
    CHECKPOINTS,
    load="egbench_model_chgnet.adapter:load_energy",
    version=__version__,
    cutoff=6.0,
    citation=CITATION,
    licence="Modified BSD (LBNL; chgnet code and the checkpoints in its wheel)",
    url="https://github.com/CederGroupHub/chgnet",
    requires=["chgnet==0.4.2"],
    stress=False,
    elements=ELEMENTS,
)
