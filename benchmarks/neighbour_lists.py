"""Neighbour-list time: vesin (what egbench uses) versus ase.neighborlist, 100 to 10 000 atoms.

Periodic fcc Cu boxes with thermal noise, cutoff 5 Å, full lists, float64. Both timed in the
same process, interleaved, median of 5 rounds. Run: python benchmarks/neighbour_lists.py
"""

from __future__ import annotations

from ase.build import bulk
from ase.neighborlist import neighbor_list
from common import best_of, header

from egbench_core.model.graph import neighbour_list

CUTOFF = 5.0


def box(n_target: int, seed: int = 0):
    reps = max(1, round((n_target / 4) ** (1 / 3)))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(reps)
    atoms.rattle(0.05, seed=seed)
    return atoms


def main() -> None:
    print(header("float64"))
    print(f"{'atoms':>7} {'pairs':>9} {'vesin ms':>10} {'ase ms':>10} {'ase/vesin':>10}")
    for n in (100, 300, 1000, 3000, 10000):
        a = box(n)
        pos, cell, pbc = a.positions, a.cell.array, a.pbc
        pairs = len(neighbour_list(pos, cell, pbc, CUTOFF)[0])
        assert pairs == len(neighbor_list("i", a, CUTOFF)), "vesin and ASE disagree on the pair count"
        tv = best_of(lambda pos=pos, cell=cell, pbc=pbc: neighbour_list(pos, cell, pbc, CUTOFF))
        ta = best_of(lambda a=a: neighbor_list("ijS", a, CUTOFF), repeats=3)
        print(f"{len(a):>7} {pairs:>9} {tv * 1e3:>10.2f} {ta * 1e3:>10.2f} {ta / tv:>10.1f}")


if __name__ == "__main__":
    main()
