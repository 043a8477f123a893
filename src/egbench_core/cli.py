"""``egbench`` command line (typer). Output goes through console.py only."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from . import console as ui

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Benchmark machine-learned interatomic potentials: static errors and forward MD.")
list_app = typer.Typer(no_args_is_help=True, help="List installed models, datasets, tasks or metrics.")
app.add_typer(list_app, name="list")
env_app = typer.Typer(no_args_is_help=True, help="Separate environments for model plugins whose dependencies conflict.")
app.add_typer(env_app, name="env")

DEFAULT_DATASETS = "acac"  # the embedded default: works offline on a fresh machine


@app.callback()
def _main(verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v info, -vv debug logging")) -> None:
    ui.setup_logging(verbose)


def _catalog():
    from .plugins import catalog

    return catalog()


@app.command()
def run(
    models: str = typer.Option("all", help="'all' or comma-separated model ids"),
    datasets: Optional[str] = typer.Option(None, help="'all' or comma-separated dataset ids (default: the embedded "
                                                      "'acac' for the standard task, all datasets otherwise)"),
    tasks: str = typer.Option("standard", help="comma-separated task ids or families (e.g. 'ood'), or 'all'"),
    preset: str = typer.Option("quick", help="smoke | quick | paper"),
    seed: int = typer.Option(0, help="seed of every random choice in the run (stored with the results)"),
    out: Path = typer.Option(Path("egbench-results"), help="results folder (SQLite store + artifacts)"),
    retry_failed: bool = typer.Option(True, help="re-run cells that failed before"),
    threads: int = typer.Option(1, envvar="EGBENCH_THREADS",
                                help="torch threads (recorded with every timing). 1 by default: the benchmark's graphs "
                                     "are small, and on a shared machine extra threads cost far more than they give"),
) -> None:
    """Train, evaluate and simulate every selected model × dataset × task; resume what is done."""
    import torch

    torch.set_num_threads(threads)
    from .report import TABLES, leaderboard
    from .runner import plan_cells, run_cells
    from .store import Store

    cat = _catalog()
    if datasets is None:
        datasets = DEFAULT_DATASETS if tasks == "standard" else "all"
    try:
        cells = plan_cells(cat, models, datasets, tasks, preset, seed)
    except KeyError as exc:
        ui.err_console.print(f"[red]error:[/red] {exc.args[0]}")
        raise typer.Exit(2)
    if not cells:
        ui.err_console.print("[red]error:[/red] nothing to run: no installed model matches (see `egbench plugins`)")
        raise typer.Exit(2)
    store = Store(out)
    with ui.RunProgress(len(cells)) as progress:
        summary = run_cells(cells, cat, store, sys.argv, progress, retry_failed=retry_failed)
    _show_leaderboard(leaderboard(store, columns=TABLES["static"]), "static errors and cost")
    sim = leaderboard(store, columns=TABLES["stability"] + TABLES["structure"][:2] + TABLES["dynamics"])
    _show_leaderboard(sim, "forward MD", not_run=False)
    ui.console.print(f"run {summary.run_id}: {summary.done} computed, {summary.cached} cached, "
                     f"{summary.failed} failed, {summary.skipped} skipped — results in {store.root}")
    if summary.failed:
        raise typer.Exit(1)


def _show_leaderboard(lb, title: str, not_run: bool = True) -> None:
    if lb.rows:
        ui.table(f"egbench leaderboard: {title}", lb.headers, lb.rows,
                 caption="n/a: not applicable (see docs/metrics.md); costs measured on this machine")
    if lb.not_run and not_run:
        ui.table("cells not run", ["model", "dataset", "task", "status", "reason"], lb.not_run)


@app.command()
def report(
    out: Path = typer.Option(Path("egbench-results"), help="results folder"),
    format: str = typer.Option("table", "--format", help="table | markdown | csv"),
    table: str = typer.Option("static", help="static (paper Table 1) | structure (Table 2) | dynamics (Table 3) | stability"),
    task: Optional[str] = typer.Option(None, help="only this task"),
    plots: bool = typer.Option(False, help="also write PNG plots (RDF, EV/FV over time, survival) under OUT/plots"),
) -> None:
    """Leaderboard (models × datasets) from the results store, laid out like the paper's tables."""
    from .report import TABLES, leaderboard, to_csv, to_markdown
    from .store import Store

    if not (out / "egbench.sqlite").exists():
        ui.err_console.print(f"[red]error:[/red] no results store in {out} (run `egbench run --out {out}` first)")
        raise typer.Exit(2)
    if table not in TABLES:
        ui.err_console.print(f"[red]error:[/red] unknown table {table!r}: use {', '.join(TABLES)}")
        raise typer.Exit(2)
    store = Store(out)
    lb = leaderboard(store, task, columns=TABLES[table])
    if plots:
        from .plots import make_plots

        for path in make_plots(store):
            ui.console.print(f"plot: {path}")
    if format == "table":
        _show_leaderboard(lb, table)
    elif format == "markdown":
        ui.console.print(to_markdown(lb), markup=False, highlight=False, soft_wrap=True)
    elif format == "csv":
        ui.console.print(to_csv(lb), markup=False, highlight=False, soft_wrap=True, end="")
    else:
        ui.err_console.print(f"[red]error:[/red] unknown format {format!r}: use table, markdown or csv")
        raise typer.Exit(2)


@list_app.command("models")
def list_models() -> None:
    cat = _catalog()
    rows = [[s.name, ", ".join(sorted(s.presets)), "yes" if s.capabilities.periodic else "no", s.licence, s.plugin,
             s.description] for s in cat.models.values()]
    ui.table("models", ["id", "presets", "periodic", "licence", "plugin", "description"], rows)


@list_app.command("datasets")
def list_datasets() -> None:
    from ase.data import chemical_symbols  # noqa: F401  (symbols are stored already)

    cat = _catalog()
    rows = []
    for d in cat.datasets.values():
        splits = " / ".join(f"{s}:{i.frames if i.frames is not None else '?'}" for s, i in d.splits.items())
        try:
            why = d.unavailable_reason()
        except Exception as exc:  # noqa: BLE001
            why = str(exc)
        rows.append([d.name, splits, " ".join(d.elements), "yes" if d.periodic else "no", d.licence,
                     "yes" if not why else f"no ({why})"])
    ui.table("datasets", ["id", "frames per split", "elements", "periodic", "licence", "local"], rows)


@list_app.command("tasks")
def list_tasks() -> None:
    cat = _catalog()
    ui.table("tasks", ["id", "family", "version", "plugin", "description"],
             [[t.name, t.family, t.version, t.plugin, t.description] for t in cat.tasks.values()])


@list_app.command("metrics")
def list_metrics() -> None:
    cat = _catalog()
    ui.table("metrics", ["id", "unit", "version", "better", "plugin", "description"],
             [[m.name, m.unit, m.version, "higher" if m.higher_is_better else "lower", m.plugin, m.description]
              for m in cat.metrics.values()])


@app.command()
def plugins() -> None:
    """Installed plugins, what each provides, and broken ones with their error."""
    cat = _catalog()
    rows = []
    for p in cat.plugins.values():
        status = Text("ok", style="green") if p.status == "ok" else Text("broken", style="red")
        rows.append([p.name, p.origin, status, ", ".join(p.provides) if p.status == "ok" else p.error])
    ui.table("plugins", ["plugin", "from", "status", "provides / error"], rows)


@app.command()
def fetch(dataset: str = typer.Argument(..., help="dataset id, or 'all'")) -> None:
    """Fetch and verify a dataset's files (cache: EGBENCH_DATA_DIR; offline mirror: EGBENCH_DATA_MIRROR)."""
    from .registry import ChecksumError, DataUnavailableError

    cat = _catalog()
    names = sorted(cat.datasets) if dataset == "all" else [dataset]
    failed = False
    for name in names:
        if name not in cat.datasets:
            ui.err_console.print(f"[red]error:[/red] no dataset {name!r}; installed: {', '.join(sorted(cat.datasets))}")
            raise typer.Exit(2)
        ds = cat.datasets[name]
        try:
            for split in ds.splits:
                frames = ds.load(split)
                ui.console.print(f"{name}/{split}: {len(frames)} frames verified")
        except (ChecksumError, DataUnavailableError) as exc:
            ui.err_console.print(f"[red]error:[/red] {exc}")
            failed = True
    if failed:
        raise typer.Exit(1)


@env_app.command("create")
def env_create(
    name: str = typer.Argument(..., help="environment id, e.g. 'nequip'"),
    packages: list[str] = typer.Argument(None, help="plugin folders, bundled plugin names or PyPI requirements "
                                                    "(default: egbench-model-NAME)"),
) -> None:
    """Create (or re-create) an environment and install the packages into it."""
    from .envs import EnvironmentError_, create_env

    packages = packages or [f"egbench-model-{name}"]
    ui.console.print(f"creating environment {name} with {', '.join(packages)} …")
    try:
        env = create_env(name, packages, on_output=lambda line: ui.err_console.print(line, markup=False, highlight=False))
    except EnvironmentError_ as exc:
        ui.err_console.print(f"[red]error:[/red] {exc}", markup=False)
        raise typer.Exit(1)
    ui.console.print(f"environment {name} at {env.path}: models {', '.join(m['name'] for m in env.models) or 'none'}")


@env_app.command("list")
def env_list() -> None:
    """Environments and the models each provides."""
    from .envs import envs_dir, list_envs

    rows = [[e.name, ", ".join(m["name"] for m in e.models), "yes" if e.python.exists() else "no (recreate it)",
             " ".join(e.packages), e.created] for e in list_envs()]
    ui.table(f"environments in {envs_dir()}", ["id", "models", "usable", "packages", "created"], rows)


@env_app.command("remove")
def env_remove(name: str) -> None:
    from .envs import EnvironmentError_, remove_env

    try:
        remove_env(name)
    except EnvironmentError_ as exc:
        ui.err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    ui.console.print(f"removed environment {name}")


def main() -> None:
    from .plugins import catalog

    try:
        cat = catalog()
        pm = getattr(cat, "_pm", None)
        if pm is not None:
            pm.hook.register_commands(app=app)
    except Exception as exc:  # noqa: BLE001 - commands from a broken plugin must not stop the CLI
        ui.err_console.print(f"[yellow]warning:[/yellow] plugin commands not loaded: {exc}")
    app()


if __name__ == "__main__":
    main()
