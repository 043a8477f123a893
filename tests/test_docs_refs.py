"""Docs and code agree: what a docstring, comment or doc page cites exists in this repository (a
``*.md`` file, an ``egbench_core.module.name``), and the pages that describe a format say what the
code writes (``report --format json``'s fields, the environment worker's protocol). Static: reads
the sources, imports nothing heavy."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

from egbench_core.envs import client as env_client
from egbench_core.report.as_json import CELL_FIELDS, METRIC_FIELDS

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "egbench_core"

# a cited markdown file: a path with a folder, or a name with a capital (README.md, PROTOCOL.md);
# a lowercase name without a folder in Python is a module (``egbench_core.md.ase_engine``), not a page
MD_REF = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.md)(?![\w(])")
URL = re.compile(r"https?://\S+")
# files of other projects that a page names as such, not pages of this repository
OUTSIDE = {"LiPS20/Readme.md"}  # the authors' data release (plugins/egbench-data-lips/README.md)


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines() if (ROOT / line).is_file()]


def _exists(ref: str, source: Path) -> bool:
    """``ref`` as the reader would look for it: beside ``source``, in a folder above it (a plugin's
    README.md, the repository's docs/guide.md), or among the repository's docs/."""
    folders = [source.parent, *[p for p in source.parents if ROOT in (p, *p.parents)], ROOT / "docs"]
    return any((folder / ref).is_file() for folder in folders)


FENCE = re.compile(r"^```.*?^```", re.S | re.M)
# Python in a page's inline code: an attribute ``md`` of something (``plan.md``, ``outputs.md``)
ATTRIBUTE = re.compile(r"`[a-z_][a-z0-9_]*\.md(?:\.\w+)*`")


def _prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of a Python file's comments and strings (docstrings included), or of a page
    without its code: fenced blocks, and inline code that reads an attribute ``md``."""
    text = path.read_text()
    if path.suffix != ".py":
        text = FENCE.sub(lambda m: "\n" * m.group().count("\n"), text)
        text = ATTRIBUTE.sub(lambda m: "" if not (ROOT / "docs" / m.group()[1:-1]).exists() else m.group(), text)
        return [(n, line) for n, line in enumerate(text.splitlines(), 1)]
    toks = tokenize.generate_tokens(io.StringIO(text).readline)
    return [(t.start[0], t.string) for t in toks if t.type in (tokenize.COMMENT, tokenize.STRING)]


def _found(pattern: re.Pattern, path: Path) -> list[tuple[int, str]]:
    """(line, match) of ``pattern`` in the prose of ``path``, URLs left out."""
    return [
        (line + text.count("\n", 0, m.start()), m.group(1))
        for line, text in _prose(path)
        for m in pattern.finditer(URL.sub(lambda u: " " * len(u.group()), text))
    ]


def _md_refs(path: Path) -> list[tuple[int, str]]:
    return [
        (line, ref)
        for line, ref in _found(MD_REF, path)
        if not (path.suffix == ".py" and "/" not in ref and ref.lower() == ref)
    ]


SOURCES = _tracked("src/*.py", "plugins/*.py")
PAGES = _tracked("README.md", "docs/*.md", "plugins/*.md", "src/*.md")


def test_the_scan_sees_the_files_and_their_citations():
    assert len(SOURCES) > 100 and ROOT / "docs" / "guide.md" in PAGES
    cited = {ref for p in SOURCES for _, ref in _md_refs(p)}
    assert {"docs/metrics.md", "docs/guide.md", "docs/protocol.md"} <= cited


@pytest.mark.parametrize("kind, files", [("sources", SOURCES), ("pages", PAGES)])
def test_every_cited_markdown_file_is_in_the_repository(kind, files):
    missing = [
        f"{p.relative_to(ROOT)}:{line}: {ref}"
        for p in files
        for line, ref in _md_refs(p)
        if ref not in OUTSIDE and not _exists(ref, p)
    ]
    assert not missing, "cited but not in the repository (cite docs/ instead):\n" + "\n".join(missing)


# ``egbench_core.a.b`` in a docstring or comment: the module a, and b defined in it
DOTTED = re.compile(r"(?<![\w.])(egbench_core(?:\.\w+)+)")


def _module(parts: list[str]) -> Path | None:
    path = CORE.parent.joinpath(*parts)
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return path / "__init__.py" if (path / "__init__.py").is_file() else None


def _names(tree: ast.Module | ast.ClassDef) -> set[str] | None:
    """What a module or class defines at its top level; None where it cannot be known statically
    (a ``from x import *`` shim, a module ``__getattr__``)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if node.name == "__getattr__" and isinstance(tree, ast.Module):
                return None
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.If, ast.Try)):  # TYPE_CHECKING imports, optional definitions
            inner = _names(ast.Module(body=node.body, type_ignores=[]))
            if inner is None:
                return None
            names |= inner
    return names


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = _module(parts[:cut])
        if module is not None:
            break
    else:
        return False
    rest = parts[cut:]
    if not rest:
        return True
    tree = ast.parse(module.read_text())
    names = _names(tree)
    if names is None or rest[0] not in names:
        return names is None
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == rest[0]), None)
    if len(rest) == 1 or cls is None:
        return True
    members = _names(cls)
    return members is None or rest[1] in members


def test_every_dotted_reference_to_core_names_something_that_exists():
    refs = [(p, line, ref) for p in SOURCES + PAGES for line, ref in _found(DOTTED, p)]
    assert len(refs) > 20  # the scan sees them
    broken = [f"{p.relative_to(ROOT)}:{line}: {ref}" for p, line, ref in refs if not _resolves(ref)]
    assert not broken, "names that moved or never existed:\n" + "\n".join(broken)


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]


def test_guide_lists_the_json_fields_the_report_writes():
    section = _section((ROOT / "docs" / "guide.md").read_text(), "## Results as JSON")
    documented = []
    for row in re.findall(r"^\| (`[^|]+`) \|", section, flags=re.M):
        documented += re.findall(r"`(\w+)`", row)
    assert documented == list(CELL_FIELDS + METRIC_FIELDS)
    metric_row = next(line for line in section.splitlines() if line.startswith("| `metric` |"))
    assert "the id of the stored value" in metric_row and "`stability`" in metric_row


def _dict_keys(module_file: str, function: str) -> list[str]:
    """The constant keys of the dict literals in ``function`` of a source file (read, not imported)."""
    tree = ast.parse(Path(module_file).read_text())
    (fn,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
    return [k.value for d in ast.walk(fn) if isinstance(d, ast.Dict) for k in d.keys if isinstance(k, ast.Constant)]


def test_environments_page_describes_the_protocol_the_worker_speaks():
    from egbench_core.envs import request
    from egbench_core.run import model_job

    page = (ROOT / "docs" / "environments.md").read_text()
    assert f"## The environment worker's protocol (version {request.PROTOCOL})" in page
    assert env_client.PROTOCOL == request.PROTOCOL
    section = _section(page, "## The environment worker's protocol")
    envelope = _dict_keys(request.__file__, "write_request")
    job = _dict_keys(model_job.__file__, "to_json")
    assert envelope == ["protocol", "model", "job"] and len(job) > 5
    assert [k for k in envelope + job if f"`{k}`" not in section] == []
