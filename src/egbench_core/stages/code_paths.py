"""Which of core's source files can change a stage's numbers: the import closure of the modules
the stage runs.

A stage's key hashes the code on its path, not the whole of core, so that editing the CLI, the
report or the HTML recomputes nothing, editing the trainer re-trains, editing the MD engine
re-simulates without re-training, and editing a metric re-scores only. The path of a stage is
found, not declared: start from its entry modules (:data:`ENTRIES`) and follow every import of a
module of ``egbench_core`` — at the top of a file or inside a function, absolute or relative — by
reading the sources (``ast``, nothing is imported). The closure is over-inclusive by design: a
module that is imported but never called on the path still enters the key (a spurious recompute,
never a stale number). ``tests/stages/test_stages.py`` checks that no closure reaches the CLI, the
report or the HTML, and that each of the four edits above recomputes what it should.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "egbench_core"
ROOT = Path(__file__).parents[1]  # the egbench_core package

# The modules each stage runs (its closure adds what they import).
ENTRIES: dict[str, tuple[str, ...]] = {
    # statistics, build, offset refit and training of a model; the checkpoint
    "train": ("egbench_core.stages.train",),
    # a trained model's predictions on one evaluation split
    "evaluate": ("egbench_core.stages.evaluate",),
    # the MD of the replicas with their observers
    "simulate": ("egbench_core.stages.simulate",),
    # the oracle's labels of the MD frames (calibrated first when not exact)
    "oracle": ("egbench_core.run.oracles",),
    # the inputs of a cell: splits loaded, verified and limited by the protocol preset
    "inputs": ("egbench_core.run.inputs",),
    # every metric over a cell's outputs, and what the store keeps of the cell (each metric's own
    # code enters the key apart: a plugin's source, or for a built-in the closure of its module)
    "score": ("egbench_core.run.scoring", "egbench_core.run.execute"),
}


def _module_file(name: str) -> Path | None:
    rel = name.split(".")[1:]
    if not rel:
        return ROOT / "__init__.py"
    base = ROOT.joinpath(*rel)
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _imports(name: str, file: Path) -> set[str]:
    """Modules of the package that ``file`` (module ``name``) imports, anywhere in it."""
    tree = ast.parse(file.read_text(), str(file))
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            if mod.split(".")[0] != PACKAGE:
                continue
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from . import x` names a module
    return {m for m in found if _module_file(m) is not None}


@lru_cache(maxsize=64)
def closure(entries: tuple[str, ...]) -> tuple[str, ...]:
    """Every module of the package reachable by imports from ``entries``, sorted. A package's
    ``__init__`` enters with each of its modules (importing a module runs it)."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        file = _module_file(name)
        if file is None:
            continue
        seen.add(name)
        todo.extend(_imports(name, file))
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    return tuple(sorted(seen))


def files_of(stage: str) -> list[Path]:
    """The source files of core on the path of ``stage`` (a key of :data:`ENTRIES`)."""
    found = [_module_file(m) for m in closure(ENTRIES[stage])]
    return sorted(f for f in found if f is not None)


def code_hash(stage: str) -> str:
    """sha256 over the names and bytes of the files of :func:`files_of` — what a stage's key holds
    of core's code (with core's version, see :func:`stage_code`)."""
    h = hashlib.sha256()
    for f in files_of(stage):
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def stage_code(stage: str) -> dict[str, str]:
    """Core's part of a stage's key: the distribution, its version and the hash of the stage's path."""
    from egbench_core import __version__

    return {"dist": "egbench-core", "version": __version__, "path": stage, "source": code_hash(stage)}


def module_code(module: str) -> str:
    """sha256 over the files of the closure of ``module`` (a built-in metric's code: the module
    that defines it and what it imports)."""
    h = hashlib.sha256()
    found = [_module_file(m) for m in closure((module,))]
    for f in sorted(f for f in found if f is not None):
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()
