"""Run a model's part of a cell in another Python environment (a worker subprocess).

Upstream stacks conflict (mace-torch pins e3nn 0.4.4, nequip needs e3nn ≥ 0.6), so a model
plugin may live in its own environment (see ``envs.py``). The main process keeps the data,
the store and the metrics; the worker only trains, predicts and simulates.

Protocol (version 1), all files in the cell's artifacts folder:

* main writes ``inputs.npz`` (the cell's frames, :func:`egbench_core.data.save_frames`) and
  ``request.json``: ``{"protocol": 1, "cell": {model, preset, dataset, task, seed}, "plan": TaskPlan,
  "proto": ProtocolPreset, "dataset": name}``;
* main runs ``<env python> -m egbench_core.worker run <art_dir>/request.json``;
* the worker prints progress as JSON lines on stdout (``{"event": "train_epoch", ...}``), writes
  ``model.pt``, ``predictions-<split>.npz``, ``md/`` and ``outputs.json``
  (:func:`egbench_core.execute.outputs_to_json`), and exits 0; any other exit is a failed cell
  whose message carries the end of the worker's stderr.
* ``<env python> -m egbench_core.worker describe`` prints the environment's model specs as JSON.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

PROTOCOL = 1
log = logging.getLogger(__name__)


class WorkerError(RuntimeError):
    pass


# -- main-process side ------------------------------------------------------------------
def run_in_environment(env_name: str, cell, inputs, proto, art_dir: Path, dataset, progress):
    from .data import save_frames
    from .envs import get_env
    from .execute import outputs_from_json

    env = get_env(env_name)
    save_frames(art_dir / "inputs.npz", inputs.named())
    e0 = inputs.isolated_atom_energies
    request = {"protocol": PROTOCOL, "cell": cell.ident, "plan": _plan_dict(cell.plan), "proto": proto.to_dict(),
               "dataset": cell.dataset, "isolated_atom_energies": {str(z): e for z, e in e0.items()} if e0 else None}
    (art_dir / "request.json").write_text(json.dumps(request))
    cmd = [str(env.python), "-m", "egbench_core.worker", "run", str(art_dir / "request.json")]
    log.info("running %s in environment %s: %s", cell.label, env_name, " ".join(cmd))
    err_tail: deque[str] = deque(maxlen=40)
    import os

    import torch

    child_env = dict(os.environ, EGBENCH_TORCH_THREADS=str(torch.get_num_threads()))  # same threads as this run
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                          env=child_env) as proc:
        import threading

        def drain() -> None:
            for line in proc.stderr:
                err_tail.append(line.rstrip())

        t = threading.Thread(target=drain, daemon=True)
        t.start()
        try:
            for line in proc.stdout:
                _relay(line, progress)
            proc.wait()
        except BaseException:  # interrupted (SIGINT/SIGTERM): the worker must not outlive the cell
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        t.join(timeout=5)
    if proc.returncode != 0:
        tail = "\n".join(err_tail)
        raise WorkerError(f"worker in environment {env_name!r} exited with code {proc.returncode}:\n{tail}")
    out = json.loads((art_dir / "outputs.json").read_text())
    return outputs_from_json(out, cell, inputs, dataset, art_dir)


def _relay(line: str, progress) -> None:
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        log.debug("worker: %s", line.rstrip())
        return
    event = msg.pop("event", None)
    fn = getattr(progress, event, None) if event else None
    if fn is not None:
        fn(*msg.get("args", []))


def _plan_dict(plan) -> dict[str, Any]:
    return asdict(plan)


def describe_environment(python: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([str(python), "-m", "egbench_core.worker", "describe"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise WorkerError(f"{python} -m egbench_core.worker describe failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


# -- worker side --------------------------------------------------------------------------
class _StdoutProgress:
    def __init__(self, out):
        self.out = out

    def _emit(self, event: str, *args) -> None:
        self.out.write(json.dumps({"event": event, "args": list(args)}, default=str) + "\n")
        self.out.flush()

    def train_epoch(self, epoch, total, row):
        self._emit("train_epoch", epoch, total, row)

    def md_step(self, replica, step, total):
        if step % 10 == 0 or step == total:
            self._emit("md_step", replica, step, total)

    def stage(self, name):
        self._emit("stage", name)


def _describe() -> None:
    from .plugins import load_catalog

    from .provenance import module_path

    cat = load_catalog()
    models = []
    for s in cat.models.values():
        if s.environment:
            continue
        info = cat.plugins.get(s.plugin)
        path = module_path(info.module) if info is not None else None
        code = {"dist": info.dist if info else "", "version": info.version if info else "",
                "path": str(path) if path else ""}
        models.append({"name": s.name, "version": s.version, "description": s.description, "citation": s.citation,
                       "licence": s.licence, "url": s.url, "requires": s.requires, "presets": s.presets,
                       "capabilities": asdict(s.capabilities), "plugin": s.plugin, "code": code})
    print(json.dumps(models))


def _run(request_path: Path) -> None:
    from .data import load_frames
    from .execute import CellInputs, outputs_to_json, run_model
    from .interfaces import MDPlan, TaskPlan
    from .plugins import load_catalog
    from .protocol import ProtocolPreset
    from .runner import Cell

    import os

    threads = os.environ.get("EGBENCH_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    req = json.loads(request_path.read_text())
    if req.get("protocol") != PROTOCOL:
        raise WorkerError(f"{request_path}: protocol {req.get('protocol')}, this worker speaks {PROTOCOL}")
    art_dir = request_path.parent
    plan = dict(req["plan"])
    plan["md"] = MDPlan(**plan["md"]) if plan.get("md") else None
    plan["eval_splits"] = tuple(plan["eval_splits"])
    cell = Cell(**req["cell"], plan=TaskPlan(**plan))
    proto = ProtocolPreset(**req["proto"])
    e0 = req.get("isolated_atom_energies")
    inputs = CellInputs.from_named(load_frames(art_dir / "inputs.npz"),
                                   {int(z): float(e) for z, e in e0.items()} if e0 else None)
    cat = load_catalog()
    spec = cat.get("models", cell.model)
    dataset = cat.datasets.get(req["dataset"])  # for its oracle, if this environment has the dataset too
    stdout = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the protocol stream
    outputs = run_model(cell, spec, inputs, proto, art_dir, dataset, cat.metrics.values(), _StdoutProgress(stdout))
    (art_dir / "outputs.json").write_text(json.dumps(outputs_to_json(outputs), default=str))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="worker %(levelname)s %(name)s: %(message)s")
    if argv[:1] == ["describe"]:
        _describe()
        return 0
    if len(argv) == 2 and argv[0] == "run":
        _run(Path(argv[1]))
        return 0
    print("usage: python -m egbench_core.worker describe | run REQUEST.json", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
