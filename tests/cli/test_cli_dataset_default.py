"""`egbench run`'s dataset selection: without ``--datasets`` it is the embedded default (acac)
whatever ``--tasks`` says (README, "Cells"); ``--datasets`` replaces it. The selection is read where
the CLI hands it to the planner (``runner.plan_cells``), with no catalog loaded and nothing run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from egbench_core import cli
from egbench_core.run import runner


@pytest.fixture
def planned(monkeypatch):
    """The (datasets, tasks) each ``plan_cells`` call received; the plan is empty, so the run stops
    with "nothing to run" (exit 2) before opening a store."""
    calls: list[tuple[str, str]] = []

    def plan_cells(cat, models, datasets, tasks, preset, **kw):
        calls.append((datasets, tasks))
        return []

    monkeypatch.setattr(runner, "plan_cells", plan_cells)
    monkeypatch.setattr(cli, "_catalog", lambda: object())
    return calls


@pytest.mark.parametrize(
    "args, datasets",
    [
        ([], "acac"),
        (["--tasks", "standard"], "acac"),
        (["--tasks", "ood-temperature"], "acac"),
        (["--tasks", "standard,ood"], "acac"),
        (["--tasks", "all"], "acac"),
        (["--tasks", "ood", "--datasets", "all"], "all"),
        (["--datasets", "acac,synthetic-emt"], "acac,synthetic-emt"),
    ],
)
def test_run_selects_the_default_dataset_whatever_the_tasks(planned, tmp_path, args, datasets):
    res = CliRunner().invoke(cli.app, ["run", "--models", "toy-pair", "--out", str(tmp_path / "out"), *args])
    assert res.exit_code == 2 and "nothing to run" in res.output, res.output
    tasks = args[args.index("--tasks") + 1] if "--tasks" in args else "standard"
    assert planned == [(datasets, tasks)]
    assert not (tmp_path / "out").exists()


def test_readme_and_help_name_the_same_default():
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    default = cli.DEFAULT_DATASETS
    assert f"Without `--datasets` the dataset is the embedded `{default}`, whatever `--tasks` says" in readme
    help_text = CliRunner().invoke(cli.app, ["run", "--help"], env={"COLUMNS": "400"}).output
    assert "whatever --tasks says" in help_text and f"[default: {cli.DEFAULT_DATASETS}]" in help_text
