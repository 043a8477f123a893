"""Each stage's record beside its files, and the outputs a cell's metrics read, assembled from them.

* ``train.json`` (``train``): the training record, the statistics, how the energies came about,
  the precision (written by :func:`egbench_core.stages.train.fit`);
* ``evaluate-<split>.json`` (``evaluate``, one per split, beside ``predictions-<split>.npz``):
  where the predictions were computed (device, precision, libraries);
* ``md.json`` (``simulate``, beside ``md/``): the replicas' results, the simulated time, where the
  MD ran (with its engine) and the observers that watched it (their metric's version and code).

A cell's metrics always read :func:`assemble_outputs` — whether its stages were computed by this
cell or reused from others — so a cell's numbers never depend on which of its stages it computed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from egbench_core.cell import Cell, CellInputs, CellOutputs
from egbench_core.model.stats import DatasetStats
from egbench_core.records import ReplicaResult, TrainRecord
from egbench_core.stages.simulate import jsonable, relative

TRAIN_RECORD = "train.json"
MD_RECORD = "md.json"


def evaluate_record(split: str) -> str:
    return f"evaluate-{split}.json"


def write_records(outputs: CellOutputs, art_dir: Path, splits: list[str], md: bool, observers: dict[str, Any]) -> None:
    """The records of the stages this cell computed: an ``evaluate`` one per split in ``splits``,
    the ``simulate`` one if ``md``."""
    where = {k: v for k, v in outputs.hardware.items() if k != "md_engine"}
    for split in splits:
        (art_dir / evaluate_record(split)).write_text(json.dumps({"hardware": where}, default=jsonable))
    if md:
        record = {
            "md": [dict(r.to_dict(), trajectory=relative(r.trajectory, art_dir)) for r in outputs.md],
            "md_total_time_fs": outputs.md_total_time_fs,
            "hardware": outputs.hardware,
            "observers": observers,
        }
        (art_dir / MD_RECORD).write_text(json.dumps(record, default=jsonable))


def assemble_outputs(art_dir: Path, cell: Cell, inputs: CellInputs, dataset: Any, md: bool) -> CellOutputs:
    """The outputs the metrics read, from the stages' files in the cell's folder ``art_dir``."""
    assert cell.plan is not None  # a cell with outputs was planned by its task
    train = json.loads((art_dir / TRAIN_RECORD).read_text())
    splits = list(cell.plan.eval_splits)
    md_record = json.loads((art_dir / MD_RECORD).read_text()) if md else None
    if md_record is not None:
        where = md_record["hardware"]
    else:
        where = json.loads((art_dir / evaluate_record(splits[0])).read_text())["hardware"] if splits else {}
    outputs = CellOutputs.of_cell(
        cell,
        dataset,
        art_dir,
        stats=DatasetStats.from_dict(train["stats"]),
        train=TrainRecord(**train["train"]),
        hardware=where,
        model_info=train["model_info"],
    )
    outputs.load_predictions(splits, inputs)
    if md_record is not None:
        outputs.md_reference = inputs.md_reference
        outputs.md_total_time_fs = md_record["md_total_time_fs"]
        for r in md_record["md"]:
            r["trajectory"] = str(art_dir / r["trajectory"]) if r["trajectory"] else ""
        outputs.md = [ReplicaResult(**r) for r in md_record["md"]]
    return outputs


def md_observers(art_dir: Path) -> dict[str, Any]:
    """The observers that watched a stored simulation (name -> its metric's version and code)."""
    return json.loads((art_dir / MD_RECORD).read_text()).get("observers") or {}


def link_tree(src: Path, dst: Path) -> None:
    """Every file under ``src`` at the same place under ``dst``: hard links (a stage's files are
    never rewritten), copies where the two are on different file systems."""
    for f in sorted(src.rglob("*")):
        if not f.is_file():
            continue
        target = dst / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


def unlink_tree(src: Path, dst: Path) -> None:
    """Remove from ``dst`` the files :func:`link_tree` put there from ``src``."""
    for f in sorted(src.rglob("*")):
        if f.is_file():
            (dst / f.relative_to(src)).unlink(missing_ok=True)
