"""The per-dataset table of a `quick` run for docs/performance.md: epochs, minutes per cell, F MAE
and E MAE, beside the paper's Table 1 value (which is the `paper` preset's, trained to convergence
on a GPU: a quick cell is not expected to match it).

Run: python benchmarks/quick_table.py RESULTS_FOLDER [--paper ../shared/design/paper/table1_static.csv]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from egbench_core.store import Store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument(
        "--paper",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "design" / "paper" / "table1_static.csv",
    )
    args = ap.parse_args()
    paper = {}
    if args.paper.exists():
        with open(args.paper) as fh:
            for r in csv.DictReader(fh):
                paper[(r["dataset"], r["model"])] = (r["energy_mae_meV"], r["force_mae_meV_per_A"])
    store = Store.open_readonly(args.out)
    print(
        "| model | dataset | task | train frames | epochs | s/epoch | minutes | F MAE (meV/Å) | E MAE (meV) "
        "| paper F MAE | paper E MAE |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    slowest = 0.0
    for c in sorted(store.cells("done"), key=lambda c: (c.model, c.dataset, c.task)):
        ms = {(m["name"], m["split"]): m for m in store.metrics(c.key)}
        split = next((s for (n, s) in ms if n == "force_mae"), "")
        f = ms.get(("force_mae", split), {}).get("value")
        e = ms.get(("energy_mae", split), {})
        e_text = f"{e['value'] * 1e3:.1f}" if e.get("value") is not None else "n/a"
        sub = (c.info.get("subsets") or {}).get("train")
        frames = f"{sub['frames']} of {sub['of']}" if sub else str(c.info["n_frames"]["train"])
        tr = c.info["train"]
        p = paper.get((c.dataset, c.model), ("", "")) if c.task == "standard" else ("", "")
        slowest = max(slowest, c.duration_s or 0)
        print(
            f"| {c.model} | {c.dataset} | {c.task} | {frames} | {tr['epochs_run']}{' *' if c.truncated else ''} "
            f"| {tr['time_per_epoch_s']:.1f} | {(c.duration_s or 0) / 60:.1f} | {f * 1e3:.1f} | {e_text} "
            f"| {p[1] or '—'} | {p[0] or '—'} |"
        )
    hw = next(iter(store.cells("done"))).info.get("hardware", {})
    print(
        f"\nslowest cell: {slowest / 60:.1f} min; {hw.get('cpu')} × {hw.get('cores')} cores, torch threads "
        f"{hw.get('torch_threads')}, {hw.get('precision')}, torch {hw.get('torch')}"
    )


if __name__ == "__main__":
    main()
