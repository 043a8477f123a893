"""The check every plugin kit starts with: registering is cheap and the catalog finds what the
plugin registers (used by the model, task, metric and oracle kits)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# the catalog's table and the spec's id attribute, per hook
HOOKS = {
    "register_models": "models",
    "register_tasks": "tasks",
    "register_metrics": "metrics",
    "register_oracles": "oracles",
}


def check_registration(
    module: str, plugin: str, hook: str, names: tuple[str, ...], heavy: tuple[str, ...], installed: bool
) -> Any:
    """Import ``module`` and call its ``hook`` in a fresh interpreter: none of ``heavy`` is imported and
    exactly ``names`` are registered, in that order. Then load the catalog (the installed entry point
    ``plugin``, or with ``installed=False`` the module handed over directly): the plugin is ``ok`` and
    each name in the hook's table was registered by it. Returns that catalog."""
    from egbench_core.plugins import load_catalog

    table = HOOKS[hook]
    env = dict(os.environ)
    if installed:
        cat, key = load_catalog(), plugin
    else:
        mod = importlib.import_module(module)
        src = str(Path(mod.__file__ or "").resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        cat, key = load_catalog(extra_plugins=[mod], entry_points=False), mod.__name__
    code = (
        f"import json, sys, {module} as p; specs = []; p.{hook}(register=specs.append); "
        f"heavy = {sorted(heavy)!r}; loaded = [m for m in heavy if m in sys.modules]; "
        "assert not loaded, f'registering imported {loaded}'; print(json.dumps([s.name for s in specs]))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr.strip().splitlines()[-1:] or run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == list(names), f"{module}.{hook} registered {run.stdout}"
    assert key in cat.plugins, f"plugin {key!r} not loaded; loaded: {sorted(cat.plugins)}"
    assert cat.plugins[key].status == "ok", cat.plugins[key].error
    for name in names:
        spec = cat.get(table, name)
        assert spec.plugin == key, f"{table[:-1]} {name!r} comes from {spec.plugin!r}, not {key!r}"
    return cat
