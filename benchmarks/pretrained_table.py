"""The table of docs/pretrained.md: from-scratch, zero-shot and fine-tuned rows side by side, read
from one or more results folders (the latest done cell of each model × dataset × task).

Columns: how the model met the data, F MAE and E MAE on the task's first evaluation split, stable
fraction, WF, the MD force drift against the DFT oracle where one labelled the MD frames (else why
not), MD ms per step, and the time spent before evaluation (training, or the offset refit).

Run: python benchmarks/pretrained_table.py RESULTS_FOLDER [RESULTS_FOLDER ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from egbench_core.report.leaderboard import MODE_ORDER, cell_mode
from egbench_core.store import Store


def _v(ms, name, split="", scale=1.0, digits=1) -> str:
    m = ms.get((name, split))
    if m is None:
        return "—"
    if m["value"] is None:
        return "n/a"
    return f"{m['value'] * scale:.{digits}f}"


def rows(folders: list[Path]):
    latest = {}
    for folder in folders:
        store = Store.open_readonly(folder)
        for c in store.cells("done"):
            k = (c.model, c.dataset, c.task)
            if k not in latest or (c.finished or "") > (latest[k][0].finished or ""):
                latest[k] = (c, {(m["name"], m["split"]): m for m in store.metrics(c.key)})
    return sorted(
        latest.values(),
        key=lambda cm: (
            cm[0].dataset,
            cm[0].task != "standard",
            cm[0].task,
            MODE_ORDER[cell_mode(cm[0].info)],
            cm[0].model,
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", type=Path, nargs="+")
    args = ap.parse_args()
    print(
        "| dataset | task | model | training | F MAE (meV/Å) | E MAE (meV) | stable fraction | WF (%) "
        "| oracle F drift | MD ms/step | train / refit (min) |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    notes = set()
    for c, ms in rows(args.folders):
        split = next((s for (n, s) in ms if n == "force_mae"), "")
        mode = cell_mode(c.info)
        model = c.info.get("model") or {}
        if model.get("offsets_split") not in (None, "train"):
            mode += f" (offsets on {model['offsets_split']})"
        drift = ms.get(("md_force_drift", ""))
        if drift is not None and drift["value"] is None:
            notes.add(drift.get("note") or "")
        tr = c.info["train"]
        print(
            f"| {c.dataset} | {c.task} | {c.model} | {mode} | {_v(ms, 'force_mae', split, 1e3)} "
            f"| {_v(ms, 'energy_mae', split, 1e3)} | {_v(ms, 'stable_fraction', digits=2)} | {_v(ms, 'wf')} "
            f"| {_v(ms, 'md_force_drift', digits=2)} | {_v(ms, 'md_time_per_step')} "
            f"| {tr['total_time_s'] / 60:.1f}{' *' if c.truncated else ''} |"
        )
    for n in sorted(x for x in notes if x):
        print(f"\nn/a oracle drift: {n}")


if __name__ == "__main__":
    main()
