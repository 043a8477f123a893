"""The SevenNet checkpoints shipped inside the ``sevenn==0.13.0`` wheel
(``sevenn/pretrained_potentials/``), each an egbench model id. sha256 of the files as installed
from that wheel; a file that differs is refused before it is loaded
(:func:`egbench_model_sevennet.adapter.verify`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Checkpoint:
    model_id: str
    path: str  # inside the installed ``sevenn`` package
    sha256: str
    description: str
    modal: str | None = None  # the fidelity a multi-fidelity checkpoint is evaluated at


CHECKPOINTS = {
    c.model_id: c
    for c in (
        Checkpoint(
            "sevennet-0",
            "pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
            "7052cb42b7b3be42b40b97fa0d21077a48c54b5548948fc4dcf346629f813c36",
            "SevenNet-0 of 11 Jul 2024 (MPtrj, PBE/PBE+U; NequIP-type, 5 layers, l_max 2, 842 623 parameters, "
            "cutoff 5 Å)",
        ),
        Checkpoint(
            "sevennet-0-22may2024",
            "pretrained_potentials/SevenNet_0__22May2024/checkpoint_sevennet_0.pth",
            "5d389fafd512e6ae2830d74d0b66ffc49a55d3832653ff8e7bf7f1343013c1d1",
            "SevenNet-0 of 22 May 2024 (MPtrj, PBE/PBE+U; the first release, kept for comparison)",
        ),
        Checkpoint(
            "sevennet-mf-0",
            "pretrained_potentials/SevenNet_MF_0/checkpoint_sevennet_mf_0.pth",
            "81791329b37d445f46b531578c182c41792d98c7814222c9e5dde276402225fd",
            "SevenNet-MF-0 (multi-fidelity MPtrj PBE/PBE+U and r2SCAN; evaluated at its PBE fidelity; "
            "846 168 parameters)",
            modal="PBE",
        ),
        Checkpoint(
            "sevennet-l3i5",
            "pretrained_potentials/SevenNet_l3i5/checkpoint_l3i5.pth",
            "a7ff190d41efe5b8317a03d20a468e4036a1a3e64e0b14fdbab64ac3f4bfc09d",
            "SevenNet-l3i5 (MPtrj, PBE/PBE+U; l_max 3, 1 171 327 parameters)",
        ),
    )
}

CUTOFF = 5.0  # Å, every checkpoint's

# The type map of every checkpoint: H (1) to Bi (83) and Ac (89) to Pu (94).
ELEMENTS = tuple(range(1, 84)) + tuple(range(89, 95))
