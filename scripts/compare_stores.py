"""Compare two egbench results folders cell by cell: the check behind a refactor that must not
change a number ("the stores of a smoke run are identical before and after").

    python scripts/compare_stores.py BEFORE_DIR AFTER_DIR [--common]

``--common``: compare only the cells both stores hold (two runs of overlapping cross products);
how many cells each holds alone is said, not counted as a difference.

Cells are matched by (model, preset, dataset, task, seed): their keys differ whenever the code's
source hash does. For each pair it compares every metric row (value, std, unit, n, version, note)
and every artifact's sha256 (by kind and path inside the cell's folder; for ``.npz`` files, whose
zip entries carry the time they were written, the sha256 of their arrays; for ``oracle.json``, its
content without the ``computed``/``reused`` counts of the oracle's label cache, which is shared
between runs). Wall-clock figures are
left out: the timing metrics, and the artifacts that record timings (``md/replicas.json``,
``model.json`` of a calculator model). Exit code 0 when all else is identical, 1 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import sys
from pathlib import Path

TIMING_METRICS = {"train_time_per_epoch", "train_time_total", "md_time_per_step", "md_throughput"}
TIMING_ARTIFACTS = {"md/replicas.json", "model.json"}
CACHE_COUNTS = {"oracle.json": ("computed", "reused")}  # how many labels the shared cache held


def _digest(folder: Path, path: str, sha: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name in CACHE_COUNTS and (folder / path).exists():
        data = json.loads((folder / path).read_text())
        for key in CACHE_COUNTS[name]:
            data.pop(key, None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    if not path.endswith(".npz") or not (folder / path).exists():
        return sha
    import numpy as np

    h = hashlib.sha256()
    with np.load(folder / path) as z:
        for name in sorted(z.files):
            h.update(name.encode() + z[name].tobytes())
    return h.hexdigest()


def _cells(folder: Path) -> dict[tuple, dict]:
    db = sqlite3.connect(folder / "egbench.sqlite")
    out = {}
    for key, *ident, status, reason in db.execute(
        "SELECT key, model, preset, dataset, task, seed, status, reason FROM cells"
    ):
        metrics = {
            (name, split, mode): (value, std, unit, n, version, note)
            for name, split, mode, value, std, unit, n, version, note in db.execute(
                "SELECT name, split, mode, value, std, unit, n, version, note FROM metrics WHERE cell_key = ?", (key,)
            )
            if name not in TIMING_METRICS
        }
        artifacts = {
            (kind, path.split("/", 2)[2]): _digest(folder, path, sha)
            for kind, path, sha in db.execute("SELECT kind, path, sha256 FROM artifacts WHERE cell_key = ?", (key,))
            if path.split("/", 2)[2] not in TIMING_ARTIFACTS
        }
        out[tuple(ident)] = {"status": status, "reason": reason, "metrics": metrics, "artifacts": artifacts}
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare(before: Path, after: Path, common: bool = False, counts: dict[str, int] | None = None) -> list[str]:
    """The differences; ``counts`` (when given) gets how many cells, metric rows and artifacts were
    compared, and with ``common`` how many cells only one store holds."""
    a, b = _cells(before), _cells(after)
    counts = counts if counts is not None else {}
    counts.update(
        cells=0, metric_rows=0, artifacts=0, only_before=len(set(a) - set(b)), only_after=len(set(b) - set(a))
    )
    if common:
        a, b = ({k: v for k, v in x.items() if k in a and k in b} for x in (a, b))
    diffs = [f"cell only in {before}: {k}" for k in sorted(set(a) - set(b))]
    diffs += [f"cell only in {after}: {k}" for k in sorted(set(b) - set(a))]
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if "running" in (x["status"], y["status"]):  # still being computed: nothing to compare yet
            diffs.append(f"{k}: not compared, still running")
            continue
        counts["cells"] += 1
        counts["metric_rows"] += len(set(x["metrics"]) | set(y["metrics"]))
        counts["artifacts"] += len(set(x["artifacts"]) | set(y["artifacts"]))
        if (x["status"], x["reason"]) != (y["status"], y["reason"]):
            diffs.append(f"{k}: status {x['status']!r} ({x['reason']}) != {y['status']!r} ({y['reason']})")
        for m in sorted(set(x["metrics"]) | set(y["metrics"])):
            u, v = x["metrics"].get(m), y["metrics"].get(m)
            if u is None or v is None or not all(_same(p, q) for p, q in zip(u, v)):
                diffs.append(f"{k} metric {m}: {u} != {v}")
        for art in sorted(set(x["artifacts"]) | set(y["artifacts"])):
            if x["artifacts"].get(art) != y["artifacts"].get(art):
                diffs.append(f"{k} artifact {art}: sha256 differs or missing")
    return diffs


def main(argv: list[str]) -> int:
    common = "--common" in argv
    paths = [p for p in argv if p != "--common"]
    if len(paths) != 2:
        print(__doc__)
        return 2
    before, after = (Path(p) for p in paths)
    counts: dict[str, int] = {}
    diffs = compare(before, after, common, counts)
    for d in diffs:
        print(d)
    if common:
        print(f"not compared: {counts['only_before']} cells only in {before}, {counts['only_after']} only in {after}")
    print(
        f"{counts['cells']} cells compared ({counts['metric_rows']} metric rows, {counts['artifacts']} artifacts): "
        f"{'identical' if not diffs else f'{len(diffs)} differences'}"
    )
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
