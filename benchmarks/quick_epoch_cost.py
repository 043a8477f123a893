"""Seconds per training epoch at the ``quick`` preset, per model and dataset, on the frames a quick
cell really trains on (the protocol's seeded subset), to size the presets' epoch counts.

For each (model, dataset, task): the cell's inputs as ``egbench run`` loads them, then two epochs
(the second is timed, so start-up is excluded) and 10 MD steps (ms/step). Prints one line per
cell and the projected cell time for the preset's epoch count: epochs × s/epoch + 1.2 × validation
+ 3 replicas × 200 steps × ms/step.

Run: python benchmarks/quick_epoch_cost.py --models mace,painn [--datasets ...] [--tasks standard,ood]
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from common import header


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mace,painn")
    ap.add_argument("--datasets", default="all")
    ap.add_argument("--tasks", default="standard,ood")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from egbench_core.md.ase_engine import MDSettings, run_md
    from egbench_core.model.potential import NormalisedPotential
    from egbench_core.model.stats import compute_stats
    from egbench_core.model.train import TrainConfig, train
    from egbench_core.plugins import load_catalog
    from egbench_core.run.execute import load_inputs, seed_everything
    from egbench_core.run.protocol import protocol
    from egbench_core.run.runner import plan_cells

    print(header("float32"), f"torch threads {torch.get_num_threads()}")
    cat = load_catalog()
    proto = protocol("quick")
    cells = [c for c in plan_cells(cat, args.models, args.datasets, args.tasks, "quick") if not c.skip_reason]
    print(
        f"{'model':8s} {'dataset':22s} {'task':16s} {'frames':>6s} {'atoms':>6s} {'s/epoch':>8s} {'MD ms':>7s} "
        f"{'epochs':>6s} {'projected min':>13s}"
    )
    for cell in cells:
        spec = cat.models[cell.model]
        preset = spec.preset("quick")
        inputs = load_inputs(cell, cat, proto)
        cutoff = float(preset["cutoff"])
        stats = compute_stats(inputs.train, cutoff, isolated_atom_energies=inputs.isolated_atom_energies)
        seed_everything(0)
        pot = NormalisedPotential(
            spec.build(list(stats.species), cutoff, dict(preset.get("model", {})), stats), stats, cutoff
        )
        cfg = TrainConfig.from_dict(preset.get("train", {}))
        rec = train(pot, inputs.train, inputs.val, dataclasses.replace(cfg, epochs=2, max_time_s=None), seed=0)
        per_epoch = rec.history[-1]["time_s"]
        md = run_md(pot, inputs.md_start, cell.plan.md, MDSettings(1, 10, 1000, 0), None)
        ms = md[0].time_per_step_ms
        projected = (cfg.epochs * per_epoch + proto.md_replicas * proto.md_steps * ms / 1e3) / 60
        print(
            f"{cell.model:8s} {cell.dataset:22s} {cell.task:16s} {len(inputs.train):6d} "
            f"{int(inputs.train.n_atoms.sum()):6d} {per_epoch:8.2f} {ms:7.1f} {cfg.epochs:6d} {projected:13.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
