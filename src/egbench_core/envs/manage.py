"""Model environments: separate virtual environments for plugins whose dependencies conflict.

``egbench env create NAME [PACKAGE ...]`` makes ``<envs dir>/NAME/venv`` with the same torch as
this installation, egbench-core (the same source: the checkout if this core is one, else the
same release) and the packages (plugin folders or PyPI requirements; a bare name such as
``egbench-model-nequip`` resolves to the checkout's ``plugins/`` folder when there is one). The
environment's model specs are described once (``worker describe``) and cached in
``env.json``, so start-up stays cheap; the runner executes those models' cells through the worker
protocol (``envs/worker.py``) with one store and one report. pip resolves every environment normally:
nothing is installed with ``--no-deps``.

Environments live in ``EGBENCH_ENVS_DIR`` (default: ``<prefix of this Python>/egbench-envs``, so
they belong to the installation that made them).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from egbench_core.cell import CellOutputs
    from egbench_core.data.datasets import DatasetSpec
    from egbench_core.interfaces import ModelSpec
    from egbench_core.run.model_job import ModelJob
    from egbench_core.run.progress import Progress

log = logging.getLogger(__name__)

ENV_ENVS_DIR = "EGBENCH_ENVS_DIR"
# Bundled model plugins that cannot share the main environment (nequip needs e3nn>=0.6, mace-torch
# pins e3nn 0.4.4), by the environment they live in: the Makefile's ENV_PLUGINS, which `make setup`
# installs with the command that :func:`missing_model_hint` names.
BUNDLED_ENVIRONMENTS = {"nequip": ("egbench-model-nequip", "egbench-model-allegro", "egbench-model-sevennet")}


class EnvironmentError_(RuntimeError):
    pass


def envs_dir() -> Path:
    env = os.environ.get(ENV_ENVS_DIR)
    return Path(env).expanduser() if env else Path(sys.prefix) / "egbench-envs"


@dataclass
class Environment:
    name: str
    path: Path
    packages: list[str] = field(default_factory=list)
    created: str = ""
    models: list[dict[str, Any]] = field(default_factory=list)

    @property
    def python(self) -> Path:
        return self.path / "venv" / "bin" / "python"

    def save(self) -> None:
        (self.path / "env.json").write_text(
            json.dumps(
                {"name": self.name, "packages": self.packages, "created": self.created, "models": self.models}, indent=1
            )
        )


def list_envs() -> list[Environment]:
    root = envs_dir()
    out = []
    for meta in sorted(root.glob("*/env.json")) if root.exists() else []:
        try:
            d = json.loads(meta.read_text())
            out.append(
                Environment(d["name"], meta.parent, d.get("packages", []), d.get("created", ""), d.get("models", []))
            )
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring environment %s: unreadable env.json (%s)", meta.parent, exc)
    return out


def get_env(name: str) -> Environment:
    for e in list_envs():
        if e.name == name:
            if not e.python.exists():
                raise EnvironmentError_(
                    f"environment {name!r} at {e.path} has no Python; recreate it with `egbench env create {name}`"
                )
            return e
    raise EnvironmentError_(
        f"no environment named {name!r} in {envs_dir()}; create it with `egbench env create {name}`"
    )


def missing_model_hint(model: str) -> str | None:
    """For a model that is not installed: if a bundled plugin that lives in its own environment
    provides it (:data:`BUNDLED_ENVIRONMENTS`; plugin ``egbench-model-X`` provides ``X`` and
    ``X-…``, e.g. ``sevennet-0-ft``) and that environment is not made yet, one line naming the
    command that makes it; else None (an existing environment's models are listed as available).
    Environments are not made behind the user's back: pip installs for minutes and may need the
    network."""
    for name, packages in BUNDLED_ENVIRONMENTS.items():
        prefixes = [p.removeprefix("egbench-model-") for p in packages]
        if not any(model == x or model.startswith(f"{x}-") for x in prefixes):
            continue
        if any(e.name == name for e in list_envs()):
            return None
        return (
            f"model {model!r} lives in its own environment {name!r}, not made yet (in {envs_dir()}): make it with "
            f"`egbench env create {name} {' '.join(packages)}` (a few minutes, once), then run again"
        )
    return None


def _checkout() -> Path | None:
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").exists() and (root / "plugins").is_dir() else None


def resolve_package(spec: str) -> str:
    """A plugin folder path, a bundled plugin's name (found in the checkout), or a PyPI requirement."""
    p = Path(spec)
    if p.exists():
        return str(p.resolve())
    checkout = _checkout()
    if checkout is not None and (checkout / "plugins" / spec / "pyproject.toml").exists():
        return str(checkout / "plugins" / spec)
    return spec


def torch_requirement() -> str:
    import torch

    return f"torch=={torch.__version__.split('+')[0]}"


def core_requirement() -> list[str]:
    from egbench_core import __version__

    checkout = _checkout()
    return ["-e", str(checkout)] if checkout is not None else [f"egbench-core=={__version__}"]


def create_env(name: str, packages: list[str], on_output: Callable[[str], None] | None = None) -> Environment:
    from egbench_core.interfaces import check_id

    check_id("environment", name)
    path = envs_dir() / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    env = Environment(name, path, [resolve_package(p) for p in packages], time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    venv.EnvBuilder(with_pip=True, clear=True).create(path / "venv")
    pip = [str(env.python), "-m", "pip", "install", "--disable-pip-version-check"]
    torch_pin = torch_requirement()
    # torch first, pinned to this installation's (the CPU build here); then core and the plugins,
    # with the same pin so the resolver can never swap torch for another build
    _pip(pip + [torch_pin], on_output)
    plugin_args: list[str] = []
    for p in env.packages:
        plugin_args += ["-e", p] if Path(p).exists() else [p]
    _pip(pip + [torch_pin] + core_requirement() + plugin_args, on_output)
    from egbench_core.envs.client import describe_environment

    env.models = describe_environment(env.python)
    env.save()
    log.info("environment %s ready with models %s", name, [m["name"] for m in env.models])
    return env


def _pip(cmd: list[str], on_output: Callable[[str], None] | None) -> None:
    log.info("%s", " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None  # stdout=PIPE
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if on_output:
            on_output(line.rstrip())
    if proc.wait() != 0:
        raise EnvironmentError_("pip failed:\n" + "\n".join(lines[-30:]))


def remove_env(name: str) -> None:
    env = get_env(name)
    shutil.rmtree(env.path)


def remote_model_specs() -> list[ModelSpec]:
    """ModelSpecs of the models living in environments (from their descriptions cached in ``env.json``)."""
    from egbench_core.interfaces import ModelSpec

    return [
        ModelSpec.from_description(m, environment=env.name, build=_remote_build, calculator=_remote_calculator)
        for env in list_envs()
        for m in env.models
    ]


def run_in_environment(
    spec: ModelSpec, job: ModelJob, *, dataset: DatasetSpec | None, progress: Progress
) -> CellOutputs:
    """Run the model part of a cell (``job``) through an environment worker in the environment
    ``spec`` lives in."""
    from egbench_core.envs.client import run_in_environment as run

    return run(get_env(spec.environment).python, spec.environment, spec, job, dataset=dataset, progress=progress)


def remote_model_code(env_name: str, model: str) -> dict[str, str]:
    """The code of a model that lives in an environment: its plugin's distribution and version as
    described when the environment was made, and a hash of its source files now (the folder is on
    this machine, so an edit of an editable install is seen)."""
    from egbench_core.run.provenance import source_hash

    for env in list_envs():
        if env.name != env_name:
            continue
        for m in env.models:
            if m["name"] == model:
                code = m.get("code") or {}
                path = code.get("path")
                return {
                    "environment": env_name,
                    "dist": code.get("dist", ""),
                    "version": code.get("version", ""),
                    "source": source_hash(path) if path else f"unrecorded (environment created {env.created})",
                }
    return {"environment": env_name, "source": "unknown"}


def _remote_calculator(*args, **kwargs):
    raise EnvironmentError_(
        "a calculator-backed model living in another environment runs in its worker, not in this process"
    )


def _remote_build(*args, **kwargs):
    raise EnvironmentError_(
        "a model living in another environment is built by its environment worker, not in this process"
    )
