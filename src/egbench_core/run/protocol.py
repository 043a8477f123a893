"""Protocol presets (docs/guide.md, "Presets"): how much data and simulation a cell gets.

A model's preset of the same name sets its size and its training length (in epochs); this sets
the rest, the same for every model:

* which frames: ``subset = "first"`` takes the first frames of a split (``smoke``); ``"seeded"``
  takes a seeded random subset of the training and validation splits (seed ``subset_seed``, the
  same for every model and every ``--seed``: splits stay fixed per dataset) within
  ``max_*_frames`` frames and ``max_train_atoms`` atoms, and evenly spaced frames of an evaluation
  split. The subset's size and a hash of its indices are stored with the cell and shown in the
  report; the rule (this preset) and the data checksums, both in the cell key, determine it.
* the MD: replicas, steps, how often a frame is saved;
* ``oracle``: whether a dataset's expensive oracle (DFT) labels the frames the replicas visit (on
  for ``paper``; ``egbench run --oracle dft|none`` decides otherwise). Exact oracles (generators
  of synthetic sets) always run.
* ``train_guard_s``: a wall-clock guard on training. Training length is set in epochs, so the
  same command gives the same numbers on any load; a cell whose training hits the guard is
  stored as *truncated* and marked so in every report.
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
    max_train_atoms: int | None = None
    max_val_frames: int | None = None
    max_eval_frames: int | None = None
    subset: str = "first"  # "first" | "seeded"
    subset_seed: int = 0
    train_guard_s: float | None = None
    oracle: bool = False  # evaluate a dataset's expensive (calibrated) oracle on the MD frames

    def to_dict(self) -> dict:
        return asdict(self)


# a table of presets, one setting per column where they can be compared side by side
# fmt: off
PROTOCOL_PRESETS = {
    "smoke": ProtocolPreset("smoke", md_replicas=2, md_steps=20, md_save_every=1, subset="first",
                            max_train_frames=40, max_val_frames=10, max_eval_frames=50,
                            train_guard_s=600.0),
    # sized so that every cell of MACE and PaiNN on every offline dataset trains >= 20 epochs and
    # finishes within 10 minutes on a 2-core CPU (docs/performance.md, "quick on every dataset")
    "quick": ProtocolPreset("quick", md_replicas=3, md_steps=200, md_save_every=2, subset="seeded",
                            max_train_frames=450, max_val_frames=50, max_eval_frames=500, max_train_atoms=6000,
                            train_guard_s=1800.0),
    "paper": ProtocolPreset("paper", md_replicas=5, md_steps=1000, md_save_every=1, oracle=True),
}
# fmt: on


def protocol(name: str) -> ProtocolPreset:
    try:
        return PROTOCOL_PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PROTOCOL_PRESETS)}") from None
