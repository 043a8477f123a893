"""The stability criterion applied to every reference trajectory available offline (METRICS.md,
"Stability": calibrated, not assumed): the table of docs/metrics.md.

Each dataset's frames, in order, are treated as an MD trajectory (frame k = step k): the per-step
checks (non-finite, fragmentation for molecules, collapse) on every frame, the saved-frame checks
(non-finite labels; for bulk the RDF over a sliding window of 100 frames against g_ref, the RDF of
up to 1000 evenly spaced frames of the same trajectory, as the metric builds it) on every
``--save-every``-th frame. No temperature check: reference frames carry no velocities. For bulk
systems the contact list reaches 1.5× the covalent sums, so the closest approach is exact, and the
bond graph's pieces are counted for information (fragmentation is not checked there).

Run: EGBENCH_DATA_MIRROR=../shared/data EGBENCH_LOAD_PLUGINS=md17,botnet,lips,gete \\
     python benchmarks/stability_calibration.py [--save-every 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from egbench_core.analysis import bond_graph_pieces, max_rdf_radius, rdf_of_frames, replay
from egbench_core.analysis.stability import CALIBRATION_MOLECULES
from egbench_core.plugins import load_catalog

R_MAX, BIN_WIDTH, MAX_REFERENCE_FRAMES = 6.0, 0.05, 1000  # as default_plugins/md_metrics.py


def g_ref_of(frames):
    ref = frames
    if len(ref) > MAX_REFERENCE_FRAMES:
        ref = ref.subset(np.linspace(0, len(ref) - 1, MAX_REFERENCE_FRAMES).astype(int))
    return rdf_of_frames(ref, min(R_MAX, max_rdf_radius(frames.cell[0], frames.pbc[0])), BIN_WIDTH)


def bulk_pieces(frames) -> tuple[int, int, int]:
    n = int(frames.n_atoms[0])
    counts = [
        bond_graph_pieces(frames.positions[k * n : (k + 1) * n], frames.numbers[:n], frames.cell[k], frames.pbc[k])[0]
        for k in range(len(frames))
    ]
    return counts[0], min(counts), max(counts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--save-every", type=int, default=1, help="update (RDF window) every n-th frame")
    args = ap.parse_args()
    cat = load_catalog(entry_points=True)
    rows = []
    for name, split, spacing in CALIBRATION_MOLECULES:
        frames = cat.datasets[name].load(split)
        t0 = time.perf_counter()
        out = replay(frames, spacing_fs=spacing or 1.0)
        rows.append((f"{name} / {split}", frames, out, None, time.perf_counter() - t0))
    lips = cat.datasets["lips20"]
    bulk = [(f"lips20 / {s}", lips.load_system(s)) for s in lips.system_names()]
    bulk.append(("gete / test", cat.datasets["gete"].load("test")))
    for label, frames in bulk:
        t0 = time.perf_counter()
        out = replay(frames, g_ref=g_ref_of(frames), save_every=args.save_every, contact_factor=1.5)
        rows.append((label, frames, out, bulk_pieces(frames), time.perf_counter() - t0))
    print(
        "| dataset / split | frames | atoms | pieces at start | failures | closest approach (× covalent sum) "
        "| largest piece count | max RDF WF (%) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, frames, out, pieces, _seconds in rows:
        failures = 0 if out["stable"] else 1
        closest = f"{out['closest_contact']:.3f}" if out["closest_contact"] is not None else "—"
        if pieces is None:
            start, most, wf = str(out["pieces_start"]), str(out["max_pieces"]), "—"
        else:
            start, most = f"({pieces[0]})", f"({pieces[2]}; fewest {pieces[1]})"
            wf = f"{out['max_rdf_wf']:.1f}"
        print(
            f"| {label} | {out['frames']} | {int(frames.n_atoms[0])} | {start} | {failures} | {closest} "
            f"| {most} | {wf} |" + ("" if out["stable"] else f" {out['reason']}")
        )
    print()
    for label, frames, out, _, seconds in rows:
        print(
            f"{label}: {seconds:.2f} s ({1e6 * seconds / len(frames):.0f} µs per frame), "
            f"contact-list rebuilds {out['contact_rebuilds']}, closest pair {out['closest_contact_atoms']} "
            f"at frame {out['closest_contact_step']}"
        )


if __name__ == "__main__":
    main()
