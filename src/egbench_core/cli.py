"""``egbench`` command line (typer). Output goes through console.py only."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import NoReturn

import typer
from rich.text import Text

from egbench_core import console as ui

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark machine-learned interatomic potentials: static errors and forward MD.",
)
list_app = typer.Typer(no_args_is_help=True, help="List installed models, datasets, tasks or metrics.")
app.add_typer(list_app, name="list")
env_app = typer.Typer(no_args_is_help=True, help="Separate environments for model plugins whose dependencies conflict.")
app.add_typer(env_app, name="env")

DEFAULT_DATASETS = "acac"  # the embedded default: works offline on a fresh machine
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
REPORT_FORMATS = ("table", "markdown", "csv", "json", "html")
_VERBOSE = {"level": 0}


@app.callback()
def _main(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="-v info (and tracebacks of user errors), -vv debug logging"
    ),
) -> None:
    _VERBOSE["level"] = verbose
    ui.setup_logging(verbose)


def _catalog():
    from egbench_core.data.registry import RegistryError
    from egbench_core.plugins import catalog

    try:
        return catalog()
    except RegistryError as exc:  # a registry file that cannot be read (EGBENCH_REGISTRY): one line, exit 2
        raise _fail(str(exc)) from exc


def _error(message: str) -> None:
    """One line on stderr, whitespace folded; with -v the traceback of the error being handled first."""
    if _VERBOSE["level"] > 0 and sys.exc_info()[0] is not None:
        ui.err_console.print(traceback.format_exc(), markup=False, highlight=False, soft_wrap=True, end="")
    ui.err_console.print(
        Text.assemble(("error:", "red"), " ", " ".join(str(message).split())), highlight=False, soft_wrap=True
    )


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Say ``message`` (see :func:`_error`) and return the exit to raise."""
    _error(message)
    return typer.Exit(code)


def _user_error_types() -> tuple[type[BaseException], ...]:
    from egbench_core.data.readers import MalformedDataError
    from egbench_core.data.registry import ChecksumError, DataCacheError, DataUnavailableError, RegistryError
    from egbench_core.store import StoreError

    return (StoreError, RegistryError, ChecksumError, DataUnavailableError, DataCacheError, MalformedDataError)


def _on_signal(signum, frame) -> None:
    """SIGINT and SIGTERM during a run: the cells in flight are recorded as interrupted. Installed
    explicitly, so Ctrl-C works even where the shell started egbench with SIGINT ignored."""
    import signal

    from egbench_core.run.runner import Interrupted

    raise Interrupted(signal.Signals(signum).name)


_SIGNALLED = {"phase": "start-up", "signal": ""}  # where main() is; the signal its handler caught


class _Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM outside a run's cells (``signal`` names which)."""

    def __init__(self, signal: str):
        super().__init__(signal)
        self.signal = signal


def _on_signal_outside_run(signum, frame) -> None:
    """SIGINT and SIGTERM from the first line of :func:`main`: start-up (plugins loading), planning,
    reports. Without it Ctrl-C during start-up is a traceback and SIGTERM ends the process silently."""
    import signal

    _SIGNALLED["signal"] = signal.Signals(signum).name
    raise _Stopped(_SIGNALLED["signal"])


def _interrupted(name: str) -> NoReturn:
    """One line saying which signal stopped egbench (and that nothing ran, during start-up); exit
    128 + its number. A second signal meanwhile ends the process at once."""
    import signal

    number = signal.Signals[name]
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    where = " during start-up; nothing was run" if _SIGNALLED["phase"] == "start-up" else ""
    ui.err_console.print(
        Text.assemble(("interrupted", "yellow"), f" by {name}{where}"), highlight=False, soft_wrap=True
    )
    sys.exit(128 + int(number))


@app.command()
def run(
    models: str = typer.Option(
        "all",
        help="'all' or comma-separated model ids; an ASE calculator as "
        "'ase:module:Class?key=value' (not trained; docs/guide.md)",
    ),
    datasets: str = typer.Option(
        DEFAULT_DATASETS,
        help="'all' or comma-separated dataset ids; the embedded 'acac' whatever --tasks says "
        "(a task acac has no split for, e.g. ood-crystal, needs --datasets)",
    ),
    tasks: str = typer.Option("standard", help="comma-separated task ids or families (e.g. 'ood'), or 'all'"),
    preset: str = typer.Option("quick", help="smoke | quick | paper"),
    seed: int = typer.Option(
        0,
        help="training seed: weight initialisation, batch order, MD velocities and "
        "thermostat noise (stored with the results; splits are fixed per dataset)",
    ),
    seeds: str | None = typer.Option(
        None,
        help="several training seeds, e.g. 0,1,2: every cell once per seed; the "
        "report shows mean ± std over seeds and how stable the ranking is",
    ),
    out: Path = typer.Option(Path("egbench-results"), help="results folder (SQLite store + artifacts)"),
    retry_failed: bool = typer.Option(True, help="re-run cells that failed before"),
    threads: int = typer.Option(
        1,
        envvar="EGBENCH_THREADS",
        help="torch threads (recorded with every timing). 1 by default: the benchmark's graphs "
        "are small, and on a shared machine extra threads cost far more than they give",
    ),
    device: str = typer.Option(
        "auto",
        help="auto (CUDA when available) | cpu | cuda | cuda:N: training, prediction "
        "and MD run there; the device is part of every cell key",
    ),
    dtype: str | None = typer.Option(None, help="float32 | float64 (default: each model preset's)"),
    md_engine: str = typer.Option(
        "batched",
        help="batched (all replicas of a cell as one batch) | ase (one replica "
        "at a time through ASE's Langevin: the reference path)",
    ),
    oracle: str = typer.Option(
        "auto",
        help="dft: label each replica's frames with the dataset's (expensive, "
        "calibrated) oracle | none | auto: the preset's choice (on for paper); "
        "exact oracles of synthetic sets always run",
    ),
    executor: str = typer.Option(
        "local",
        help="local (this process) | dask (--workers N or --scheduler ADDRESS) | "
        "slurm ([executor.slurm] in egbench.toml or --config)",
    ),
    workers: int | None = typer.Option(None, help="--executor dask: worker processes of a cluster on this machine"),
    scheduler: str | None = typer.Option(None, help="--executor dask: address of an existing Dask scheduler"),
    config: Path | None = typer.Option(None, help="config file with [executor.slurm] (default: ./egbench.toml)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="--executor slurm: print the job script and exit"),
) -> None:
    """Train, evaluate and simulate every selected model × dataset × task; resume what is done."""
    seed_list, execution, cluster_config = _run_settings(
        threads, seed, seeds, preset, device, dtype, md_engine, oracle, executor, workers, scheduler, config
    )
    if dry_run:
        _print_job_script(executor, cluster_config, threads)
        return
    from egbench_core.store import Store, StoreFull

    cat = _catalog()
    cells = _plan_run(cat, models, datasets, tasks, preset, seed_list, execution)
    try:
        store = Store(out)
    except _user_error_types() as exc:
        raise _fail(str(exc), EXIT_FAILED if isinstance(exc, StoreFull) else EXIT_USAGE) from exc
    summary = _run_planned(
        cells, cat, store, executor, workers, scheduler, cluster_config, threads, models, retry_failed, execution
    )
    _show_run(store, summary, tasks_run={c.task for c in cells}, metrics=cat.metrics.values())
    if summary.failed or summary.failed_kept or summary.infra_failed:
        raise typer.Exit(EXIT_FAILED)


_ORACLE_SETTINGS = {"auto": "auto", "dft": "on", "on": "on", "none": "off", "off": "off"}  # --oracle -> Execution


def _run_settings(
    threads: int,
    seed: int,
    seeds: str | None,
    preset: str,
    device: str,
    dtype: str | None,
    md_engine: str,
    oracle: str,
    executor: str,
    workers: int | None,
    scheduler: str | None,
    config: Path | None,
):
    """``run``'s options checked in order (a bad one: one line, exit 2): the seeds, how every cell
    executes (:class:`~egbench_core.cell.Execution`) and the cluster's config (``{}`` without one)."""
    from egbench_core.cell import Execution
    from egbench_core.md.ase_engine import MD_ENGINES
    from egbench_core.run.devices import DeviceError, check_dtype, resolve_device
    from egbench_core.run.executors import ExecutorConfigError, check_options, load_config
    from egbench_core.run.protocol import PROTOCOL_PRESETS
    from egbench_core.run.runner import parse_seeds

    if threads < 1:
        raise _fail(f"--threads {threads}: expected a positive number of torch threads (e.g. 1)")
    if seed < 0:
        raise _fail(f"--seed {seed}: expected a non-negative integer")
    if preset not in PROTOCOL_PRESETS:
        raise _fail(f"--preset {preset!r}: expected one of {', '.join(PROTOCOL_PRESETS)}")
    try:
        check_options(executor, workers, scheduler)
        seed_list = parse_seeds(seeds) if seeds is not None else [seed]
        if md_engine not in MD_ENGINES:
            raise ValueError(f"--md-engine {md_engine!r}: expected {' or '.join(MD_ENGINES)}")
        oracle_setting = _ORACLE_SETTINGS.get(oracle)
        if oracle_setting is None:
            raise ValueError(f"--oracle {oracle!r}: expected dft, none or auto")
        execution = Execution(
            threads=threads,
            device=resolve_device(device),
            dtype=check_dtype(dtype),
            md_engine=md_engine,
            oracle=oracle_setting,
        )
        cluster_config = load_config(config) if executor == "slurm" or config is not None else {}
    except (ValueError, DeviceError, ExecutorConfigError) as exc:
        raise _fail(str(exc)) from exc
    return seed_list, execution, cluster_config


def _print_job_script(executor: str, cluster_config, threads: int) -> None:
    """``--dry-run``: print the SLURM job script (``--executor slurm`` only)."""
    from egbench_core.run.devices import DeviceError
    from egbench_core.run.executors import ExecutorConfigError, slurm_cluster

    try:
        if executor != "slurm":
            raise ExecutorConfigError("--dry-run prints the SLURM job script: it needs --executor slurm")
        cluster = slurm_cluster(cluster_config, threads)[0]
        ui.console.print(cluster.job_script(), markup=False, highlight=False, soft_wrap=True)
        cluster.close()
    except (ValueError, DeviceError, ExecutorConfigError) as exc:
        raise _fail(str(exc)) from exc


def _plan_run(cat, models: str, datasets: str, tasks: str, preset: str, seed_list: list[int], execution):
    """The cells to run (none: one line, exit 2), with a warning for each broken plugin that
    ``all`` would have included."""
    from egbench_core.run.runner import plan_cells

    try:
        cells = plan_cells(
            cat,
            models,
            datasets,
            tasks,
            preset,
            seeds=seed_list,
            device=execution.device,
            dtype=execution.dtype,
            md_engine=execution.md_engine,
            oracle=execution.oracle,
        )
    except (KeyError, ValueError) as exc:
        raise _fail(str(exc.args[0]) if exc.args else str(exc)) from exc
    if not cells:
        raise _fail("nothing to run: no installed model matches (see `egbench plugins`)")
    for what, why in sorted(cat.problems.items()):  # what `all` would have included
        ui.err_console.print(
            Text.assemble(("warning: ", "yellow"), f"{what.replace(':', ' ')} is broken and not run: {why}"),
            highlight=False,
            soft_wrap=True,
        )
    return cells


def _run_planned(
    cells,
    cat,
    store,
    executor: str,
    workers,
    scheduler,
    cluster_config,
    threads: int,
    models: str,
    retry_failed,
    execution,
):
    """Run ``cells`` on the chosen executor, with the progress display; SIGINT and SIGTERM record the
    cells in flight as interrupted (exit 130); a damaged store exits 2, a full disk 1."""
    import signal

    import torch

    from egbench_core.run.executors import ExecutorConfigError, make_executor
    from egbench_core.run.runner import run_cells
    from egbench_core.store import StoreError, StoreFull

    torch.set_num_threads(threads)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        runner = make_executor(executor, cat, workers, scheduler, cluster_config, threads, warm_models=models)
    except ExecutorConfigError as exc:
        raise _fail(str(exc)) from exc
    try:
        with ui.RunProgress(len(cells), _VERBOSE["level"]) as progress:
            return run_cells(
                cells, cat, store, sys.argv, progress, retry_failed=retry_failed, executor=runner, execution=execution
            )
    except KeyboardInterrupt as exc:
        what = getattr(exc, "signal", "SIGINT")
        ui.err_console.print(
            f"[yellow]interrupted by {what}[/yellow]: the cells in progress are recorded as "
            f"interrupted and will be recomputed; finished cells are kept in {store.root}"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from exc
    except StoreError as exc:  # a damaged store (exit 2), a full disk (exit 1; the cells in flight are released)
        raise _fail(str(exc), EXIT_FAILED if isinstance(exc, StoreFull) else EXIT_USAGE) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runner.close()


def _show_run(store, summary, tasks_run: set[str], metrics) -> None:
    from egbench_core.report.leaderboard import TABLES, leaderboard, metric_tables

    tables = metric_tables(metrics)  # the columns of every installed metric, built-in and plugin
    static = leaderboard(store, columns=tables["static"], train_frames=True)
    _show_leaderboard(static, "static errors and cost", not_run=False)
    structure = tuple(c for c in tables["structure"] if c not in TABLES["structure"][2:])  # not WF no sqrt
    sim = leaderboard(store, columns=tables["stability"] + structure + tables["dynamics"])
    _show_leaderboard(sim, "forward MD", not_run=False, notes=False)
    _show_calibrations(store)
    for line in summary.recomputed:
        ui.err_console.print(f"[yellow]recomputed[/yellow] {line}", markup=True, highlight=False)
    _show_not_run(sim)
    parts = [f"{summary.done} computed", f"{summary.cached} cached", f"{summary.failed} failed"]
    if summary.infra_failed:
        parts.append(f"{summary.infra_failed} lost to infrastructure (Dask worker died twice)")
    if summary.failed_kept:
        parts.append(f"{summary.failed_kept} failed earlier (kept: --no-retry-failed)")
    if summary.busy:
        parts.append(f"{summary.busy} running in another process")
    parts.append(f"{summary.skipped} skipped")
    ui.console.print(f"run {summary.run_id}: {', '.join(parts)} — results in {store.root}")
    if summary.stages is not None and summary.stages.counts:
        from egbench_core.stages.runner import summary_line

        ui.console.print(f"stages: {summary_line(summary.stages.counts)}", markup=False, highlight=False)
    ui.console.print(
        f"HTML report (leaderboards, OOD, plots per dataset, provenance): egbench report --out "
        f"{store.root} --format html  → {store.root / 'report' / 'index.html'}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _show_not_run(lb) -> None:
    """The cells not run, one line per reason with its count (``-v``: and each cell)."""
    from egbench_core.report.not_run import group_not_run

    ui.not_run_summary(group_not_run(lb.not_run), _VERBOSE["level"])


def _show_calibrations(store) -> None:
    from egbench_core.report.leaderboard import oracle_calibrations

    headers, rows = oracle_calibrations(store)
    if rows:
        ui.table("oracle calibration (on the dataset's test frames, against its labels)", headers, rows)


def _show_leaderboard(lb, title: str, not_run: bool = True, notes: bool = True) -> None:
    from egbench_core.report.leaderboard import MODE_TITLES, grouped_rows

    if lb.rows:
        caption = "n/a: not applicable (see docs/metrics.md); error: the metric failed; costs measured on this machine"
        caption += "".join(f"\n{m} {meaning}" for m, meaning in lb.marks.items())
        sections = grouped_rows(lb)
        if len(sections) > 1:  # from-scratch / zero-shot / fine-tuned, each under its title
            caption += "".join(f"\n{mode}: {MODE_TITLES[mode]}" for mode, _ in sections)
        ui.leaderboard(f"egbench leaderboard: {title}", lb, caption, sections if len(sections) > 1 else None)
        if lb.errors:
            ui.table("metric errors", ["model", "dataset", "task", "column", "reason"], lb.errors)
    if notes:
        for note in lb.notes:
            ui.err_console.print(f"[yellow]warning:[/yellow] {note}", markup=True, highlight=False)
    if lb.not_run and not_run:
        _show_not_run(lb)


@app.command()
def score(
    out: Path = typer.Option(Path("egbench-results"), help="results folder (SQLite store + artifacts)"),
    threads: int = typer.Option(1, help="torch threads"),
) -> None:
    """Re-score the stored cells for metrics that are new or changed (a metric plugin installed,
    a metric's version or code changed), from their stored stages: no training, no MD."""
    import signal

    from egbench_core.report.leaderboard import latest_cells
    from egbench_core.run.rescore import plan_rescoring
    from egbench_core.run.runner import run_cells
    from egbench_core.store import Store, StoreError, StoreFull

    if threads < 1:
        raise _fail(f"--threads {threads}: expected a positive number of torch threads (e.g. 1)")
    cat = _catalog()
    try:
        if not (Path(out) / "egbench.sqlite").exists():
            raise StoreError(f"no results store in {out} (run `egbench run --out {out}` first)")
        store = Store(out)
        rows = [c for c in latest_cells(store)[0] if c.status == "done"]
        todo = plan_rescoring(cat, store, rows)
    except _user_error_types() as exc:
        raise _fail(str(exc), EXIT_FAILED if isinstance(exc, StoreFull) else EXIT_USAGE) from exc
    for label, why in todo.blocked:
        ui.err_console.print(f"[yellow]not re-scored[/yellow] {label}: {why}", highlight=False, soft_wrap=True)
    if not todo.cells:
        ui.console.print(
            f"nothing to re-score: {todo.current} cell(s) already scored with the installed metrics"
            + (f", {len(todo.blocked)} cannot be re-scored here (above)" if todo.blocked else ""),
            markup=False,
            highlight=False,
        )
        return
    import torch

    torch.set_num_threads(threads)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ui.RunProgress(len(todo.cells), _VERBOSE["level"]) as progress:
            summary = run_cells(todo.cells, cat, store, sys.argv, progress)
    except KeyboardInterrupt as exc:
        what = getattr(exc, "signal", "SIGINT")
        raise _fail(f"interrupted by {what}: the cells re-scored so far are kept", EXIT_INTERRUPTED) from exc
    except StoreError as exc:
        raise _fail(str(exc), EXIT_FAILED if isinstance(exc, StoreFull) else EXIT_USAGE) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for label, what in todo.changed.items():
        ui.console.print(f"re-scored {label}: {', '.join(what)}", markup=False, highlight=False, soft_wrap=True)
    line = f"score: {summary.done} cell(s) re-scored, {summary.failed} failed"
    if summary.stages is not None and summary.stages.counts:
        from egbench_core.stages.runner import summary_line

        line += f" — stages: {summary_line(summary.stages.counts)}"
    ui.console.print(line, markup=False, highlight=False)
    if summary.failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def report(
    out: Path = typer.Option(Path("egbench-results"), help="results folder (opened read-only)"),
    format: str = typer.Option(
        "table",
        "--format",
        help="table | markdown | csv | json (one record per cell and "
        "metric, with units: docs/guide.md) | html (a folder of "
        "pages with sortable leaderboards and plots; --out-dir)",
    ),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="--format html: the folder to write (default: OUT/report)"
    ),
    skipped: bool = typer.Option(
        False, "--skipped", help="list every cell not run (failed, skipped, ...) with its reason"
    ),
    table: str = typer.Option(
        "static", help="static (paper Table 1) | structure (Table 2) | dynamics (Table 3) | stability"
    ),
    task: str | None = typer.Option(None, help="only this task"),
    plots: bool = typer.Option(False, help="also write PNG plots (RDF, EV/FV over time, survival) under OUT/plots"),
    provenance: bool = typer.Option(
        False,
        "--provenance",
        help="show, per run, the code (core and plugins: version, source hash), the libraries and the machine",
    ),
    compare: str | None = typer.Option(
        None,
        "--compare",
        help="paper: the EGraFFBench article's published value beside egbench's, same model × dataset × metric",
    ),
) -> None:
    """Leaderboard (models × datasets) from the results store, laid out like the paper's tables."""
    _check_report_options(format, table, compare, out_dir)
    store = _open_report_store(out, task)
    if provenance:
        _report_provenance(store)
    elif skipped:
        _report_skipped(store, task)
    elif format == "json":
        from egbench_core.report.as_json import to_json

        ui.raw(to_json(store, task))
    elif format == "html":
        from egbench_core.report.leaderboard import metric_tables

        _write_html(store, out_dir or store.root / "report", task, metric_tables(_catalog().metrics.values()))
    else:
        if plots:
            _write_plots(store, out)
        if compare is not None:
            _report_compare(store, compare, format, table, task)
        else:
            _report_leaderboard(store, format, table, task)


def _check_report_options(format: str, table: str, compare: str | None, out_dir: Path | None) -> None:
    """``report``'s options that cannot go together, or name nothing: one line, exit 2."""
    from egbench_core.report.compare import SOURCES
    from egbench_core.report.leaderboard import TABLES

    if table not in TABLES:
        raise _fail(f"--table {table!r}: expected one of {', '.join(TABLES)}")
    if format not in REPORT_FORMATS:
        raise _fail(f"--format {format!r}: expected {', '.join(REPORT_FORMATS[:-1])} or {REPORT_FORMATS[-1]}")
    if compare is not None and compare not in SOURCES:
        raise _fail(f"--compare {compare!r}: expected {', '.join(SOURCES)}")
    if compare is not None and format in ("json", "html"):
        raise _fail(
            f"--compare with --format {format}: --compare is for table, markdown and csv (the HTML report "
            "always shows the paper's values where they pair)"
        )
    if out_dir is not None and format != "html":
        raise _fail(f"--out-dir {out_dir}: --out-dir is for --format html")


def _open_report_store(out: Path, task: str | None):
    """The store in ``out``, read-only; ``--task`` must name a task it has cells of."""
    from egbench_core.report.leaderboard import tasks_in
    from egbench_core.store import Store, StoreError

    try:
        store = Store.open_readonly(out)
    except StoreError as exc:
        raise _fail(str(exc)) from exc
    if task is not None and task not in tasks_in(store):
        raise _fail(
            f"--task {task!r}: the store in {out} has no cells of that task; it has "
            f"{', '.join(tasks_in(store)) or 'none'}"
        )
    return store


def _report_provenance(store) -> None:
    """``--provenance``: per run, the code, the libraries and the machine."""
    from egbench_core.report.leaderboard import provenance_tables

    for title, headers, rows in provenance_tables(store):
        ui.table(title, headers, rows)


def _report_skipped(store, task: str | None) -> None:
    """``--skipped``: every cell not run, with its reason."""
    from egbench_core.report.leaderboard import leaderboard

    rows = leaderboard(store, task, columns=(), verify=False).not_run
    if rows:
        ui.table("cells not run", ["model", "dataset", "task", "status", "reason"], rows)
    else:
        ui.console.print("every cell in the store is done")


def _write_plots(store, out: Path) -> None:
    """``--plots``: PNG plots under OUT/plots, each path printed."""
    from egbench_core.report.plots import make_plots

    try:
        for path in make_plots(store):
            ui.console.print(f"plot: {path}")
    except OSError as exc:
        raise _fail(f"cannot write plots under {out / 'plots'}: {exc.strerror or exc}") from exc


def _report_compare(store, source: str, format: str, table: str, task: str | None) -> None:
    """``--compare``: egbench's columns, each followed by the source's value (report/compare.py), as
    ``format`` (table, markdown or csv)."""
    from egbench_core.report.compare import compare as compare_with
    from egbench_core.report.compare import table_view
    from egbench_core.report.compare import to_csv as cmp_csv
    from egbench_core.report.compare import to_markdown as cmp_markdown

    cmp = compare_with(store, source, table, task)
    if format == "csv":  # stdout stays one csv table; the legend and warnings go to stderr
        ui.raw(cmp_csv(cmp))
        for line in cmp.legend + [f"warning: {n}" for n in cmp.notes]:
            ui.err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    if format == "markdown":
        ui.raw(cmp_markdown(cmp))
        return
    if cmp.rows:
        ui.table(cmp.title, *table_view(cmp), caption="\n".join(cmp.legend))
    if cmp.errors:
        ui.table(
            "metric errors",
            ["model", "dataset", "task", "column", "reason"],
            [[*k, v] for k, v in cmp.errors.items()],
        )
    for note in cmp.notes:
        ui.err_console.print(f"[yellow]warning:[/yellow] {note}", markup=True, highlight=False)


def _report_leaderboard(store, format: str, table: str, task: str | None) -> None:
    """The leaderboard of ``--table`` as ``format`` (table, markdown or csv), with the ranking's
    stability across seeds (table and markdown)."""
    from egbench_core.report.leaderboard import (
        leaderboard,
        metric_tables,
        rank_markdown,
        rank_stability,
        to_csv,
        to_markdown,
    )

    tables = metric_tables(_catalog().metrics.values())  # the columns of every installed metric, plugins' too
    lb = leaderboard(store, task, columns=tables[table], train_frames=table == "static")
    if format == "table":
        _show_leaderboard(lb, table)
        if table == "dynamics":
            _show_calibrations(store)
        headers, rows = rank_stability(store, task)
        if rows:
            ui.table("ranking stability across seeds", headers, rows)
    elif format == "markdown":
        ui.raw(to_markdown(lb) + rank_markdown(*rank_stability(store, task)))
    else:
        ui.raw(to_csv(lb))


def _write_html(store, out_dir: Path, task: str | None, tables) -> None:
    try:
        from egbench_core.report.html.write import ReportFolderError, write_report
    except ImportError as exc:  # plotly is a core dependency; an environment may still lack it
        raise _fail(f"--format html needs the plotly package ({exc}): pip install 'plotly>=5.20'", EXIT_FAILED) from exc
    try:
        index = write_report(store, out_dir, task, tables)
    except ReportFolderError as exc:
        raise _fail(str(exc)) from exc
    except OSError as exc:
        raise _fail(
            f"--out-dir {out_dir}: cannot write the HTML report there ({exc.strerror or exc}); name another "
            "folder with --out-dir"
        ) from exc
    ui.console.print(
        f"HTML report: {index} (open {index.resolve().as_uri()} in a browser; the folder works offline)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@list_app.command("models")
def list_models() -> None:
    cat = _catalog()
    rows = [
        [
            s.name,
            s.mode,
            ", ".join(sorted(s.presets)),
            "yes" if s.capabilities.periodic else "no",
            s.licence,
            s.plugin,
            s.description,
        ]
        for s in cat.models.values()
    ]
    ui.table("models", ["id", "training", "presets", "periodic", "licence", "plugin", "description"], rows)


@list_app.command("datasets")
def list_datasets() -> None:
    cat = _catalog()
    rows = []
    for d in cat.datasets.values():
        splits = " / ".join(f"{s}:{i.frames if i.frames is not None else '?'}" for s, i in d.splits.items())
        try:
            why = d.unavailable_reason()
        except Exception as exc:  # noqa: BLE001
            why = str(exc)
        rows.append(
            [
                d.name,
                splits,
                " ".join(d.elements),
                "yes" if d.periodic else "no",
                d.licence,
                "yes" if not why else f"no ({why})",
            ]
        )
    for what, why in sorted(cat.problems.items()):
        if what.startswith("dataset:"):
            rows.append([what.split(":", 1)[1], "", "", "", "", f"broken: {why}"])
    ui.table("datasets", ["id", "frames per split", "elements", "periodic", "licence", "local"], rows)


@list_app.command("tasks")
def list_tasks() -> None:
    cat = _catalog()
    ui.table(
        "tasks",
        ["id", "family", "version", "plugin", "description"],
        [[t.name, t.family, t.version, t.plugin, t.description] for t in cat.tasks.values()],
    )


@list_app.command("metrics")
def list_metrics() -> None:
    """One row per value a metric declares: its id, unit and which direction is better, and how the
    metric watches the MD (adding or changing it: "every step" simulates again, "saved frames"
    replays the stored frames, otherwise re-scores only)."""
    cat = _catalog()

    def watches(m) -> str:
        if m.observer is None:
            return ""
        return "saved frames" if m.observer.saved_frames_only else "every step"

    ui.table(
        "metrics",
        ["metric", "value", "unit", "better", "version", "plugin", "watches MD", "description"],
        [
            [m.name, v.id, v.unit, v.better, m.version, m.plugin, watches(m), v.description]
            for m in cat.metrics.values()
            for v in m.values
        ],
    )


@app.command()
def plugins(
    as_json: bool = typer.Option(
        False,
        "--json",
        help="print JSON instead: per plugin its name, distribution, version, status, reason and the ids it "
        "registers per kind (models, datasets, oracles, tasks, metrics); the broken entries",
    ),
) -> None:
    """Installed plugins, what each provides, and broken ones with their error."""
    cat = _catalog()
    if as_json:
        import json

        from egbench_core.plugins import plugins_document

        ui.raw(json.dumps(plugins_document(cat), indent=1, ensure_ascii=False))
        return
    rows = []
    for p in cat.plugins.values():
        status = Text("ok", style="green") if p.status == "ok" else Text("broken", style="red")
        rows.append([p.name, p.origin, status, ", ".join(p.provides) if p.status == "ok" else p.error])
    for what, why in sorted(cat.problems.items()):  # one entry a plugin could not make
        rows.append([what, "", Text("broken", style="red"), why])
    ui.table("plugins", ["plugin", "from", "status", "provides / error"], rows)


@app.command()
def fetch(dataset: str = typer.Argument(..., help="dataset id, or 'all'")) -> None:
    """Fetch and verify a dataset's files, or generate / verify a synthetic one (cache: EGBENCH_DATA_DIR;
    offline mirrors: EGBENCH_DATA_MIRROR). Errors: one line each, exit code 2; -v adds the traceback."""
    from ase.data import chemical_symbols

    error = _error
    cat = _catalog()
    broken = {k.split(":", 1)[1]: why for k, why in cat.problems.items() if k.startswith("dataset:")}
    if dataset != "all" and dataset not in cat.datasets:
        if dataset in broken:
            error(f"dataset {dataset!r} is broken: {broken[dataset]}")
        else:
            error(f"no dataset {dataset!r}: expected 'all' or one of {', '.join(sorted(cat.datasets))}")
        raise typer.Exit(2)
    failed = False
    if dataset == "all":
        for name, why in sorted(broken.items()):
            error(f"dataset {name!r} is broken: {why}")
            failed = True
    for name in sorted(cat.datasets) if dataset == "all" else [dataset]:
        ds = cat.datasets[name]
        try:
            if hasattr(ds, "ensure_cache"):  # generated: say whether it was generated, verified or regenerated
                ui.console.print(f"{name}: {ds.ensure_cache()}", markup=False, highlight=False, soft_wrap=True)
            for split in ds.splits:
                frames = ds.load(split)
                ui.console.print(f"{name}/{split}: {len(frames)} frames verified", markup=False, highlight=False)
            e0 = ds.isolated_atom_energies()
            if e0:
                shown = ", ".join(f"{chemical_symbols[z]} {e:.6f}" for z, e in sorted(e0.items()))
                ui.console.print(
                    f"{name}: isolated-atom energies verified (eV): {shown}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
        except _user_error_types() as exc:
            error(str(exc))
            failed = True
        except Exception as exc:  # noqa: BLE001 - one line, not a traceback (egbench -v shows it)
            error(f"{name}: {type(exc).__name__}: {exc} (run `egbench -v fetch {name}` for the traceback)")
            failed = True
    if failed:
        raise typer.Exit(2)


@env_app.command("create")
def env_create(
    name: str = typer.Argument(..., help="environment id, e.g. 'nequip'"),
    packages: list[str] = typer.Argument(
        None, help="plugin folders, bundled plugin names or PyPI requirements (default: egbench-model-NAME)"
    ),
) -> None:
    """Create (or re-create) an environment and install the packages into it."""
    from egbench_core.envs.manage import EnvironmentError_, create_env
    from egbench_core.interfaces import check_id

    try:
        check_id("environment", name)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    packages = packages or [f"egbench-model-{name}"]
    ui.console.print(f"creating environment {name} with {', '.join(packages)} …")
    try:
        env = create_env(
            name, packages, on_output=lambda line: ui.err_console.print(line, markup=False, highlight=False)
        )
    except EnvironmentError_ as exc:  # pip's own output (above) says why; this is the summary line
        raise _fail(str(exc).splitlines()[0], EXIT_FAILED) from exc
    ui.console.print(f"environment {name} at {env.path}: models {', '.join(m['name'] for m in env.models) or 'none'}")


@env_app.command("list")
def env_list() -> None:
    """Environments and the models each provides."""
    from egbench_core.envs.manage import envs_dir, list_envs

    rows = [
        [
            e.name,
            ", ".join(m["name"] for m in e.models),
            "yes" if e.python.exists() else "no (recreate it)",
            " ".join(e.packages),
            e.created,
        ]
        for e in list_envs()
    ]
    ui.table(f"environments in {envs_dir()}", ["id", "models", "usable", "packages", "created"], rows)


@env_app.command("remove")
def env_remove(name: str) -> None:
    from egbench_core.envs.manage import EnvironmentError_, remove_env

    try:
        remove_env(name)
    except EnvironmentError_ as exc:
        raise _fail(str(exc)) from exc
    ui.console.print(f"removed environment {name}")


def main() -> None:
    """The ``egbench`` entry point. SIGINT and SIGTERM are handled from its first line on (loading the
    plugins takes a moment; only commands that train, predict or simulate import torch): one line and
    exit 128 + the signal's number (130, 143); a run replaces the handlers while its cells are in
    flight (:func:`run`)."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal_outside_run)
    try:
        code = _start_and_dispatch()
    except KeyboardInterrupt as exc:
        _interrupted(getattr(exc, "signal", "SIGINT"))
    if code == EXIT_INTERRUPTED and _SIGNALLED["signal"]:  # typer turned the interrupt into exit 130
        _interrupted(_SIGNALLED["signal"])
    sys.exit(code)


def _start_and_dispatch() -> int:
    """Load the plugins (start-up), then run the command; its exit code."""
    from egbench_core.plugins import catalog

    try:
        cat = catalog()
        if cat.pm is not None:
            cat.pm.hook.register_commands(app=app)
    except Exception as exc:  # noqa: BLE001 - commands from a broken plugin must not stop the CLI
        from egbench_core.data.registry import RegistryError

        if not isinstance(exc, RegistryError):  # a bad registry file: said once, by the command (_catalog)
            ui.err_console.print(f"[yellow]warning:[/yellow] plugin commands not loaded: {exc}")
    _SIGNALLED["phase"] = "command"
    try:
        code = app(standalone_mode=False)
    except Exception as exc:  # noqa: BLE001 - usage errors (bad option values, unknown commands): one line
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed
            sys.exit(EXIT_USAGE)
        if getattr(exc, "exit_code", None) == EXIT_USAGE and hasattr(exc, "format_message"):
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "egbench"
            _error(f"{exc.format_message()} (see `{where} --help`)")
            sys.exit(EXIT_USAGE)
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    main()
