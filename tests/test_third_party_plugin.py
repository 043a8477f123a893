"""A model plugin written against the documented hooks (plugins/_template) installs with pip and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from egbench_core.plugins import load_catalog
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store

TEMPLATE = Path(__file__).resolve().parents[1] / "plugins" / "_template"


def _catalog_selecting(plugin: str, dist: str, site: Path, monkeypatch):
    """The catalog with ``site`` on the path and only ``plugin`` selected: it loads, from ``dist``."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", plugin)
    cat = load_catalog(entry_points=True)
    assert cat.plugins[plugin].status == "ok", cat.plugins[plugin].error
    assert dist in cat.plugins[plugin].origin
    return cat


@pytest.fixture(scope="module")
def installed(tmp_path_factory, pip_install):
    target = pip_install(TEMPLATE, tmp_path_factory.mktemp("site"))
    assert (target / "egbench_model_example").is_dir()
    return target


def test_template_plugin_is_discovered_and_runs(installed, monkeypatch, tmp_path):
    cat = _catalog_selecting("example", "egbench-model-example", installed, monkeypatch)
    spec = cat.models["example"]
    assert spec.plugin == "example" and set(spec.presets) == {"smoke", "quick", "paper"}
    cells = plan_cells(cat, "example", "acac", "standard", "smoke", 0)
    store = Store(tmp_path / "res")
    summary = run_cells(cells, cat, store)
    assert summary.done == 1, store.cell(cells[0].key).error
    m = {(x["name"], x["split"]): x["value"] for x in store.metrics(cells[0].key)}
    assert np.isfinite(m[("force_mae", "test")]) and m[("force_mae", "test")] > 0
    assert m[("md_time_per_step", "")] > 0


DATA_TEMPLATE = Path(__file__).resolve().parents[1] / "plugins" / "_template_data"


def test_data_template_installs_with_its_files_and_loads_offline(tmp_path, monkeypatch, pip_install):
    """plugins/_template_data: the wheel carries registry.toml and the data files (package data),
    the entry point is found, and the dataset loads from the embedded copy with no network."""
    target = pip_install(DATA_TEMPLATE, tmp_path / "site")
    pkg = target / "egbench_data_example"
    assert (pkg / "registry.toml").is_file() and len(list((pkg / "data").glob("*.xyz"))) == 3
    cat = _catalog_selecting("example-data", "egbench-data-example", target, monkeypatch)
    ds = cat.datasets["example-cu13"]
    assert ds.plugin == "example-data" and ds.unavailable_reason() is None
    test = ds.load("test")
    assert len(test) == 10 and test.elements == [29]
    assert test.energy[0] == np.float64(9.915145530438586)
