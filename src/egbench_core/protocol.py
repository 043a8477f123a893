"""Protocol presets (PROTOCOL.md): how much data and simulation a cell gets.

A model's preset of the same name sets its size and training budget; this sets the rest, the
same for every model. ``max_*`` limits take the first frames of a split (deterministic).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ProtocolPreset:
    name: str
    md_replicas: int
    md_steps: int
    md_save_every: int
    max_train_frames: int | None = None
    max_val_frames: int | None = None
    max_eval_frames: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


PROTOCOL_PRESETS = {
    "smoke": ProtocolPreset("smoke", md_replicas=2, md_steps=20, md_save_every=1, max_train_frames=40,
                            max_val_frames=10, max_eval_frames=50),
    "quick": ProtocolPreset("quick", md_replicas=3, md_steps=200, md_save_every=2),
    "paper": ProtocolPreset("paper", md_replicas=5, md_steps=1000, md_save_every=1),
}


def protocol(name: str) -> ProtocolPreset:
    try:
        return PROTOCOL_PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PROTOCOL_PRESETS)}") from None
