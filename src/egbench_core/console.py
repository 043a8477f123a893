"""The only module that prints: rich tables and progress bars for the CLI."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from egbench_core.cell import Cell
    from egbench_core.report.leaderboard import Leaderboard


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    # not a terminal (a log file, CI): rich would wrap tables at 80 columns; use a wider page
    return probe if probe.is_terminal else Console(stderr=stderr, width=160)


console = _console()
err_console = _console(stderr=True)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=err_console, show_path=False)], force=True
    )
    logging.captureWarnings(True)  # warnings become log records: shown with -v, quiet otherwise
    if verbose <= 0:
        logging.getLogger("py.warnings").setLevel(logging.ERROR)


def raw(text: str) -> None:
    """Text to print as is (json, csv, markdown): no markup, emoji codes or wrapping."""
    console.file.write(text if text.endswith("\n") else text + "\n")
    console.file.flush()


def table(
    title: str,
    headers: list[str],
    rows: list[list[str]],
    caption: str | None = None,
    sections: list[tuple[str, list[list[str]]]] | None = None,
) -> None:
    """``sections``: ``[(title, rows)]`` shown one after the other under a bold title row each
    (instead of ``rows``)."""
    t = Table(title=title, caption=caption, show_lines=False)
    for h in headers:
        t.add_column(h, overflow="fold")
    for name, part in sections or [("", rows)]:
        if name:
            t.add_row(Text(name, style="bold"), *[""] * (len(headers) - 1))
        for k, r in enumerate(part):  # plain strings are shown literally (reasons may contain [brackets])
            t.add_row(*[x if isinstance(x, Text) else Text(str(x)) for x in r], end_section=k == len(part) - 1)
    console.print(t)


def leaderboard(
    title: str, lb: Leaderboard, caption: str, sections: list[tuple[str, list[list[str]]]] | None = None
) -> None:
    """A leaderboard in the layout :func:`egbench_core.report.leaderboard.terminal_layout` gives it at this
    console's width: the columns ``n/a`` (or ``—``) in every row hidden and named in the caption,
    each row on one line (key columns with one value in every row move to the caption when the
    table is too wide); columns that still do not fit go to further tables ("title (2 of 3)"),
    which repeat model, dataset and task. The caption goes under the last table."""
    from egbench_core.report.leaderboard import terminal_layout

    layout = terminal_layout(lb, console.width, [name for name, _ in sections or []])
    if layout.folded:
        caption += "\nevery row: " + "; ".join(f"{header} {value}" for header, value in layout.folded)
    if layout.hidden:
        caption += f"\nhidden (n/a or — in every row; --format markdown or csv shows them): {', '.join(layout.hidden)}"
    for k, part in enumerate(layout.parts):
        name = title if len(layout.parts) == 1 else f"{title} ({k + 1} of {len(layout.parts)})"
        t = Table(title=name, caption=caption if k == len(layout.parts) - 1 else None, show_lines=False)
        for i in part:
            t.add_column(lb.headers[i], width=layout.widths[i], overflow="fold")
        for section, rows in sections or [("", lb.rows)]:
            if section:
                t.add_row(Text(section, style="bold"), *[""] * (len(part) - 1))
            for j, r in enumerate(rows):  # plain strings are shown literally (reasons may contain [brackets])
                t.add_row(*[Text(r[i]) for i in part], end_section=j == len(rows) - 1)
        console.print(t)


class RunProgress:
    """Progress bars for ``egbench run``: one for the cells, one per cell in flight (epochs, MD
    steps). Skipped cells are counted, not listed (``-v`` lists each; the run summarises the cells
    not run by reason at the end).

    A :class:`egbench_core.run.progress.RunListener` (the run's events about its cells), not a cell's
    :class:`~egbench_core.run.progress.Progress`: the runner's ``CellProgress`` turns each cell's
    events into the ``cell_*`` calls here."""

    def __init__(self, n_cells: int, verbose: int = 0):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.cells = self.progress.add_task("cells", total=n_cells)
        self.verbose = verbose
        self.subs: dict[str, TaskID] = {}  # cell key -> its bar

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def _sub(self, cell: Cell, description: str, total: int | None = None, completed: int | None = None) -> None:
        tid = self.subs.get(cell.key)
        if tid is None:
            tid = self.subs[cell.key] = self.progress.add_task(description, total=total)
        self.progress.update(tid, description=description, total=total, completed=completed)

    def _line(self, text: str, style: str) -> None:
        self.progress.console.print(Text(text, style=style))

    def cell_started(self, cell: Cell) -> None:
        self._line(f"▶ {cell.label}", "bold")

    def cell_skipped(self, cell: Cell) -> None:
        if self.verbose:
            self._line(f"– skipped {cell.label}: {cell.skip_reason}", "yellow")
        self.progress.advance(self.cells)

    def cell_busy(self, cell: Cell, reason: str) -> None:
        self._line(f"… skipped {cell.label}: {reason}", "cyan")
        self.progress.advance(self.cells)

    def cell_cached(self, cell: Cell) -> None:
        self._line(f"✓ cached  {cell.label}", "dim")
        self.progress.advance(self.cells)

    def cell_finished(self, cell: Cell, status: str) -> None:
        colour = {"done": "green", "interrupted": "yellow"}.get(status, "red")
        self._line(f"{'✓' if status == 'done' else '✗'} {status} {cell.label}", colour)
        tid = self.subs.pop(cell.key, None)
        if tid is not None:
            self.progress.remove_task(tid)
        self.progress.advance(self.cells)

    def cell_stage(self, cell: Cell, name: str) -> None:
        self._sub(cell, f"  {cell.model} × {cell.dataset}: {name}")

    def cell_epoch(self, cell: Cell, epoch: int, total: int, row: dict[str, float]) -> None:
        self._sub(
            cell,
            f"  {cell.model} × {cell.dataset}: training  loss {row['train_loss']:.3g} val {row['val_loss']:.3g}",
            total,
            epoch,
        )

    def cell_md_step(self, cell: Cell, replica: int, step: int, total: int) -> None:
        self._sub(cell, f"  {cell.model} × {cell.dataset}: MD replica {replica}", total, step)


def not_run_summary(groups, verbose: int = 0) -> None:
    """Cells not run (``not_run.group_not_run``): a count per status, then one line per reason with
    its count (``-v``: and the cells)."""
    if not groups:
        return
    counts: dict[str, int] = {}
    for g in groups:
        counts[g.status] = counts.get(g.status, 0) + g.count
    console.print(
        Text.assemble(
            ("cells not run: ", "bold"),
            ", ".join(f"{n} {s}" for s, n in counts.items()),
            " (`egbench report --skipped` lists them)",
        ),
        highlight=False,
        soft_wrap=True,
    )
    for g in groups:
        style = "red" if g.status in ("failed", "interrupted") else "yellow"
        console.print(Text.assemble((f"– {g.count} {g.status}: ", style), g.kind), highlight=False, soft_wrap=True)
        if verbose:
            for model, dataset, task, _, reason in g.cells:
                console.print(
                    Text(f"    {model} × {dataset} × {task}: {reason}", style="dim"), highlight=False, soft_wrap=True
                )
