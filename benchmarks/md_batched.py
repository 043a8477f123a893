"""MD throughput of the batched engine against the ASE path (replica-steps per second), MACE on
acetylacetone, R replicas ∈ {1, 4, 8, 16}, at the quick and paper presets.

Both engines integrate the same replicas (same seeds, start frames and Langevin noise: the batched
engine reproduces the ASE path's trajectories), without trajectory files or observers. Rounds
alternate the two engines so slow changes in the machine's load cancel in the ratio; the ratio
printed is the median over rounds of (ASE wall time / batched wall time) for the same work. The
model is the plugin's preset trained for one epoch on 100 acac frames (so the dynamics stays
physical; step time does not depend on the weights).

Run: python benchmarks/md_batched.py [--replicas 1 4 8 16] [--presets quick paper] [--steps 30]
     [--rounds 3] [--threads 1] [--device cpu]
Last line: ``batched/ase R=8 quick: X.XX``
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
import warnings

import torch
from common import header


def build(preset: str, device: str):
    from egbench_core.interfaces import MDPlan
    from egbench_core.model.potential import NormalisedPotential
    from egbench_core.model.stats import compute_stats
    from egbench_core.model.train import TrainConfig, train
    from egbench_core.plugins import load_catalog

    cat = load_catalog()
    spec = cat.models["mace"]
    ds = cat.datasets["acac"]
    tr, va, te = ds.load("train"), ds.load("val"), ds.load("test")
    cfg = spec.preset(preset)
    cutoff = float(cfg["cutoff"])
    stats = compute_stats(tr, cutoff, isolated_atom_energies=ds.isolated_atom_energies())
    torch.manual_seed(0)
    pot = NormalisedPotential(spec.build(list(stats.species), cutoff, dict(cfg["model"]), stats), stats, cutoff)
    tcfg = dataclasses.replace(TrainConfig.from_dict(cfg["train"]), epochs=1, max_time_s=None)
    train(pot, tr.subset(range(100)), va, tcfg, seed=0, device=device)
    plan = MDPlan("test", "test", temperature_K=300.0, timestep_fs=0.5, friction_per_ps=0.5)
    return pot.eval(), te, plan, tcfg.dtype


def wall(pot, frames, plan, replicas: int, steps: int, engine: str) -> float:
    from egbench_core.md.ase_engine import MDSettings, run_md

    t0 = time.perf_counter()
    res = run_md(pot, frames, plan, MDSettings(replicas, steps, steps, 0), None, engine=engine)
    elapsed = time.perf_counter() - t0
    done = sum(r.steps_done for r in res)
    if done != replicas * steps:
        raise RuntimeError(f"{engine}: only {done} of {replicas * steps} replica-steps ran ({res[0].failure})")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--presets", nargs="+", default=["quick", "paper"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--cpu-baseline",
        action="store_true",
        help="also print batched throughput / the single-replica ASE path's on the CPU (GPU target: >= 20x at R = 64)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    lines = []
    for preset in args.presets:
        pot, frames, plan, dtype = build(preset, args.device)
        print(header(dtype), f"device {args.device}, torch threads {torch.get_num_threads()}, preset {preset}")
        print(
            f"{'R':>3s} {'ase rs/s':>9s} {'batched rs/s':>12s} {'ratio':>6s}  (rs = replica-steps, median of "
            f"{args.rounds} alternating rounds of {args.steps} steps)"
        )
        wall(pot, frames, plan, 2, 3, "ase")  # warm-up of both paths
        wall(pot, frames, plan, 2, 3, "batched")
        baseline = None
        if args.cpu_baseline:
            import copy

            cpu_pot = copy.deepcopy(pot).to("cpu")
            wall(cpu_pot, frames, plan, 1, 3, "ase")
            baseline = args.steps / statistics.median(
                wall(cpu_pot, frames, plan, 1, args.steps, "ase") for _ in range(args.rounds)
            )
            print(f"baseline: ASE path, 1 replica, CPU: {baseline:.1f} replica-steps/s")
        for r in args.replicas:
            ratios, t_ase, t_bat = [], [], []
            for _ in range(args.rounds):
                a = wall(pot, frames, plan, r, args.steps, "ase")
                b = wall(pot, frames, plan, r, args.steps, "batched")
                t_ase.append(a)
                t_bat.append(b)
                ratios.append(a / b)
            work = r * args.steps
            ratio = statistics.median(ratios)
            extra = (
                f"   batched {args.device} / ASE CPU R=1: {work / statistics.median(t_bat) / baseline:.1f}"
                if baseline
                else ""
            )
            print(
                f"{r:3d} {work / statistics.median(t_ase):9.1f} {work / statistics.median(t_bat):12.1f} "
                f"{ratio:6.2f}{extra}",
                flush=True,
            )
            lines.append((preset, r, ratio))
    for preset, r, ratio in lines:
        if r == 8 and preset != "quick":
            print(f"batched/ase R=8 {preset}: {ratio:.2f}")
    for preset, r, ratio in lines:
        if r == 8 and preset == "quick":
            print(f"batched/ase R=8 quick: {ratio:.2f}")


if __name__ == "__main__":
    main()
