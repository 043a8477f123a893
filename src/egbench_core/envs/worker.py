"""The server side of the environment worker protocol (the client is ``client.py``): a
subprocess started with an environment's Python that trains, predicts and simulates one cell of a
model installed there, or describes that environment's models. Nothing imports this module; it
runs as ``python -m egbench_core.envs.worker describe | run REQUEST.json``.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from egbench_core.run.progress import EventForwarder


# -- worker side --------------------------------------------------------------------------
class _StdoutProgress(EventForwarder):
    """Forwards a cell's progress to the client as JSON lines on ``out`` (the protocol stream)."""

    def __init__(self, out: TextIO):
        self.out = out

    def emit(self, event: str, args: list[Any]) -> None:
        self.out.write(json.dumps({"event": event, "args": args}, default=str) + "\n")
        self.out.flush()


def _describe() -> None:
    from egbench_core.plugins import load_catalog
    from egbench_core.run.provenance import module_path

    cat = load_catalog()
    models = []
    for s in cat.models.values():
        if s.environment:
            continue
        info = cat.plugins.get(s.plugin)
        path = module_path(info.module) if info is not None else None
        code = {
            "dist": info.dist if info else "",
            "version": info.version if info else "",
            "path": str(path) if path else "",
        }
        models.append(
            {
                "name": s.name,
                "version": s.version,
                "description": s.description,
                "citation": s.citation,
                "licence": s.licence,
                "url": s.url,
                "requires": s.requires,
                "presets": s.presets,
                "capabilities": asdict(s.capabilities),
                "plugin": s.plugin,
                "code": code,
                "calculator_backed": s.calculator_backed,
                "mode": s.mode,
            }
        )
    print(json.dumps(models))


def _run(request_path: Path) -> None:
    from egbench_core.cell import Cell, CellInputs, Execution
    from egbench_core.envs.client import PROTOCOL, WorkerError
    from egbench_core.plugins import load_catalog
    from egbench_core.run.execute import run_model
    from egbench_core.run.model_job import ModelJob
    from egbench_core.run.protocol import ProtocolPreset

    req = json.loads(request_path.read_text())
    if req.get("protocol") != PROTOCOL:
        raise WorkerError(f"{request_path}: protocol {req.get('protocol')}, this worker speaks {PROTOCOL}")
    art_dir = request_path.parent
    cell = Cell.from_dict(req["cell"])
    execution = Execution(**req["execution"])
    import torch

    torch.set_num_threads(execution.threads)  # the same threads as the run that sent the cell
    inputs = CellInputs.load(art_dir)
    cat = load_catalog()
    spec = cat.model(cell.model)
    dataset = cat.datasets.get(cell.dataset)  # for its oracle, if this environment has the dataset too
    stdout = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the protocol stream
    train_from = Path(req["train_from"]) if req.get("train_from") else None
    splits = tuple(req["eval_splits"]) if req.get("eval_splits") is not None else None
    proto = ProtocolPreset(**req["proto"])
    job = ModelJob(cell, inputs, proto, art_dir, execution, train_from, splits, bool(req.get("run_md", True)))
    outputs = run_model(
        job, spec, dataset=dataset, observer_metrics=cat.metrics.values(), progress=_StdoutProgress(stdout)
    )
    (art_dir / "outputs.json").write_text(json.dumps(outputs.to_json(), default=str))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="worker %(levelname)s %(name)s: %(message)s")
    if argv[:1] == ["describe"]:
        _describe()
        return 0
    if len(argv) == 2 and argv[0] == "run":
        _run(Path(argv[1]))
        return 0
    print("usage: python -m egbench_core.envs.worker describe | run REQUEST.json", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
