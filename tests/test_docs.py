"""Every hook in the contract is documented under its exact signature (datasette's rule)."""
import inspect
from pathlib import Path

from egbench_core import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _hooks():
    return [(n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(f, "egbench_spec")]


def test_there_are_hooks():
    assert {n for n, _ in _hooks()} >= {"register_models", "register_datasets", "register_tasks", "register_metrics"}


def test_every_hook_documented_with_signature():
    text = DOC.read_text()
    for name, fn in _hooks():
        params = ", ".join(inspect.signature(fn).parameters)
        assert f"### `{name}({params})`" in text, f"docs/plugins.md lacks a section for {name}({params})"
