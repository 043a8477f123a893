"""The server side of the environment worker protocol (the client is ``client.py``): a
subprocess started with an environment's Python that trains, predicts and simulates one cell of a
model installed there, or describes that environment's models. Nothing imports this module; it
runs as ``python -m egbench_core.envs.worker describe | run REQUEST.json``.
"""

from __future__ import annotations

import json
import logging
import sys
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
        models.append({**s.describe(), "code": code})
    print(json.dumps(models))


def _run(request_path: Path) -> None:
    from egbench_core.envs.request import check_model, read_request
    from egbench_core.plugins import load_catalog
    from egbench_core.run.execute import run_model

    described, job = read_request(request_path)  # RequestRefused before anything is computed
    import torch

    torch.set_num_threads(job.execution.threads)  # the same threads as the run that sent the cell
    cat = load_catalog()
    spec = cat.model(job.cell.model)
    check_model(spec, described)
    dataset = cat.datasets.get(job.cell.dataset)  # for its oracle, if this environment has the dataset too
    stdout = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the protocol stream
    outputs = run_model(
        job, spec, dataset=dataset, observer_metrics=cat.metrics.values(), progress=_StdoutProgress(stdout)
    )
    (job.art_dir / "outputs.json").write_text(json.dumps(outputs.to_json(), default=str))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="worker %(levelname)s %(name)s: %(message)s")
    if argv[:1] == ["describe"]:
        _describe()
        return 0
    if len(argv) == 2 and argv[0] == "run":
        from egbench_core.envs.request import REFUSED, RequestRefused

        try:
            _run(Path(argv[1]))
        except RequestRefused as exc:  # one line for the client to show (envs/client.py)
            print(exc, file=sys.stderr)
            return REFUSED
        return 0
    print("usage: python -m egbench_core.envs.worker describe | run REQUEST.json", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
