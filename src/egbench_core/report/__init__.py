"""Everything that reads a finished store: leaderboards, JSON, the comparison with the paper's tables,
plots, the cells that did not run, and the HTML report (``html``). Nothing here changes a number.

``egbench_core.report`` was one module before 0.1's subpackages: its names still resolve here, from
``egbench_core.report.leaderboard``, with a ``DeprecationWarning``."""

from __future__ import annotations

from egbench_core._moved import forward


def __getattr__(name: str) -> object:
    return forward(__name__, "egbench_core.report.leaderboard", name)
