"""The only module that prints: rich tables and progress bars for the CLI."""
from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    # not a terminal (a log file, CI): rich would wrap tables at 80 columns; use a wider page
    return probe if probe.is_terminal else Console(stderr=stderr, width=160)


console = _console()
err_console = _console(stderr=True)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=err_console, show_path=False)],
                        force=True)
    logging.captureWarnings(True)  # warnings become log records: shown with -v, quiet otherwise
    if verbose <= 0:
        logging.getLogger("py.warnings").setLevel(logging.ERROR)


def table(title: str, headers: list[str], rows: list[list[str]], caption: str | None = None) -> None:
    t = Table(title=title, caption=caption, show_lines=False)
    for h in headers:
        t.add_column(h, overflow="fold")
    for r in rows:  # plain strings are shown literally (reasons may contain [brackets]); Text keeps style
        t.add_row(*[x if isinstance(x, Text) else Text(str(x)) for x in r])
    console.print(t)


class RunProgress:
    """Progress bars for ``egbench run``: cells, training epochs, MD steps."""

    def __init__(self, n_cells: int):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.cells = self.progress.add_task("cells", total=n_cells)
        self.sub = None
        self.md_total = 0

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def _new_sub(self, description: str, total: int) -> None:
        if self.sub is not None:
            self.progress.remove_task(self.sub)
        self.sub = self.progress.add_task(description, total=total)

    def cell_started(self, cell) -> None:
        self.progress.console.print(f"[bold]▶ {cell.label}[/bold]")
        self.md_total = 0

    def cell_skipped(self, cell) -> None:
        self.progress.console.print(f"[yellow]– skipped {cell.label}: {cell.skip_reason}[/yellow]")
        self.progress.advance(self.cells)

    def cell_busy(self, cell, reason: str) -> None:
        self.progress.console.print(f"[cyan]… skipped {cell.label}: {reason}[/cyan]", highlight=False)
        self.progress.advance(self.cells)

    def cell_cached(self, cell) -> None:
        self.progress.console.print(f"[dim]✓ cached  {cell.label}[/dim]")
        self.progress.advance(self.cells)

    def cell_finished(self, cell, status: str) -> None:
        colour = {"done": "green", "interrupted": "yellow"}.get(status, "red")
        self.progress.console.print(f"[{colour}]{'✓' if status == 'done' else '✗'} {status} {cell.label}[/{colour}]")
        if self.sub is not None:
            self.progress.remove_task(self.sub)
            self.sub = None
        self.progress.advance(self.cells)

    def stage(self, name: str) -> None:
        if name == "train":
            self._new_sub("  training (epochs)", None)
        elif name == "md":
            self._new_sub("  MD (steps, all replicas)", None)

    def train_epoch(self, epoch: int, total: int, row: dict) -> None:
        self.progress.update(self.sub, total=total, completed=epoch,
                             description=f"  training  loss {row['train_loss']:.3g} val {row['val_loss']:.3g}")

    def md_step(self, replica: int, step: int, total: int) -> None:
        self.progress.update(self.sub, description=f"  MD replica {replica}", total=total, completed=step)
