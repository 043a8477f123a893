"""Every hook of the contract has a test (datasette's rule; tests/test_docs.py checks that each is
documented). Adding a hookspec without adding its test here fails; so does a test named here that
does not exist or does not exercise its hook: the hook's name must appear in the test function, or in
a class, function or fixture of the same file (or of conftest.py) that the test names, directly or
through another."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from egbench_core import hookspecs

TESTS = Path(__file__).resolve().parents[1]  # tests/

HOOK_TESTS = {  # hook -> "file::test function" that registers through it (or calls it)
    "register_registry_files": "plugins/test_plugin_loading.py::test_register_registry_files_merges_before_cores_file",
    "register_datasets": "plugins/test_plugins.py::test_plugin_cannot_displace_a_builtin_dataset",
    "register_models": "plugins/test_plugins.py::test_duplicate_model_name_breaks_both_plugins_never_a_silent_winner",
    "register_oracles": "run/test_oracles.py::test_exact_oracle_gives_errors_where_the_model_goes",
    "register_tasks": "plugins/test_plugin_loading.py::test_register_tasks_adds_a_task_that_plans_cells",
    "register_metrics": (
        "report/test_plugin_metric_report.py::test_table_shows_the_plugin_columns_and_the_failing_metric"
    ),
    "register_commands": "plugins/test_plugin_loading.py::test_register_commands_adds_commands_of_working_plugins_only",
}


def _hooks() -> set[str]:
    return {n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "egbench_spec")}


def _top_level(path: Path) -> tuple[str, dict[str, ast.AST]]:
    source = path.read_text()
    tree = ast.parse(source)
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    named: dict[str, ast.AST] = {n.name: n for n in tree.body if isinstance(n, defs)}
    for node in tree.body:  # NAME = ... at module level (e.g. a plugin's source text)
        if isinstance(node, ast.Assign):
            named.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
    return source, named


def _reaches(test: str, path: Path, hook: str) -> bool:
    """Whether ``hook`` appears in ``test`` (a function of ``path``) or in what it names (module-level
    classes, functions, constants, fixtures of ``path`` or conftest.py), followed transitively."""
    files = [_top_level(path), _top_level(TESTS / "conftest.py")]

    def lookup(name: str) -> str | None:
        for source, named in files:
            if name in named:
                return ast.get_source_segment(source, named[name])
        return None

    seen: set[str] = set()
    todo = [test]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        segment = lookup(name)
        if segment is None:
            continue
        if hook in segment:
            return True
        tree = ast.parse(segment)
        todo += [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
        todo += [a.arg for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) for a in n.args.args]  # fixtures
    return False


def test_every_hook_has_a_test_named_here():
    hooks = _hooks()
    assert len(hooks) >= 7
    missing, stale = sorted(hooks - set(HOOK_TESTS)), sorted(set(HOOK_TESTS) - hooks)
    assert not missing, f"hooks without a test: {missing}; write one and name it in HOOK_TESTS"
    assert not stale, f"HOOK_TESTS names hooks the contract does not have: {stale}"


def test_each_named_test_exists_and_exercises_its_hook():
    for hook, where in HOOK_TESTS.items():
        file, test = where.split("::")
        path = TESTS / file
        assert path.is_file(), f"{hook}: {file} does not exist"
        assert test.startswith("test_") and test in _top_level(path)[1], f"{hook}: no {test} in {file}"
        assert _reaches(test, path, hook), f"{hook}: {where} neither names it nor uses anything that does"


def test_the_search_finds_a_hook_only_where_it_is():
    plugins_tests = TESTS / "plugins" / "test_plugins.py"
    test = "test_plugin_cannot_displace_a_builtin_dataset"  # its plugin AcacAgain registers a dataset only
    assert _reaches(test, plugins_tests, "register_datasets")
    assert not _reaches(test, plugins_tests, "register_models")
