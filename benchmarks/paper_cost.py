"""egbench's MD cost at the ``paper`` preset beside the paper's Table 4 (inference time of 1000 MD steps).

For each model of the paper's Table 4 (NequIP, Allegro, BOTNet, MACE, Equiformer, TorchMD-Net; the
table has no PaiNN or DimeNet++): the model built at egbench's ``paper`` preset for Ge and Te (not
trained: the step time does not depend on the weights), then ASE Langevin MD with egbench's
calculator (``md.run_replica``, the per-replica engine, as in benchmarks/architectures.py) from the
first frame of the gete test split (Ge40Te160, 200 atoms, periodic cubic cell 19.1 Å) at the
dataset's 960 K and 1 fs, after a warm-up, no trajectory writing; float32; the given torch threads.
ms/step is the integrator step including the model call (what egbench stores as
``md_time_per_step``).

Prints, per model, egbench's ms/step and min/1000 steps beside the paper's (Table 4 prints minutes
per 1000 steps; ms/step = min/1000 steps × 60), and the ratio egbench/paper. The paper's CPU is not
named, so the ratio compares two machines as well as two codes.

Models in other environments (``egbench env list``) are measured by running this script with that
environment's Python (``--worker``), so every figure comes from the same machine and run.

Needs the gete test split (EGBENCH_DATA_MIRROR pointing at the offline mirror, or a fetched copy).

Run: EGBENCH_DATA_MIRROR=../shared/data python benchmarks/paper_cost.py --threads 1 [--steps 3] [--warmup 1]
     [--models mace,botnet]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from egbench_core.run.hardware import hardware

TABLE4_MODELS = ("nequip", "allegro", "botnet", "mace", "equiformer", "torchmd-net")
DATASET = "gete"


def measure(spec, test, start, steps: int, warmup: int) -> dict:
    from egbench_core.interfaces import MDPlan
    from egbench_core.md.ase_engine import run_replica
    from egbench_core.model.potential import NormalisedPotential
    from egbench_core.model.stats import compute_stats

    preset = spec.preset("paper")
    cutoff = float(preset["cutoff"])
    stats = compute_stats(test, cutoff)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    pot = NormalisedPotential(
        spec.build(list(stats.species), cutoff, dict(preset.get("model", {})), stats), stats, cutoff
    ).to(torch.float32)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in pot.parameters() if p.requires_grad)
    plan = MDPlan("test", "test", temperature_K=960.0, timestep_fs=1.0)
    run_replica(pot, start, plan, warmup, 1000, 0, 0, 0, None)  # warm-up (first calls, allocator, caches)
    t0, c0 = time.perf_counter(), time.process_time()
    r = run_replica(pot, start, plan, steps, 1000, 1, 0, 0, None)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if r.failure:
        raise RuntimeError(f"the replica stopped: {r.failure}")
    return {
        "model": spec.name,
        "parameters": n_params,
        "cutoff": cutoff,
        "atoms": len(start),
        "steps": r.steps_done,
        "warmup_steps": warmup,
        "md_ms_per_step": r.time_per_step_ms,
        "md_ms_per_step_wall": 1e3 * wall / max(1, r.steps_done),
        # CPU time of the measured run per force evaluation (the start frame's and one per step): robust to
        # other processes taking the core, unlike the wall-clock ms/step
        "cpu_ms_per_evaluation": 1e3 * cpu / (r.steps_done + 1),
        "build_s": build_s,
        "precision": str(pot.dtype).replace("torch.", ""),
        "torch_threads": torch.get_num_threads(),
        "loadavg_1min_after": os.getloadavg()[0],
    }


def sample_frames(path: Path) -> None:
    """Every 30th frame of the gete test split (frame 0 first) into ``path``: the MD start and the
    frames for E0 and scale; passed to the workers of other environments, which lack the dataset."""
    from egbench_core.data.readers import save_frames
    from egbench_core.plugins import load_catalog

    test = load_catalog().datasets[DATASET].load("test")
    save_frames(path, {"test": test.subset(list(range(0, len(test), 30)))})


def worker(models: set[str], steps: int, warmup: int, frames: Path) -> list[dict]:
    from egbench_core.data.readers import load_frames
    from egbench_core.plugins import load_catalog

    cat = load_catalog()
    test = load_frames(frames)["test"]
    start = test.to_atoms(0)
    rows = []
    for name in TABLE4_MODELS:
        spec = cat.models.get(name)
        if spec is None or spec.environment or name not in models or "paper" not in spec.presets:
            continue
        try:
            rows.append(measure(spec, test, start, steps, warmup))
        except Exception as exc:  # noqa: BLE001 - report, do not hide
            rows.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def paper_table4() -> dict[str, float]:
    """The paper's Table 4 inference minutes per 1000 steps on GeTe, per model."""
    from egbench_core.report.paper import load_tables

    return {
        r["model"]: float(r["inference_min_per_1000_steps"])
        for r in load_tables()[4].rows
        if r["dataset"] == DATASET and r["inference_min_per_1000_steps"]
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3, help="measured MD steps per model")
    ap.add_argument("--warmup", type=int, default=1, help="MD steps before the measured ones")
    ap.add_argument("--models", default=",".join(TABLE4_MODELS))
    ap.add_argument("--worker", action="store_true", help="measure this environment's models, print JSON")
    ap.add_argument("--frames", default="", help="(--worker) the sampled gete test frames (npz)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    models = set(filter(None, args.models.split(",")))
    if args.worker:
        print(json.dumps(worker(models, args.steps, args.warmup, Path(args.frames))))
        return
    load_before = os.getloadavg()
    print("machine: " + json.dumps(hardware("float32")))
    print(f"load average at the start: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    from egbench_core.envs.manage import list_envs

    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp) / "gete-test-sample.npz"
        sample_frames(frames)
        rows = worker(models, args.steps, args.warmup, frames)
        passed = [
            "--threads",
            str(args.threads),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--models",
            args.models,
            "--frames",
            str(frames),
        ]
        for env in list_envs():
            if not models & {m.get("name") for m in env.models}:
                continue
            proc = subprocess.run([str(env.python), __file__, "--worker"] + passed, capture_output=True, text=True)
            if proc.returncode == 0:
                rows += json.loads(proc.stdout.strip().splitlines()[-1])
            else:
                rows.append({"model": f"env:{env.name}", "error": proc.stderr[-500:]})
    paper = paper_table4()
    rows.sort(key=lambda r: TABLE4_MODELS.index(r["model"]) if r["model"] in TABLE4_MODELS else 99)
    print(
        f"\nMD on {DATASET} test frame 0 (200 atoms), {args.warmup} warm-up + {args.steps} measured steps per model, "
        f"torch threads {args.threads}, float32"
    )
    print(
        f"{'model':<12} {'params':>10} {'egbench ms/step':>16} {'egbench min/1000':>17} {'paper min/1000':>15} "
        f"{'paper ms/step':>14} {'egbench/paper':>14} {'CPU ms/eval':>12} {'CPU/paper':>10}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<12} error: {r['error']}")
            continue
        theirs = paper.get(r["model"])
        ours = r["md_ms_per_step"]
        cpu = r["cpu_ms_per_evaluation"]
        cols = (
            f"{theirs:>15.2f} {theirs * 60:>14.0f} {ours / (theirs * 60):>14.2f} {cpu:>12.1f} "
            f"{cpu / (theirs * 60):>10.2f}"
            if theirs
            else f"{'—':>15} {'—':>14} {'—':>14} {cpu:>12.1f} {'—':>10}"
        )
        print(f"{r['model']:<12} {r['parameters']:>10,d} {ours:>16.1f} {ours / 60:>17.2f} {cols}")
    load_after = os.getloadavg()
    print(f"load average at the end: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
