"""The client side of the environment worker protocol (``worker.py`` is the server): run a
model's part of a cell in another Python environment, and describe an environment's models.

Protocol (version 3; docs/environments.md, "The environment worker's protocol"), all files in the cell's
attempt folder:

* the client writes the cell's inputs (:meth:`egbench_core.cell.CellInputs.save`: ``inputs.npz`` +
  ``inputs.json``) and ``request.json`` (``envs/request.py``: the protocol, the model's
  :meth:`~egbench_core.interfaces.ModelSpec.describe` and :meth:`egbench_core.run.model_job.ModelJob.to_json`);
* it runs ``<env python> -m egbench_core.envs.worker run <folder>/request.json``;
* the worker prints progress as JSON lines on stdout (``{"event": "train_epoch", "args": [...]}``),
  writes what it computed (``model.pt`` unless it loaded ``train_from``, ``predictions-<split>.npz``,
  ``md/``) and ``outputs.json``
  (:meth:`egbench_core.cell.CellOutputs.to_json`) and exits 0; exit 2 is a refused request (another
  protocol, or a model that differs from its description) with one line on stderr; any other exit is
  a failed cell whose message carries the end of the worker's stderr;
* ``<env python> -m egbench_core.envs.worker describe`` prints the environment's models as JSON
  (:meth:`~egbench_core.interfaces.ModelSpec.describe` of each, with its plugin's ``code``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egbench_core.cell import CellInputs, CellOutputs
from egbench_core.envs.request import PROTOCOL, REFUSED, write_request
from egbench_core.run.model_job import ModelJob
from egbench_core.run.progress import Progress, relay

if TYPE_CHECKING:
    from egbench_core.data.datasets import DatasetSpec
    from egbench_core.interfaces import ModelSpec

# how a worker of protocol 2 refused a request of another protocol (the last line of its traceback)
_REFUSED_V2 = re.compile(r"protocol (\S+), this worker speaks (\d+)$")
log = logging.getLogger(__name__)


class WorkerError(RuntimeError):
    pass


def run_in_environment(
    python: Path, env_name: str, spec: ModelSpec, job: ModelJob, *, dataset: DatasetSpec | None, progress: Progress
) -> CellOutputs:
    """``run_model`` of ``job`` with the model ``spec`` describes, in the environment whose
    interpreter is ``python``; its progress events are relayed to ``progress``."""
    cell, inputs, art_dir = job.cell, job.inputs, job.art_dir
    request = write_request(spec, job)
    cmd = [str(python), "-m", "egbench_core.envs.worker", "run", str(request)]
    log.info("running %s in environment %s: %s", cell.label, env_name, " ".join(cmd))
    err_tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=dict(os.environ)
    ) as proc:
        stdout, stderr = proc.stdout, proc.stderr
        assert stdout is not None and stderr is not None  # both are PIPEs

        def drain() -> None:
            for line in stderr:
                err_tail.append(line.rstrip())

        t = threading.Thread(target=drain, daemon=True)
        t.start()
        try:
            for line in stdout:
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
        raise WorkerError(_failure(env_name, proc.returncode, list(err_tail)))
    out = json.loads((art_dir / "outputs.json").read_text())
    CellInputs.discard(art_dir)  # a copy of the cell's frames: not a result
    return CellOutputs.from_json(out, cell, inputs, dataset, art_dir)


def _failure(env_name: str, code: int, err_tail: list[str]) -> str:
    """Why the worker in ``env_name`` failed: one line for a refused request, else the end of its stderr."""
    last = err_tail[-1] if err_tail else ""
    if code == REFUSED and last:
        return f"the worker in environment {env_name!r} refused the cell: {last}"
    old = _REFUSED_V2.search(last)
    if old is not None:
        return (
            f"the worker in environment {env_name!r} speaks protocol {old[2]}, this egbench {PROTOCOL}: "
            f"make the environment again (`egbench env create {env_name}`) with this egbench-core"
        )
    tail = "\n".join(err_tail)
    return f"worker in environment {env_name!r} exited with code {code}:\n{tail}"


def _relay(line: str, progress: Progress) -> None:
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        log.debug("worker: %s", line.rstrip())
        return
    relay(progress, msg.get("event", ""), msg.get("args", []))


def describe_environment(python: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([str(python), "-m", "egbench_core.envs.worker", "describe"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise WorkerError(f"{python} -m egbench_core.envs.worker describe failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)
