"""The ``score`` part of a cell: every installed metric over the outputs of its stages, and what
the store keeps of the cell (:func:`collect`). Metrics are pure functions of stored outputs, so a
cell whose stages are done is re-scored without training or MD."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from egbench_core.cell import CellInputs, CellOutputs, CellResult
from egbench_core.interfaces import Artifact, MetricValue
from egbench_core.run.hardware import peak_rss_mb
from egbench_core.run.protocol import ProtocolPreset
from egbench_core.stages.simulate import jsonable, relative

if TYPE_CHECKING:
    from egbench_core.interfaces import MetricSpec

log = logging.getLogger(__name__)


# files of the cell's folder that core writes itself; a metric's artifact may not take their names
CORE_FILES = frozenset({"model.json", "oracle.json", "request.json", "outputs.json", "inputs.json"})


def score(
    outputs: CellOutputs, metrics: Iterable[MetricSpec]
) -> tuple[list[tuple[MetricValue, str]], dict[str, str], list[Artifact]]:
    """Every metric over ``outputs``: the (value, metric version) pairs, the reason per value id of
    each metric that failed, and the artifacts the metrics returned (written by
    :func:`write_artifacts`). A metric that raises, or returns a value or artifact its spec does not
    declare (``MetricSpec.check``), fails alone: none of its values is kept, each of its ids says why."""
    values: list[tuple[MetricValue, str]] = []
    errors: dict[str, str] = {}
    artifacts: list[Artifact] = []
    for m in metrics:
        try:
            result = m.compute(outputs)
            m.check(result)
            taken = CORE_FILES | {a.name for a in artifacts}
            for a in result.artifacts:
                if a.name in taken or "/" in a.name or not a.name.endswith(".json"):
                    raise ValueError(
                        f"metric {m.name!r} returned artifact {a.name!r}: expected a new file name "
                        f"ending in .json, not one of {sorted(taken)}"
                    )
        except Exception as exc:  # noqa: BLE001 - one metric's bug must not lose the cell
            log.exception("metric %s failed", m.name)
            for name in {m.name, *m.value_ids}:
                errors[name] = f"metric {m.name} failed: {type(exc).__name__}: {exc}"
            continue
        values.extend((v, m.version) for v in result.values)
        artifacts.extend(result.artifacts)
    return values, errors, artifacts


def write_artifacts(art_dir: Path, artifacts: Iterable[Artifact]) -> list[tuple[str, str]]:
    """Write each metric artifact as JSON into the cell's folder; ``(kind, file name)`` of each."""
    written = []
    for a in artifacts:
        (art_dir / a.name).write_text(json.dumps(a.data, default=jsonable))
        written.append((a.kind, a.name))
    return written


def collect(
    outputs: CellOutputs,
    art_dir: Path,
    metrics,
    errors,
    inputs: CellInputs,
    proto: ProtocolPreset,
    metric_artifacts: Iterable[tuple[str, str]] = (),
) -> CellResult:
    """What the store keeps; artifact paths are relative to the cell's folder ``art_dir``.
    ``metric_artifacts``: (kind, file name) of the files the metrics returned (:func:`write_artifacts`)."""
    res = CellResult(metrics=metrics)
    if (art_dir / "model.pt").exists():  # a calculator-backed model has none (its model.json is listed below)
        res.artifacts.append(("checkpoint", "model.pt"))
    for split in outputs.predictions:
        res.artifacts.append(("predictions", f"predictions-{split}.npz"))
    for r in outputs.md:
        if r.trajectory:
            res.artifacts.append(("trajectory", relative(r.trajectory, art_dir)))
    if outputs.md:
        res.artifacts.append(("md-summary", "md/replicas.json"))
    files = list(metric_artifacts)  # arrays behind metric values (RDFs, EV(t), survival, ...)
    if (outputs.oracle or {}).get("samples") is not None:  # run_oracle's labels of the replicas' frames
        files.append(("oracle", "oracle.json"))
    if (art_dir / "model.json").exists():  # a calculator-backed model's fitted offsets (run_model)
        files.append(("model", "model.json"))
    res.artifacts.extend(sorted(files, key=lambda kind_name: kind_name[1]))
    assert outputs.train is not None and outputs.stats is not None  # set for every run (run_model, from_json)
    res.info = {
        "model": outputs.model_info,
        "train": outputs.train.to_dict(),
        "stats": outputs.stats.to_dict(),
        "hardware": outputs.hardware,
        "protocol": proto.to_dict(),
        "peak_rss_mb": peak_rss_mb(),
        "metric_errors": errors,
        "truncated": bool(outputs.train.truncated),
        "oracle": {k: v for k, v in (outputs.oracle or {}).items() if k != "samples"} or None,
        "md_failures": [r.failure for r in outputs.md if r.failure],
        "seeds": {"cell": outputs.seed, "replicas": [r.seed for r in outputs.md]},
        "subsets": inputs.subsets,
        "n_frames": {
            "train": len(inputs.train),
            "val": len(inputs.val),
            **{s: len(p.reference) for s, p in outputs.predictions.items()},
        },
    }
    return res
