"""Every hook in the contract is documented under its exact, annotated signature (datasette's rule),
and the annotations name real types while importing the contract stays cheap."""

import inspect
import subprocess
import sys
import typing
from pathlib import Path

import typer

from egbench_core import hookspecs, interfaces
from egbench_core.data import datasets, registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _hooks():
    return [(n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "egbench_spec")]


def _typed_signature(fn) -> str:
    """``def name(a: T, b: U) -> R`` as written in hookspecs.py (annotations are strings there)."""
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {fn.__name__}({params}) -> {sig.return_annotation}"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    nxt = text.find("\n### ", start + 1)
    ends = [e for e in (end, nxt) if e != -1]
    return text[start : min(ends)] if ends else text[start:]


def test_there_are_hooks():
    assert {n for n, _ in _hooks()} >= {"register_models", "register_datasets", "register_tasks", "register_metrics"}


def test_every_hook_documented_with_signature():
    text = DOC.read_text()
    for name, fn in _hooks():
        params = ", ".join(inspect.signature(fn).parameters)
        assert f"### `{name}({params})`" in text, f"docs/plugins.md lacks a section for {name}({params})"


def test_every_hook_is_annotated_and_documented_with_its_annotations():
    text = DOC.read_text()
    for name, fn in _hooks():
        sig = inspect.signature(fn)
        missing = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert not missing and sig.return_annotation is not inspect.Signature.empty, f"{name}: unannotated {missing}"
        params = ", ".join(sig.parameters)
        section = _section(text, f"### `{name}({params})`")
        assert _typed_signature(fn) in section, f"docs/plugins.md, {name}: expected `{_typed_signature(fn)}`"


def test_hook_annotations_name_real_types():
    names = {**vars(interfaces), **vars(datasets), "Registry": registry.Registry, "typer": typer}
    for name, fn in _hooks():
        hints = typing.get_type_hints(fn, localns=names)
        assert set(hints) == {*inspect.signature(fn).parameters, "return"}, name
    hints = typing.get_type_hints(hookspecs.register_models, localns=names)
    assert typing.get_args(hints["register"])[0] == [interfaces.ModelSpec | interfaces.BrokenSpec]


def test_importing_the_contract_imports_no_framework():
    code = (
        "import sys, egbench_core.hookspecs; "
        "heavy = sorted(m for m in ('torch', 'numpy', 'typer', 'egbench_core.interfaces') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
