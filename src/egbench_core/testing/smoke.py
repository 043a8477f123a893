"""One real cell at the ``smoke`` preset with core's fast ``toy-pair`` model, for the task and metric
kits: the task plans it, the model trains for a few epochs, evaluates and runs its MD, and every
installed metric scores it, into a fresh store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from egbench_core.testing.fakes import FakeModelPlugin
from egbench_core.testing.mirror import check_available, offline_data

SMOKE_MODEL = "toy-pair"


def smoke_catalog(*plugins: Any) -> Any:
    """The built-ins, ``toy-pair`` and ``plugins`` (modules or objects with hook implementations),
    no entry points: what the kits run cells with."""
    from egbench_core.plugins import load_catalog

    cat = load_catalog(extra_plugins=[FakeModelPlugin(), *plugins], entry_points=False)
    broken = {n: p.error for n, p in cat.plugins.items() if p.status != "ok"}
    assert not broken, f"plugins broken: {broken}"
    return cat


def kit_catalog(
    cache: Path, module: str, plugins: Iterable[Any], datasets: Iterable[str], mirror: str | None
) -> Iterator[Any]:
    """A kit's catalog (:func:`smoke_catalog` with the plugin ``module`` and ``plugins``), with the
    data offline in the fresh cache ``cache`` while it is used; each of ``datasets`` must load."""
    import importlib

    with offline_data(cache, mirror) as found:
        cat = smoke_catalog(importlib.import_module(module), *plugins)
        check_available(cat, datasets, found, module)
        yield cat


def run_smoke_cell(catalog: Any, task: str, dataset: str, root: Path, seed: int = 0) -> tuple[Any, Any]:
    """``(store, cell)`` after running ``toy-pair`` × ``dataset`` × ``task`` at ``smoke`` into a store at
    ``root``; AssertionError when the task skips the dataset or the cell does not finish."""
    from egbench_core.run.runner import plan_cells, run_cells
    from egbench_core.store import Store

    (cell,) = plan_cells(catalog, SMOKE_MODEL, dataset, task, preset="smoke", seeds=[seed])
    assert not cell.skip_reason, f"task {task} skips dataset {dataset}: {cell.skip_reason}"
    store = Store(root)
    summary = run_cells([cell], catalog, store)
    row = store.cell(cell.key)
    assert summary.done == 1, f"{SMOKE_MODEL} × {dataset} × {task} did not finish: {row.error if row else summary}"
    return store, cell
