"""Cost of every installed architecture at the ``quick`` preset, in one run on this machine.

Per model: parameter count; training time per epoch on acetylacetone (450 frames × 15 atoms; the
second of two epochs, so start-up is excluded); MD ms/step (Langevin, after a warm-up, no
trajectory writing) on acetylacetone and on a 195-atom periodic box (13 acetylacetone molecules
in a 19.5 × 19.5 × 13 Å cell, so every model — trained on H, C, O — can run it).

Models in other environments (``egbench env list``) are measured by running this script with
that environment's Python (``--worker``), so every figure comes from the same machine and run.

Run: python benchmarks/architectures.py [--threads N] [--models a,b]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch

from egbench_core.run.hardware import hardware


def _box(acac_atoms, n_molecules: int = 13, spacing: float = 6.5):
    from ase import Atoms

    grid = [(i, j, k) for k in range(2) for j in range(3) for i in range(3)][:n_molecules]
    mol = acac_atoms.copy()
    mol.positions -= mol.positions.mean(axis=0)
    box = Atoms(cell=np.diag([3 * spacing, 3 * spacing, 2 * spacing]), pbc=True)
    for g in grid:
        m = mol.copy()
        m.positions += (np.array(g) + 0.5) * spacing
        box += m
    return box


def measure(spec, acac_train, acac_val, start, box) -> dict:
    from egbench_core.interfaces import MDPlan
    from egbench_core.md.ase_engine import run_replica
    from egbench_core.model.potential import NormalisedPotential
    from egbench_core.model.stats import compute_stats
    from egbench_core.model.train import TrainConfig, train

    preset = spec.preset("quick")
    cutoff = float(preset["cutoff"])
    stats = compute_stats(acac_train, cutoff)
    torch.manual_seed(0)
    pot = NormalisedPotential(
        spec.build(list(stats.species), cutoff, dict(preset.get("model", {})), stats), stats, cutoff
    )
    n_params = sum(p.numel() for p in pot.parameters() if p.requires_grad)
    cfg = TrainConfig.from_dict({**preset.get("train", {}), "epochs": 2, "max_time_s": None, "early_stop_patience": 10})
    rec = train(pot, acac_train, acac_val, cfg, seed=0)
    out = {
        "model": spec.name,
        "parameters": n_params,
        "train_s_per_epoch": rec.history[-1]["time_s"],
        "precision": cfg.dtype,
    }
    for label, atoms, steps in (("md_ms_per_step_acac", start, 30), ("md_ms_per_step_box195", box, 10)):
        plan = MDPlan("test", "test", temperature_K=300.0, timestep_fs=0.5)
        run_replica(pot, atoms, plan, 3, 1000, 0, 0, 0, None)  # warm-up
        t0 = time.perf_counter()
        r = run_replica(pot, atoms, plan, steps, 1000, 1, 0, 0, None)
        out[label] = r.time_per_step_ms
        out[label + "_wall"] = 1e3 * (time.perf_counter() - t0) / steps
    return out


def worker(models: set[str] | None) -> list[dict]:
    from egbench_core.plugins import load_catalog

    cat = load_catalog()
    acac = cat.datasets["acac"]
    tr, va, te = acac.load("train"), acac.load("val"), acac.load("test")
    start = te.to_atoms(0)
    box = _box(start)
    rows = []
    for spec in cat.models.values():
        if spec.environment or (models and spec.name not in models) or "quick" not in spec.presets:
            continue
        try:
            rows.append(measure(spec, tr, va, start, box))
        except Exception as exc:  # noqa: BLE001 - report, do not hide
            rows.append({"model": spec.name, "error": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--models", default="")
    ap.add_argument("--worker", action="store_true", help="measure this environment's models, print JSON")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = set(filter(None, args.models.split(","))) or None
    if args.worker:
        print(json.dumps(worker(models)))
        return
    print("machine: " + json.dumps(hardware("per model, see table")))
    rows = worker(models)
    from egbench_core.envs.manage import list_envs

    for env in list_envs():
        cmd = [str(env.python), __file__, "--worker"] + (["--threads", str(args.threads)] if args.threads else [])
        cmd += ["--models", args.models] if args.models else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            rows += json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            rows.append({"model": f"env:{env.name}", "error": proc.stderr[-500:]})
    print(
        f"{'model':<14} {'params':>10} {'train s/epoch':>14} {'MD ms/step acac':>16} "
        f"{'MD ms/step 195-atom box':>24} precision"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<14} error: {r['error']}")
            continue
        print(
            f"{r['model']:<14} {r['parameters']:>10,d} {r['train_s_per_epoch']:>14.2f} "
            f"{r['md_ms_per_step_acac']:>16.2f} "
            f"{r['md_ms_per_step_box195']:>24.2f} {r['precision']}"
        )


if __name__ == "__main__":
    main()
