"""MD speed: egbench's ASE calculator versus mace-torch's own ``MACECalculator`` on the same MACE model.

One process, one machine. The model is the MACE plugin's ``quick`` preset (cutoff 5 Å) for H/C/O,
built with seed 0 and trained for 2 epochs on the embedded ``acac`` dataset (a model that has seen
acetylacetone, so that MD on it stays physical; speed does not depend on the weights). The same
weights are exported as an upstream ``ScaleShiftMACE`` whose ``atomic_energies`` are egbench's E0s
and whose ``scale`` is egbench's force scale (shift 0), and run through
``mace.calculators.MACECalculator(models=[...], device="cpu", default_dtype="float32")``. Energies
and forces of the two (and stresses of the periodic boxes) are asserted equal (1e-5 relative) on
several structures before timing.

Systems: (1) acetylacetone, the first ``acac`` test frame (15 atoms, not periodic); (2) a 200-atom
periodic box of H/C/O with acac's composition (C5H8O2) at acac's liquid density (0.975 g/cm³),
random positions with a 1 Å minimum distance (seed 0).

Timing: ASE ``Langevin`` (0.5 fs, 300 K, friction 0.01/fs, seeded), float32 models. Each round
restarts every contender from the same atoms, velocities and thermostat seed and runs the same
number of steps; contenders interleaved (A B A B ...), one warm-up round each, ms/step = median
over rounds; the ratio is the median over rounds of the ratio within a round (adjacent runs, so
that slow changes in the machine's load cancel), by wall clock and by process CPU time.
mace-torch's calculator computes the stress at every call; a third contender, egbench asked for the
stress at every step as well, shows how much of the difference that is (periodic box only). Torch
threads 1 and 2. Then the neighbour-list comparison
(``neighbour_lists.py``).

Run: python benchmarks/md_speed_mace.py            (about 5 minutes on 2 idle cores)
     python benchmarks/md_speed_mace.py --no-nl    (MD only; --help for rounds, steps, threads)
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import time
import warnings

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.calculator import all_changes
from common import header

from egbench_core.md.calculator import EgbenchCalculator

SEED = 0
TIMESTEP_FS = 0.5
TEMPERATURE_K = 300.0
FRICTION_PER_FS = 0.01
PRESET = "quick"
TRAIN_EPOCHS = 2


def build_models(epochs: int = TRAIN_EPOCHS):
    """egbench's ``NormalisedPotential`` (trained ``epochs`` epochs on acac, seeded) and its test split."""
    from egbench_core.model.potential import NormalisedPotential
    from egbench_core.model.stats import compute_stats
    from egbench_core.model.train import TrainConfig, train
    from egbench_core.plugins import load_catalog
    from egbench_core.run.execute import seed_everything

    cat = load_catalog()
    ds = cat.datasets["acac"]
    spec = cat.models["mace"]
    preset = spec.preset(PRESET)
    cutoff = float(preset["cutoff"])
    tr, va, te = ds.load("train"), ds.load("val"), ds.load("test")
    stats = compute_stats(tr, cutoff)
    seed_everything(SEED)
    pot = NormalisedPotential(spec.build(list(stats.species), cutoff, dict(preset["model"]), stats), stats, cutoff)
    cfg = TrainConfig.from_dict({**preset["train"], "epochs": epochs, "max_time_s": None})
    if epochs > 0:
        train(pot, tr, va, cfg, seed=SEED)
    pot.model.to(cfg.torch_dtype)
    return pot.eval(), te


def export_upstream(pot) -> torch.nn.Module:
    """The same network as a stand-alone upstream ``ScaleShiftMACE``: E0s and scale moved inside."""
    up = copy.deepcopy(pot.model.mace)
    assert [int(z) for z in up.atomic_numbers] == list(pot.species)
    ae = up.atomic_energies_fn.atomic_energies
    up.atomic_energies_fn.atomic_energies = torch.tensor(pot.e0.tolist(), dtype=ae.dtype).reshape(ae.shape)
    up.scale_shift.scale = torch.full_like(up.scale_shift.scale, float(pot.scale))
    up.scale_shift.shift = torch.zeros_like(up.scale_shift.shift)
    return up.eval()


def random_box(n_atoms: int = 200, density_g_cm3: float = 0.975, min_dist: float = 1.0, seed: int = SEED) -> Atoms:
    """Periodic cubic box, acac composition (C5H8O2 per 15 atoms), random positions >= ``min_dist`` apart."""
    rng = np.random.default_rng(seed)
    n_c, n_o = round(n_atoms * 5 / 15), round(n_atoms * 2 / 15)
    numbers = np.array([6] * n_c + [8] * n_o + [1] * (n_atoms - n_c - n_o))
    rng.shuffle(numbers)
    probe = Atoms(numbers=numbers)
    volume = probe.get_masses().sum() / units.kg * 1e3 / density_g_cm3 * 1e24  # Å^3
    length = volume ** (1 / 3)
    pos = []
    while len(pos) < n_atoms:
        x = rng.uniform(0, length, 3)
        if pos:
            d = np.asarray(pos) - x
            d -= length * np.round(d / length)
            if np.min(np.linalg.norm(d, axis=1)) < min_dist:
                continue
        pos.append(x)
    return Atoms(numbers=numbers, positions=pos, cell=[length] * 3, pbc=True)


def check_same(calc_a, calc_b, structures, rtol: float = 1e-5) -> float:
    """Assert energies and forces agree to ``rtol`` (relative; forces by the norm); return the worst."""
    worst = 0.0
    for atoms in structures:
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = calc_a, calc_b
        ea, eb = a.get_potential_energy(), b.get_potential_energy()
        fa, fb = a.get_forces(), b.get_forces()
        de = abs(ea - eb) / abs(eb)
        df = np.linalg.norm(fa - fb) / np.linalg.norm(fb)
        assert de <= rtol and df <= rtol, f"{atoms.get_chemical_formula()}: energy rel {de:.2e}, forces rel {df:.2e}"
        worst = max(worst, de, df)
        if atoms.pbc.any() and isinstance(calc_a, StressingCalculator):
            sa, sb = a.get_stress(), b.get_stress()
            ds = np.linalg.norm(sa - sb) / np.linalg.norm(sb)
            assert ds <= rtol, f"{atoms.get_chemical_formula()}: stress rel {ds:.2e}"
            worst = max(worst, ds)
    return worst


class StressingCalculator(EgbenchCalculator):
    """egbench's calculator also computing the stress at every call, as mace-torch's always does:
    the same work as upstream's, to show how much of the difference that is."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, tuple(properties) + ("stress",), system_changes)


def md_round(atoms0: Atoms, calc, steps: int) -> tuple[float, float]:
    """Wall and CPU (process) seconds per step of ``steps`` Langevin steps from ``atoms0`` (same
    velocities and thermostat noise every time)."""
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    rng = np.random.default_rng(SEED)
    atoms = atoms0.copy()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=TEMPERATURE_K, rng=rng)
    Stationary(atoms)
    dyn = Langevin(
        atoms,
        TIMESTEP_FS * units.fs,
        temperature_K=TEMPERATURE_K,
        friction=FRICTION_PER_FS / units.fs,
        rng=rng,
        fixcm=False,
    )
    atoms.get_forces()  # the first evaluation is not a step
    c0, t0 = time.process_time(), time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def interleaved(contenders: dict, atoms0: Atoms, steps: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Per contender and round, (wall, CPU) ms/step: one warm-up round each, then ``rounds`` rounds
    A B A B ..."""
    for calc in contenders.values():
        md_round(atoms0, calc, max(2, steps // 2))
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, calc in contenders.items():
            times[name].append(tuple(1e3 * x for x in md_round(atoms0, calc, steps)))
    return times


def median(rounds: list[tuple[float, float]], k: int) -> float:
    return statistics.median(r[k] for r in rounds)


def quartiles(x: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(x, n=4)
    return q[0], q[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--steps", type=int, nargs=2, default=[30, 2], metavar=("ACAC", "BOX"), help="MD steps per round")
    ap.add_argument("--epochs", type=int, default=TRAIN_EPOCHS, help="training epochs before timing (0: fresh model)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--systems", nargs="+", choices=["acac", "box"], default=["acac", "box"])
    ap.add_argument("--no-nl", action="store_true", help="skip the neighbour-list comparison")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)

    import mace
    from mace.calculators import MACECalculator

    torch.set_num_threads(2)
    pot, test = build_models(args.epochs)
    ours = EgbenchCalculator(pot)
    theirs = MACECalculator(models=[export_upstream(pot)], device="cpu", default_dtype="float32")
    acac = test.to_atoms(0)
    box = random_box()
    checks = [test.to_atoms(k) for k in range(5)] + [box, random_box(seed=1)]
    worst = max(check_same(ours, theirs, checks), check_same(StressingCalculator(pot), theirs, checks[-2:]))

    print(
        f"model: MACE preset {PRESET!r} (H, C, O; cutoff {pot.cutoff:g} Å), seed {SEED}, trained {args.epochs} "
        f"epochs on acac; mace-torch {mace.__version__}; egbench == mace-torch on {len(checks)} structures "
        f"(worst relative difference {worst:.1e})"
    )
    systems = {
        "acac": ("acetylacetone", acac, args.steps[0]),
        "box": (f"H/C/O box {len(box)} (periodic)", box, args.steps[1]),
    }
    systems = [systems[k] for k in args.systems]
    print(
        f"MD: ASE Langevin {TIMESTEP_FS:g} fs, {TEMPERATURE_K:g} K, float32 models, interleaved, "
        f"median of {args.rounds} rounds after warm-up, "
        f"{args.steps[0]} (acac) / {args.steps[1]} (box) steps per round"
    )
    print(
        "ratio: median over rounds of egbench/mace wall-clock time in the same round (adjacent runs), "
        "spread: its first-third quartiles; CPU ratio: the same with process CPU time (less sensitive to other "
        "jobs on the machine); +stress: egbench also computing the stress every step, as mace-torch's calculator "
        "always does (periodic systems only), over mace, wall"
    )
    print(
        f"{'system':<26} {'atoms':>5} {'threads':>7} {'egbench ms':>10} {'mace ms':>8} {'ratio':>6} "
        f"{'spread':>11} {'CPU ratio':>9} {'+stress':>7}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(header("float32") + f"  load average {os.getloadavg()[0]:.1f}")
        for name, atoms0, steps in systems:
            contenders = {"egbench": ours, "mace": theirs}
            if atoms0.pbc.any():
                contenders["stress"] = StressingCalculator(pot)
            t = interleaved(contenders, atoms0, steps, args.rounds)
            up = t["mace"]
            ratio = {name: [a[0] / b[0] for a, b in zip(rounds, up)] for name, rounds in t.items()}
            ratio["cpu"] = [a[1] / b[1] for a, b in zip(t["egbench"], up)]
            q1, q3 = quartiles(ratio["egbench"])
            extra = f"{statistics.median(ratio['stress']):>7.2f}" if "stress" in t else f"{'-':>7}"
            print(
                f"{name:<26} {len(atoms0):>5} {threads:>7} {median(t['egbench'], 0):>10.2f} {median(up, 0):>8.2f} "
                f"{statistics.median(ratio['egbench']):>6.2f} {f'{q1:.2f}-{q3:.2f}':>11} "
                f"{statistics.median(ratio['cpu']):>9.2f} {extra}",
                flush=True,
            )
    if not args.no_nl:
        torch.set_num_threads(2)
        print("\nneighbour lists (fcc Cu, cutoff 5 Å, full lists):")
        from neighbour_lists import main as nl_main

        nl_main()


if __name__ == "__main__":
    main()
