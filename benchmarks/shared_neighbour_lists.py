"""What a cell saves by building each frame set's neighbour lists once (graph.NeighbourLists).

Before the shared cache, a cell built the lists of its training frames for the statistics (the
first 100 frames), again for training, and, for a pretrained model, again for the offset refit.
This times those builds on a dataset's training split, both ways, in one process (interleaved,
median of 5 rounds): separate builds (no cache) versus one shared cache. Run:

    EGBENCH_DATA_MIRROR=../shared/data python benchmarks/shared_neighbour_lists.py [dataset] [cutoff]
"""

from __future__ import annotations

import sys

from common import best_of, header

from egbench_core.model.graph import NeighbourLists, frames_to_parts
from egbench_core.model.stats import STATS_NEIGHBOUR_FRAMES
from egbench_core.plugins import load_catalog


def main(dataset: str = "acac", cutoff: float = 5.0) -> None:
    frames = load_catalog().dataset(dataset).load("train")
    print(header("float64"))
    print(f"dataset {dataset}, train split {len(frames)} frames, {int(frames.n_atoms.sum())} atoms, cutoff {cutoff} Å")

    def separate(refit: bool):
        frames_to_parts(frames, cutoff, count=STATS_NEIGHBOUR_FRAMES)  # statistics
        frames_to_parts(frames, cutoff)  # training
        if refit:
            frames_to_parts(frames, cutoff)  # pretrained: offset refit

    def shared(refit: bool):
        cache = NeighbourLists()
        frames_to_parts(frames, cutoff, cache, count=STATS_NEIGHBOUR_FRAMES)
        frames_to_parts(frames, cutoff, cache)
        if refit:
            frames_to_parts(frames, cutoff, cache)

    print(f"{'cell':<24} {'separate s':>11} {'shared s':>9} {'ratio':>6}")
    for label, refit in (("from scratch", False), ("pretrained, fine-tuned", True)):
        t_sep = best_of(lambda r=refit: separate(r), repeats=5, min_time=0.0)
        t_sh = best_of(lambda r=refit: shared(r), repeats=5, min_time=0.0)
        print(f"{label:<24} {t_sep:>11.3f} {t_sh:>9.3f} {t_sep / t_sh:>6.2f}")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["acac"]), *(float(x) for x in sys.argv[2:3]))
