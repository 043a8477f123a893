"""One envelope per process boundary, each written and read by one definition: a cell to its
executor (``executors.Job``, pickled to a Dask worker), the model part of a cell to an environment
worker (``request.json``: ``ModelJob.to_json`` and the model's ``ModelSpec.describe``). A request the
environment worker cannot honour is refused with one line, and the client reports that line."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import egbench_core
from egbench_core.cell import Execution
from egbench_core.envs.client import WorkerError, run_in_environment
from egbench_core.envs.request import PROTOCOL, REFUSED, RequestRefused, check_model, read_request, write_request
from egbench_core.interfaces import Capabilities, ModelSpec, calculator_model
from egbench_core.plugins import load_catalog
from egbench_core.run.executors import Job
from egbench_core.run.model_job import ModelJob
from egbench_core.run.progress import NullProgress
from egbench_core.run.protocol import protocol
from egbench_core.run.runner import plan_cells
from egbench_core.testing import fakes
from egbench_core.testing.fakes import toy_pair_spec


def _never(*args, **kwargs):
    raise AssertionError("a stand-in is never called here")


@pytest.fixture
def planned(emt_data_dir, monkeypatch):
    """A planned toy-pair cell on synthetic-emt, with its spec and inputs."""
    from egbench_core.run.inputs import load_inputs

    monkeypatch.setenv("EGBENCH_DATA_DIR", str(emt_data_dir))
    cat = load_catalog(extra_plugins=[fakes.FakeModelPlugin()], entry_points=False)
    (cell,) = plan_cells(cat, "toy-pair", "synthetic-emt", "standard", "smoke", 0)
    return cell, cat.models["toy-pair"], load_inputs(cell, cat, protocol("smoke"))


def test_a_model_spec_describes_itself_and_is_rebuilt_from_its_description():
    spec = toy_pair_spec(capabilities=Capabilities(stress=False, elements=(1, 6, 8)))
    spec.plugin = "toy"
    described = spec.describe()
    assert json.loads(json.dumps(described)) == described  # plain JSON: as env.json and request.json hold it
    assert described["capabilities"]["elements"] == [1, 6, 8]
    assert (described["mode"], described["calculator_backed"], described["version"]) == ("from-scratch", False, "1")

    back = ModelSpec.from_description(described, environment="other", build=_never, calculator=_never)
    assert (back.environment, back.build, back.calculator, back.plugin) == ("other", _never, None, "")
    assert back.capabilities == spec.capabilities and back.presets == spec.presets
    assert {**back.describe(), "plugin": "toy"} == described

    calc = calculator_model("calc-x", _never, elements=[8, 1], periodic=False)
    back = ModelSpec.from_description(calc.describe(), environment="other", build=_never, calculator=_never)
    assert back.calculator_backed and back.mode == calc.mode == "zero-shot" and back.calculator is _never
    assert back.describe() == calc.describe()


def test_a_description_missing_fields_gives_their_defaults():
    """An ``env.json`` written by an older egbench may lack fields: the spec's defaults apply."""
    back = ModelSpec.from_description(
        {"name": "ghost", "presets": {"smoke": {"cutoff": 4.0}}}, environment="gone", build=_never, calculator=_never
    )
    assert (back.version, back.mode, back.requires, back.calculator) == ("0", "from-scratch", [], None)
    assert back.capabilities == Capabilities()


def test_the_worker_checks_the_model_against_what_the_cell_was_planned_with():
    spec = toy_pair_spec()
    described = spec.describe()
    check_model(spec, described)
    check_model(spec, dict(described, description="reworded", citation="", plugin="env:other"))  # words only
    changed = copy.deepcopy(described)
    changed["presets"]["smoke"]["cutoff"] += 1.0
    changed["version"] = "2"
    with pytest.raises(RequestRefused, match=r"model 'toy-pair' .* differs .* \(version, presets\)"):
        check_model(spec, changed)


def test_the_model_job_crosses_as_request_json(planned, tmp_path):
    cell, spec, inputs = planned
    execution = Execution(threads=2, dtype="float64", md_engine="ase", oracle="off")
    job = ModelJob(cell, inputs, protocol("smoke"), tmp_path, execution, tmp_path / "train", ("test",), False)
    path = write_request(spec, job)
    assert sorted(json.loads(path.read_text())) == ["job", "model", "protocol"]

    described, back = read_request(path)
    assert described == spec.describe()
    assert json.dumps(back.to_json(), sort_keys=True) == json.dumps(job.to_json(), sort_keys=True)
    assert (back.cell.key, back.cell.plan, back.cell.stages) == (cell.key, cell.plan, cell.stages)
    assert (back.proto, back.execution, back.art_dir) == (job.proto, execution, tmp_path)
    assert (back.train_from, back.eval_splits, back.run_md) == (tmp_path / "train", ("test",), False)
    sent, got = inputs.named(), back.inputs.named()
    assert sorted(sent) == sorted(got)
    for name in sent:
        for field in ("positions", "numbers", "n_atoms", "cell", "energy", "forces"):
            np.testing.assert_array_equal(getattr(got[name], field), getattr(sent[name], field))
    assert back.inputs.isolated_atom_energies == inputs.isolated_atom_energies
    assert back.inputs.subsets == inputs.subsets

    req = json.loads(path.read_text())
    path.write_text(json.dumps(dict(req, protocol=PROTOCOL - 1)))
    with pytest.raises(
        RequestRefused, match=f"protocol {PROTOCOL - 1}, this environment's egbench-core speaks {PROTOCOL}"
    ):
        read_request(path)


def test_a_worker_of_another_protocol_is_refused_in_one_line(planned, tmp_path):
    """The real worker, given a request of the previous protocol: exit 2, one line, nothing computed."""
    cell, spec, inputs = planned
    path = write_request(spec, ModelJob(cell, inputs, protocol("smoke"), tmp_path, Execution()))
    path.write_text(json.dumps(dict(json.loads(path.read_text()), protocol=PROTOCOL - 1)))
    core = str(Path(egbench_core.__file__).resolve().parents[1])  # this tree's core, whatever is installed
    env = dict(os.environ, PYTHONPATH=core)
    proc = subprocess.run(
        [sys.executable, "-m", "egbench_core.envs.worker", "run", str(path)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == REFUSED
    assert proc.stderr.strip().splitlines() == [
        f"the request speaks environment worker protocol {PROTOCOL - 1}, this environment's egbench-core speaks "
        f"{PROTOCOL}: make the environment again (`egbench env create`) with the egbench-core that runs the benchmark"
    ]
    assert not (tmp_path / "outputs.json").exists()


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (
            'echo "worker INFO loading" >&2\necho "the request speaks protocol 4" >&2\nexit 2\n',
            "the worker in environment 'fake' refused the cell: the request speaks protocol 4",
        ),
        (  # a worker of protocol 2 refused with a traceback: its last line says why
            'echo "Traceback (most recent call last):" >&2\n'
            'echo "egbench_core.envs.client.WorkerError: /r/request.json: protocol 3, this worker speaks 2" >&2\n'
            "exit 1\n",
            f"the worker in environment 'fake' speaks protocol 2, this egbench {PROTOCOL}: make the environment "
            "again (`egbench env create fake`) with this egbench-core",
        ),
    ],
)
def test_the_client_reports_a_refusal_in_one_line(planned, tmp_path, script, reason):
    cell, spec, inputs = planned
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n" + script)
    python.chmod(0o755)
    job = ModelJob(cell, inputs, protocol("smoke"), tmp_path, Execution())
    with pytest.raises(WorkerError) as info:
        run_in_environment(python, "fake", spec, job, dataset=None, progress=NullProgress())
    assert str(info.value) == reason


def test_a_job_is_plain_data_made_and_opened_in_one_place(planned, tmp_path, monkeypatch):
    """``Job.of`` on the client's side, ``Job.run`` on the executor's: the cell, its folder, protocol,
    execution and reused stages arrive as they were sent, through a pickle as Dask sends them."""
    cell, _, _ = planned
    execution = Execution(threads=3, device="cpu", md_engine="ase")
    job = Job.of(cell, tmp_path, protocol("smoke"), execution, 2.5, {"train": str(tmp_path / "t")})
    json.dumps([job.cell, job.scratch, job.proto, job.execution, job.priority, job.reuse])  # plain data only
    arrived = pickle.loads(pickle.dumps(job))
    assert arrived == job and (arrived.key, arrived.threads) == (cell.key, 3)

    seen = {}

    def execute_cell(*args):
        seen["args"] = args
        return "result"

    monkeypatch.setattr("egbench_core.run.execute.execute_cell", execute_cell)
    catalog, progress = object(), NullProgress()
    assert arrived.run(catalog, progress) == "result"
    assert seen["args"] == (cell, catalog, tmp_path, protocol("smoke"), progress, execution, job.reuse)
