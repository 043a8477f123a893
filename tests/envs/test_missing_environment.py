"""A model that lives in its own environment (nequip, allegro, sevennet) asked for before that
environment is made: one line naming the command that makes it, exit 2, nothing run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from egbench_core.cli import app
from egbench_core.envs.manage import BUNDLED_ENVIRONMENTS
from egbench_core.plugins import load_catalog
from egbench_core.run.runner import plan_cells

COMMAND = "egbench env create nequip egbench-model-nequip egbench-model-allegro egbench-model-sevennet"


@pytest.fixture
def no_envs(tmp_path, monkeypatch):
    envs = tmp_path / "envs"
    envs.mkdir()
    monkeypatch.setenv("EGBENCH_ENVS_DIR", str(envs))
    return envs


@pytest.mark.parametrize("model", ["nequip", "allegro", "sevennet-0", "sevennet-l3i5-ft"])
def test_a_model_of_an_environment_not_made_names_the_command(no_envs, model):
    with pytest.raises(KeyError) as err:
        plan_cells(load_catalog(entry_points=False), model, "synthetic-emt", preset="smoke")
    assert err.value.args[0] == (
        f"model {model!r} lives in its own environment 'nequip', not made yet (in {no_envs}): make it with "
        f"`{COMMAND}` (a few minutes, once), then run again"
    )


def test_the_command_installs_the_makefiles_env_plugins():
    """The hint's packages are the Makefile's ENV_PLUGINS: `make setup` and the hint make the same environment."""
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    line = next(ln for ln in makefile.splitlines() if ln.startswith("ENV_PLUGINS :="))
    assert line.split(":=")[1].split() == [f"plugins/{p}" for p in BUNDLED_ENVIRONMENTS["nequip"]]


def test_once_the_environment_exists_the_plain_message_lists_its_models(no_envs):
    (no_envs / "nequip").mkdir()
    (no_envs / "nequip" / "env.json").write_text(json.dumps({"name": "nequip", "packages": [], "models": []}))
    with pytest.raises(KeyError, match="no model named 'allegro'; available"):
        plan_cells(load_catalog(entry_points=False), "allegro", "synthetic-emt", preset="smoke")


@pytest.mark.parametrize("model", ["nosuch", "nequipx", "mace"])
def test_other_missing_models_keep_the_plain_message(no_envs, model):
    with pytest.raises(KeyError, match=f"no model named {model!r}; available"):
        plan_cells(load_catalog(entry_points=False), model, "synthetic-emt", preset="smoke")


def test_egbench_run_says_it_in_one_line_and_exits_2(no_envs, tmp_path, monkeypatch):
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "")  # core's own plugins only
    res = CliRunner().invoke(
        app, ["run", "--models", "nequip", "--datasets", "synthetic-emt", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert (
        len(lines) == 1
        and lines[0].startswith("error: model 'nequip' lives in its own environment")
        and COMMAND in lines[0]
    )
    assert not (tmp_path / "r").exists()  # nothing planned, no store made
