"""Cells that did not finish, grouped by the kind of their reason (for ``egbench run``, ``egbench
report`` and the HTML report): one line per kind with a count instead of one row per cell.

Reasons name the cell's own model, dataset and task ("dataset synthetic-emt declares no split
tagged 'ood-temperature'"); :func:`reason_kind` replaces those ids by ``<model>``, ``<dataset>``
and ``<task>`` (and the file lists of "not available offline" by ``…``), so the same cause on
many datasets and tasks is one group.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

# the statuses of cells that did not finish, in the order the summary lists them
STATUS_ORDER = ("failed", "interrupted", "running", "skipped")
_OFFLINE = re.compile(r"(\d+ file\(s\) not available offline):.*?(; run `|$)")


@dataclass
class NotRunGroup:
    status: str
    kind: str  # the reason with the cell's ids replaced by <model>, <dataset>, <task>
    cells: list[list[str]] = field(default_factory=list)  # model [preset], dataset, task, status, reason

    @property
    def count(self) -> int:
        return len(self.cells)


def _swap(text: str, word: str, placeholder: str) -> str:
    if not word:
        return text
    return re.sub(rf"(?<![\w./-]){re.escape(word)}(?![\w-])", placeholder, text)


def reason_kind(reason: str, model: str, dataset: str, task: str) -> str:
    """``reason`` with the cell's own ids replaced by placeholders (longest id first, so an id
    that contains another is replaced whole)."""
    text = " ".join((reason or "no reason recorded").split())
    for word, placeholder in sorted(
        ((model, "<model>"), (dataset, "<dataset>"), (task, "<task>")), key=lambda wp: -len(wp[0])
    ):
        text = _swap(text, word, placeholder)
    return _OFFLINE.sub(lambda m: f"{re.sub(r'^[0-9]+', 'N', m[1])} (…){m[2]}", text)


def group_not_run(rows: list[list[str]]) -> list[NotRunGroup]:
    """``rows`` as in :attr:`report.Leaderboard.not_run` (``model [preset]``, dataset, task,
    status, reason), grouped by status and reason kind; largest group first within a status."""
    groups: dict[tuple[str, str], NotRunGroup] = {}
    for row in rows:
        label, dataset, task, status, reason = row[:5]
        model = label.split(" [")[0]
        kind = reason_kind(reason, model, dataset, task)
        groups.setdefault((status, kind), NotRunGroup(status, kind)).cells.append(list(row[:5]))
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    return sorted(groups.values(), key=lambda g: (order.get(g.status, len(order)), -g.count, g.kind))


def counts_by_status(groups: list[NotRunGroup]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for g in groups:
        out[g.status] += g.count
    return dict(out)
