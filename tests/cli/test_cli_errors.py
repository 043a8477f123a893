"""Bad input to the `egbench` command: one line on stderr naming the value and what was expected,
exit code 2, no traceback (``-v`` adds it). Run through the real entry point (``main``) in a
subprocess, as a user would."""

from __future__ import annotations

import subprocess

import pytest
import torch

from egbench_core.store import Store

pytestmark = pytest.mark.slow


def _egbench(toy_site, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        toy_site.egbench + list(args), env=toy_site.env(), capture_output=True, text=True, timeout=300
    )


def _one_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout[-2000:], res.stderr[-2000:])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    return lines[0]


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("not a folder\n")
    return f


@pytest.mark.parametrize(
    "args, expected",
    [
        (["run", "--threads", "0"], "--threads 0: expected a positive number"),
        (["run", "--threads", "two"], "Invalid value for '--threads'"),
        (["run", "--seed", "-1"], "--seed -1: expected a non-negative integer"),
        (["run", "--seeds", "0,x"], "'x' is not a non-negative integer"),
        (["run", "--seeds", "0,0"], "a seed is repeated"),
        (["run", "--preset", "fast"], "--preset 'fast': expected one of smoke, quick, paper"),
        (["run", "--models", "nosuch"], "no model named 'nosuch'; available: toy-crash, toy-pair"),
        pytest.param(
            ["run", "--device", "cuda"],
            "--device cuda: CUDA is not available here",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
        (["run", "--device", "gpu"], "--device 'gpu': expected auto, cpu, cuda or cuda:N"),
        (["run", "--dtype", "half"], "--dtype 'half': expected float32 or float64"),
        (["run", "--executor", "dask"], "--executor dask needs --workers N"),
        (["run", "--workers", "2"], "--workers and --scheduler need --executor dask"),
        (["run", "--executor", "slurm"], "needs an [executor.slurm] table"),
        (["run", "--dry-run"], "--dry-run prints the SLURM job script: it needs --executor slurm"),
        (["run", "--models", "ase:tblite"], "model spec 'ase:tblite': expected 'ase:package.module:ClassName'"),
        (
            ["run", "--models", "toy-pair,ase:ase.calculators.emt:NoSuch?x=1"],
            "model spec 'ase:ase.calculators.emt:NoSuch?x=1': module ase.calculators.emt has no 'NoSuch'",
        ),
        (["run", "--models", "ase:ase.calculators.emt:EMT?x"], "'x' is not key=value"),
        (["run", "--datasets", "nosuch"], "no dataset named 'nosuch'"),
        (["run", "--tasks", "nosuch"], "no task named 'nosuch'"),
        (["report", "--format", "pdf"], "--format 'pdf': expected table, markdown, csv, json or html"),
        (
            ["report", "--format", "csv", "--out-dir", "somewhere"],
            "--out-dir somewhere: --out-dir is for --format html",
        ),
        (["report", "--format", "json", "--compare", "paper"], "--compare is for table, markdown and csv"),
        (["report", "--table", "x"], "--table 'x': expected one of static"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["env", "remove", "nosuch"], "no environment named 'nosuch'"),
        (["env", "create", "Bad_Name"], "environment id 'Bad_Name' is not lowercase kebab-case"),
        (["fetch", "nosuch"], "no dataset 'nosuch'"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(toy_site, args, expected):
    assert expected in _one_line(_egbench(toy_site, *args))


def test_out_that_is_a_file_or_under_a_file(toy_site, a_file):
    line = _one_line(_egbench(toy_site, "run", "--preset", "smoke", "--out", str(a_file)))
    assert str(a_file) in line and "is a file, expected a folder" in line
    line = _one_line(_egbench(toy_site, "run", "--preset", "smoke", "--out", str(a_file / "results")))
    assert str(a_file / "results") in line and "is not a writable folder" in line
    assert a_file.read_text() == "not a folder\n"


def test_report_of_a_task_the_store_lacks(toy_site, tmp_path):
    Store(tmp_path / "out").close()  # a valid, empty store
    line = _one_line(_egbench(toy_site, "report", "--out", str(tmp_path / "out"), "--task", "nosuch"))
    assert "--task 'nosuch'" in line and "has no cells of that task" in line


def test_html_report_into_a_folder_that_is_not_a_report(toy_site, tmp_path, a_file):
    Store(tmp_path / "out").close()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for where, expected in (
        (mine, "is not empty and holds no earlier egbench report"),
        (a_file, "is a file, expected a folder for the HTML report"),
    ):
        line = _one_line(
            _egbench(toy_site, "report", "--out", str(tmp_path / "out"), "--format", "html", "--out-dir", str(where))
        )
        assert f"--out-dir {where}" in line and expected in line
    assert (mine / "notes.txt").read_text() == "keep me"


def test_verbose_adds_the_traceback(toy_site):
    res = _egbench(toy_site, "-v", "run", "--models", "nosuch")
    assert res.returncode == 2 and "Traceback" in res.stderr and "no model named 'nosuch'" in res.stderr


def test_a_broken_registry_value_is_refused_before_any_cell(toy_site, tmp_path):
    reg = tmp_path / "bad.toml"
    reg.write_text("""
[datasets.zero-step]
elements = ["H"]
periodic = false
temperature_K = 300.0
timestep_fs = 0.0
[datasets.zero-step.splits.train]
file = "botnet-datasets/dataset_acac/train_300K.xyz"
""")
    res = subprocess.run(
        toy_site.egbench + ["run", "--preset", "smoke", "--datasets", "zero-step", "--out", str(tmp_path / "out")],
        env=toy_site.env(EGBENCH_REGISTRY=reg),
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = _one_line(res)
    assert "dataset 'zero-step' is broken" in line and "timestep_fs = 0.0" in line and "expected" in line
    assert not (tmp_path / "out").exists()
    listed = subprocess.run(
        toy_site.egbench + ["plugins"],
        env=toy_site.env(EGBENCH_REGISTRY=reg),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0 and "dataset:zero-step" in listed.stdout and "broken" in listed.stdout
