"""docs/plugins.md's Python blocks run: every block of "Writing a task plugin", "Writing a metric
plugin" and "Writing an oracle plugin" (in order, one namespace per section), and every block that
writes a hook with ``@hookimpl`` (which must import it). The tables of those sections name every
field of the types a task and a metric receive, every report table and every ``when``."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from egbench_core import cell, interfaces, records
from egbench_core.data import datasets
from egbench_core.data import readers as data

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
SECTIONS = ("## Writing a task plugin", "## Writing a metric plugin", "## Writing an oracle plugin")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]


@pytest.fixture
def quiet_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EGBENCH_OFFLINE", "1")
    monkeypatch.delenv("EGBENCH_REGISTRY", raising=False)


@pytest.mark.parametrize("heading", SECTIONS)
def test_every_block_of_the_section_runs(heading, quiet_data):
    blocks = BLOCK.findall(_section(DOC.read_text(), heading))
    assert len(blocks) >= 1, heading
    namespace: dict = {"__name__": "docs_plugins"}
    for k, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name}, {heading[3:]}, block {k + 1}", "exec"), namespace)  # noqa: S102


def test_every_hook_written_by_hand_imports_hookimpl_and_runs():
    blocks = [b for b in BLOCK.findall(DOC.read_text()) if "@hookimpl" in b]
    assert len(blocks) >= 3
    for code in blocks:
        assert "from egbench_core import hookimpl" in code, code
        exec(compile(code, DOC.name, "exec"), {"__name__": "docs_plugins"})  # noqa: S102


def _fields_in_tables(section: str) -> set[str]:
    return {
        name
        for row in section.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`(\w+)`", row.split("|")[1])
    }


def test_the_tables_name_every_field():
    text = DOC.read_text()
    task, metric = _section(text, SECTIONS[0]), _section(text, SECTIONS[1])
    for section, types in (
        (task, (datasets.DatasetSpec, datasets.SplitInfo, interfaces.TaskPlan, interfaces.MDPlan)),
        (metric, (cell.CellOutputs, data.Frames, records.ReplicaResult)),
    ):
        named = _fields_in_tables(section)
        for t in types:
            missing = {f.name for f in dataclasses.fields(t)} - named
            assert not missing, f"docs/plugins.md: {t.__name__} fields {sorted(missing)} are in no table"
    for table in interfaces.REPORT_TABLES:
        assert f"| `{table}` |" in metric, table
    for when in interfaces.WHEN:
        assert f'`"{when}"`' in metric, when
