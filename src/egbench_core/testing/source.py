"""A plugin's package for its own tests: installed, or else from the ``src/`` folder beside the
tests (a copy of a template run from its folder, as egbench's CI runs the templates)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


def plugin_module(name: str, test_file: str) -> ModuleType:
    """``import name``; when it is not installed, from ``<plugin>/src`` where ``test_file`` is
    ``<plugin>/tests/<file>.py``."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the plugin is there, something it imports is not
    src = Path(test_file).resolve().parents[1] / "src"
    if not (src / name).is_dir():
        raise ModuleNotFoundError(f"{name} is neither installed nor in {src}", name=name)
    sys.path.insert(0, str(src))
    return importlib.import_module(name)
