"""The import paths of core's modules before they were grouped into subpackages (0.1): each still
imports, as the module at its new path, with a ``DeprecationWarning`` naming that path. Kept for one
minor version so that a plugin written against the old paths loads; core itself never uses them
(``tests/test_layout.py``). ``data``, ``envs``, ``md`` and ``report`` are package names now: their
``__init__`` forwards the old module's names the same way."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

PACKAGE = "egbench_core"

# old module (under egbench_core) -> its module now
MOVED: dict[str, str] = {
    "planning": "run.planning",
    "runner": "run.runner",
    "executors": "run.executors",
    "execute": "run.execute",
    "protocol": "run.protocol",
    "progress": "run.progress",
    "devices": "run.devices",
    "provenance": "run.provenance",
    "environment": "run.hardware",
    "seeding": "run.seeding",
    "slurm_jobs": "run.slurm_jobs",
    "dask_preload": "run.dask_preload",
    "inputs": "run.inputs",
    "scoring": "run.scoring",
    "rescore": "run.rescore",
    "model_job": "run.model_job",
    "oracles": "run.oracles",
    "code_paths": "stages.code_paths",
    "stage_keys": "stages.keys",
    "stage_records": "stages.records",
    "stage_runner": "stages.runner",
    "stage_store": "stages.store",
    "stage_train": "stages.train",
    "stage_evaluate": "stages.evaluate",
    "stage_simulate": "stages.simulate",
    "md": "md.ase_engine",
    "md_batched": "md.batched",
    "md_replicas": "md.replicas",
    "calculator": "md.calculator",
    "replay": "md.replay",
    "envs": "envs.manage",
    "env_client": "envs.client",
    "worker": "envs.worker",
    "report": "report.leaderboard",
    "report_compare": "report.compare",
    "report_json": "report.as_json",
    "not_run": "report.not_run",
    "plots": "report.plots",
    "paper": "report.paper",
    "html": "report.html",
    "data": "data.readers",
    "datasets": "data.datasets",
    "registry": "data.registry",
    "registry_checks": "data.registry_checks",
    "synthetic": "data.synthetic",
    "sidecar": "data.sidecar",
    "isolated_atoms": "data.isolated_atoms",
    "graph": "model.graph",
    "potential": "model.potential",
    "predict": "model.predict",
    "pretrained": "model.pretrained",
    "calculator_model": "model.calculator_model",
    "ase_models": "model.ase_models",
    "train": "model.train",
    "stats": "model.stats",
}


# old modules whose name is a package's now: the package's ``__init__`` forwards their names
SHADOWED = {"data": "data.readers", "envs": "envs.manage", "md": "md.ase_engine", "report": "report.leaderboard"}


def new_path(fullname: str) -> str | None:
    """``egbench_core.<old>[.<sub>]`` -> the module's name now, or None when it did not move."""
    package, _, rest = fullname.partition(".")
    if package != PACKAGE or not rest:
        return None
    head, _, sub = rest.partition(".")
    if head not in MOVED or head in SHADOWED:
        return None
    return f"{PACKAGE}.{MOVED[head]}" + (f".{sub}" if sub else "")


def warn_moved(old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{old} moved to {new}; the old path goes in egbench-core 0.2", DeprecationWarning, stacklevel=stacklevel
    )


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        warn_moved(module.__name__, self.new)
        sys.modules[module.__name__] = importlib.import_module(self.new)  # the import returns this one


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old paths (only those: every other name is left to Python's own finders)."""

    def find_spec(self, fullname, path, target=None):
        new = new_path(fullname)
        return None if new is None else importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    # first: the submodules of an old package path must not be found (and run twice) under the old name
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())


def forward(package: str, module: str, name: str) -> object:
    """A name of the old module ``module`` asked of the package that took its place."""
    if name.startswith("__"):
        raise AttributeError(name)
    target = importlib.import_module(module)
    try:
        value = getattr(target, name)
    except AttributeError:
        raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
    warn_moved(f"{package}.{name}", f"{module}.{name}", stacklevel=4)  # at the line that asked
    return value
