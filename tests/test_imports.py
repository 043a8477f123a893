"""No import cycles inside egbench_core: every ``import``/``from … import`` counts, at module level
and inside functions (a lazy import is still a dependency), so data flows one way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import egbench_core

ROOT = Path(egbench_core.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def import_graph() -> dict[str, set[str]]:
    """Module → the egbench_core modules it imports. ``from pkg import sub`` depends on ``pkg.sub``
    when that is a module (the parent package is loaded by any import of its submodules anyway,
    so that implicit edge is not counted)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in mods and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_detector_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "egbench_core.cell" in graph["egbench_core.run.runner"]  # function-level imports count too
    assert "egbench_core.run.execute" in graph["egbench_core.run.executors"]


def test_no_import_cycles_in_core():
    assert cycles(import_graph()) == []


def test_cell_is_a_leaf():
    """cell.py imports nothing that runs cells."""
    runs_cells = {"runner", "execute", "executors", "envs", "env_client", "worker", "planning", "plugins", "cli"}
    assert not {m.rsplit(".", 1)[1] for m in import_graph()["egbench_core.cell"]} & runs_cells


CHEAP_COMMANDS = [["--help"], ["list", "models"], ["list", "datasets"], ["list", "tasks"], ["list", "metrics"]]
CHEAP_COMMANDS += [["plugins"], ["run", "--help"], ["report", "--help"]]


@pytest.mark.parametrize("argv", CHEAP_COMMANDS, ids=" ".join)
def test_the_catalog_commands_import_no_torch(argv):
    """Registration is cheap (docs/plugins.md), for core too: asking what is installed loads every
    plugin (their commands enter the help) but none of them, nor core, imports torch to answer."""
    code = (
        "import sys, contextlib, io; from egbench_core.cli import main; sys.argv = ['egbench', *sys.argv[1:]]\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try: main()\n"
        "    except SystemExit as exc: code = exc.code\n"
        "print(code, len(out.getvalue()), sorted(m for m in ('torch', 'e3nn', 'mace') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300)
    code, printed, heavy = done.stdout.strip().split(" ", 2)
    assert (code, heavy) == ("0", "[]"), done.stderr[-2000:]
    assert int(printed) > 200  # it answered


# The subpackages' one direction (docs/architecture.md): what a lower layer may never import.
NEVER = {
    # data -> model -> md: nothing about how cells run, are stored in stages or reported
    **{low: {"run", "stages", "envs", "report", "cli", "console"} for low in ("data", "model", "md", "analysis")},
    # the report reads the store (and the stages' rows in it); it runs, trains and simulates nothing
    "report": {"run", "envs", "model", "md", "cli"},
}
ALLOWED = {("egbench_core.report.leaderboard", "egbench_core.stages.store")}


def test_the_subpackages_depend_one_way():
    def layer(module: str) -> str:
        return module.split(".")[1] if "." in module else ""

    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        for b in targets
        if layer(b) in NEVER.get(layer(a), ()) and (a, b) not in ALLOWED
    )
    assert wrong == []
    assert {layer(m) for m in import_graph()} >= set(NEVER)  # the layers exist under these names
