"""``request.json``, what crosses to an environment worker: written by the client
(``envs/client.py``) and read by the worker (``envs/worker.py``), both through this module
(docs/environments.md, "The environment worker's protocol").

``{"protocol": PROTOCOL, "model": ModelSpec.describe(), "job": ModelJob.to_json()}``: the spec the
cell was planned with (the environment's description cached in ``env.json``), which the worker
checks against its own, and the model part of the cell, whose inputs are files beside the request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egbench_core.run.model_job import ModelJob

if TYPE_CHECKING:
    from egbench_core.interfaces import ModelSpec

PROTOCOL = 3  # 2: the job's fields at the top level, no model description
REQUEST = "request.json"
REFUSED = 2  # the worker's exit code for a request it refuses, with one line on stderr (RequestRefused)
# what the cell was planned and keyed with: a worker whose spec differs here would compute another cell
PLANNED_FIELDS = ("version", "presets", "capabilities", "mode", "calculator_backed")


class RequestRefused(ValueError):
    """A request this environment worker cannot run as sent (one line for the user)."""


def write_request(spec: ModelSpec, job: ModelJob) -> Path:
    """``job``'s inputs and ``request.json`` in its folder; the request's path."""
    job.inputs.save(job.art_dir)
    path = job.art_dir / REQUEST
    path.write_text(json.dumps({"protocol": PROTOCOL, "model": spec.describe(), "job": job.to_json()}))
    return path


def read_request(path: Path) -> tuple[dict[str, Any], ModelJob]:
    """The model description and the job of a request; :class:`RequestRefused` for one written
    for another protocol."""
    req = json.loads(path.read_text())
    sent = req.get("protocol")
    if sent != PROTOCOL:
        raise RequestRefused(
            f"the request speaks environment worker protocol {sent}, this environment's egbench-core speaks "
            f"{PROTOCOL}: make the environment again (`egbench env create`) with the egbench-core that runs "
            "the benchmark"
        )
    return req["model"], ModelJob.from_json(req["job"], path.parent)


def check_model(spec: ModelSpec, described: dict[str, Any]) -> None:
    """:class:`RequestRefused` where the worker's ``spec`` differs from the description the cell
    was planned with in what shapes the cell (:data:`PLANNED_FIELDS`)."""
    mine = spec.describe()
    changed = [k for k in PLANNED_FIELDS if mine[k] != described.get(k)]
    if changed:
        raise RequestRefused(
            f"model {spec.name!r} in this environment differs from its description in env.json ({', '.join(changed)}), "
            "which the cell was planned with: make the environment again (`egbench env create`)"
        )
