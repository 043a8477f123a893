"""PNG plots from the store's artifacts (matplotlib, Agg): one figure per (task, dataset).

* ``<dataset>-rdf.png``: g(r) of each model against the reference g_ref;
* ``<dataset>-violations.png``: EV(t) and FV(t) of each model (each replica a line; oracle solid,
  aligned dashed);
* ``<dataset>-survival.png``: fraction of replicas still stable against time, per model.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from egbench_core.analysis import survival_curve
from egbench_core.store import Store

log = logging.getLogger(__name__)


def _load(path: Path):
    return json.loads(path.read_text())


def _by_dataset(store: Store):
    groups = defaultdict(list)
    for c in store.cells("done"):
        arts = defaultdict(list)
        for kind, path in store.artifacts(c.key):
            arts[kind].append(path)
        groups[(c.task, c.dataset)].append((f"{c.model} [{c.preset}]", arts))
    return groups


def make_plots(store: Store, out_dir: Path | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir or store.root / "plots")
    written: list[Path] = []
    for (task, dataset), cells in sorted(_by_dataset(store).items()):
        folder = out_dir / task
        folder.mkdir(parents=True, exist_ok=True)
        colours = {label: f"C{k % 10}" for k, (label, _) in enumerate(cells)}

        rdfs = [(label, _load(a["rdf"][0])) for label, a in cells if a.get("rdf")]
        if rdfs:
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot(rdfs[0][1]["r"], rdfs[0][1]["g_ref"], "k--", lw=1.5, label="reference")
            for label, d in rdfs:
                ax.plot(d["r"], d["g"], color=colours[label], lw=1.2, label=label)
            ax.set_xlabel("r (Å)")
            ax.set_ylabel("g(r)" if rdfs[0][1]["periodic"] else "pair-distance density (1/Å)")
            ax.set_title(f"{dataset} · {task}: radial distribution")
            ax.legend(fontsize=7)
            written.append(_save(fig, folder / f"{dataset}-rdf.png"))

        dyn = [(label, _load(p)) for label, a in cells for p in a.get("dynamics", [])]
        if dyn:
            fig, (ax_e, ax_f) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
            seen = set()
            for label, d in dyn:
                style = "-" if d["mode"] == "oracle" else "--"
                for s in d["series"]:
                    key = (label, d["mode"])
                    lab = f"{label} ({d['mode']})" if key not in seen else None
                    seen.add(key)
                    t = np.asarray(s["time_fs"])
                    ax_e.semilogy(
                        t, np.maximum(np.asarray(s["ev"]), 1e-12), style, color=colours[label], lw=0.8, label=lab
                    )
                    ax_f.plot(t, s["fv"], style, color=colours[label], lw=0.8)
            ax_e.set_ylabel("EV(t)")
            ax_f.set_ylabel("FV(t)")
            ax_f.set_xlabel("time (fs)")
            ax_f.axhline(np.sqrt(2) / 2, color="grey", lw=0.6, ls=":")
            ax_e.set_title(f"{dataset} · {task}: energy and force violation")
            ax_e.legend(fontsize=7)
            written.append(_save(fig, folder / f"{dataset}-violations.png"))

        stab = [(label, _load(a["stability"][0])) for label, a in cells if a.get("stability")]
        if stab:
            fig, ax = plt.subplots(figsize=(6, 4))
            for label, d in stab:
                total = float(d["total_time_fs"])
                grid, surv = survival_curve(
                    d["time_to_failure_fs"], total, grid=200, failed=[not s for s in d["stable"]]
                )
                ax.step(grid, surv, where="post", color=colours[label], label=label)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("time (fs)")
            ax.set_ylabel("fraction of replicas stable")
            ax.set_title(f"{dataset} · {task}: stability")
            ax.legend(fontsize=7)
            written.append(_save(fig, folder / f"{dataset}-survival.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    log.info("wrote %s", path)
    return path
