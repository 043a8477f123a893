"""The CHGNet checkpoints shipped inside the ``chgnet==0.4.2`` wheel (``chgnet/pretrained/``), each
an egbench model id. sha256 of the files as installed from that wheel; a file that differs is
refused before it is loaded (:func:`egbench_model_chgnet.adapter.load_model`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Checkpoint:
    model_id: str
    chgnet_name: str  # CHGNet.load(model_name=...)
    path: str  # inside the installed ``chgnet`` package
    sha256: str
    mlp_out_bias: bool  # as CHGNet.load sets it for this checkpoint
    description: str


CHECKPOINTS = {
    c.model_id: c
    for c in (
        Checkpoint(
            "chgnet-0.3",
            "0.3.0",
            "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
            "d14ab7c0f093efe64b60a7bcd540bca10e74fb7f46c86108a079af60524659d1",
            False,
            "CHGNet 0.3.0 (MPtrj, PBE/PBE+U; 412 525 parameters, atom graph 6 Å, bond graph 3 Å)",
        ),
        Checkpoint(
            "chgnet-0.2",
            "0.2.0",
            "pretrained/0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
            "ef624f78b6db9d315b4ef256f1bb3207449924191b91720dc17d3f60c5df980e",
            True,
            "CHGNet 0.2.0 (MPtrj, PBE/PBE+U; deprecated upstream, kept for comparison)",
        ),
    )
}

# The atom embedding of both checkpoints covers H (1) to Pu (94).
ELEMENTS = tuple(range(1, 95))
