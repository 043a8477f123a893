"""Each OOD task on the smoke preset with a fast model (core's toy-pair), data from the mirror."""

from __future__ import annotations

import numpy as np
import pytest

from egbench_core.plugins import load_catalog
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store
from egbench_core.testing import FakeModelPlugin, toy_pair_spec
from egbench_core.testing.mirror import find_mirror

MIRROR = find_mirror(near=__file__)  # EGBENCH_DATA_MIRROR, else ../shared/data beside the repository
needs_mirror = pytest.mark.skipif(
    MIRROR is None or not MIRROR.is_dir(), reason=f"offline data mirror {MIRROR} not present"
)


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EGBENCH_DATA_MIRROR", str(MIRROR))
    monkeypatch.setenv("EGBENCH_OFFLINE", "1")
    monkeypatch.delenv("EGBENCH_REGISTRY", raising=False)
    import egbench_task_ood

    data_plugins = []
    for module in ("egbench_data_botnet", "egbench_data_lips", "egbench_data_md17"):
        try:
            data_plugins.append(__import__(module))
        except ImportError:  # sibling dataset plugins are optional; tests that need one say so
            pass
    return load_catalog(
        extra_plugins=[FakeModelPlugin(toy_pair_spec()), egbench_task_ood, *data_plugins], entry_points=False
    )


def _cells(cat, datasets, tasks="ood"):
    return {(c.dataset, c.task): c for c in plan_cells(cat, "toy-pair", datasets, tasks, "smoke", 0)}


def test_family_selects_all_four(catalog):
    cells = _cells(catalog, "acac")
    assert {t for _, t in cells} == {"ood-temperature", "ood-crystal", "ood-composition", "zero-shot"}
    # declared out of distribution (the HTML OOD page shows them); core's standard task is not
    assert all(catalog.task(t).ood for _, t in cells) and not catalog.task("standard").ood
    reasons = {t: c.skip_reason for (_, t), c in cells.items()}
    assert reasons["ood-temperature"] == ""
    assert "no split tagged 'ood-crystal'" in reasons["ood-crystal"]
    assert "no split tagged 'zero-shot'" in reasons["zero-shot"]


def _run_one(cat, tmp_path, dataset, task):
    cell = _cells(cat, dataset, task)[(dataset, task)]
    assert cell.skip_reason == "", cell.skip_reason
    store = Store(tmp_path / "res")
    summary = run_cells([cell], cat, store)
    assert summary.done == 1, store.cell(cell.key).error
    return cell, {(m["name"], m["split"], m["mode"]): m for m in store.metrics(cell.key)}


def test_ood_temperature_acac_trains_cold_tests_hot(catalog, tmp_path):
    cell, m = _run_one(catalog, tmp_path, "acac", "ood-temperature")
    assert cell.plan.eval_splits == ("test-600k",)
    assert cell.plan.md.temperature_K == 600.0 and cell.plan.train_split == "train"
    assert np.isfinite(m[("energy_mae", "test-600k", "")]["value"])
    assert m[("stable_fraction", "", "")]["n"] == 2


@needs_mirror
def test_ood_temperature_3bpa_uses_the_600k_split(catalog):
    if "3bpa" not in catalog.datasets:
        pytest.skip("egbench-data-botnet is not installed")
    cell = _cells(catalog, "3bpa", "ood-temperature")[("3bpa", "ood-temperature")]
    assert cell.skip_reason == ""
    assert cell.plan.eval_splits == ("test",) and cell.plan.md.temperature_K == 600.0


def test_zero_shot_benzene_is_skipped_with_its_reason(catalog):
    if "md17-benzene" not in catalog.datasets:
        pytest.skip("egbench-data-md17 is not installed")
    cell = _cells(catalog, "md17-benzene", "zero-shot")[("md17-benzene", "zero-shot")]
    assert cell.plan is not None and cell.plan.train_dataset == "md17-aspirin"
    assert "checksum" in cell.skip_reason


@needs_mirror
def test_ood_crystal_and_composition_on_lips20(catalog, tmp_path):
    if "lips20" not in catalog.datasets:
        pytest.skip("egbench-data-lips is not installed")
    cells = _cells(catalog, "lips20")
    assert cells[("lips20", "ood-crystal")].plan.eval_splits == ("crystal-test",)
    assert cells[("lips20", "ood-composition")].plan.eval_splits == ("composition-test",)
    _, m = _run_one(catalog, tmp_path, "lips20", "ood-crystal")
    assert np.isfinite(m[("force_mae", "crystal-test", "")]["value"])


def test_zero_shot_declared_target_trains_on_its_source(catalog, tmp_path, monkeypatch):
    """A dataset declared only in a user registry file joins zero-shot without touching the task."""
    reg = tmp_path / "user.toml"
    reg.write_text("""
[datasets.acac-hot-target]
elements = ["H", "C", "O"]
periodic = false
temperature_K = 600.0
timestep_fs = 0.5
train_dataset = "acac"
[datasets.acac-hot-target.splits.test]
file = "botnet-datasets/dataset_acac/test_MD_600K.xyz"
select = { range = [0, 100] }
frames = 100
temperature_K = 600.0
tags = ["test", "zero-shot"]
""")
    monkeypatch.setenv("EGBENCH_REGISTRY", str(reg))
    import egbench_task_ood

    cat = load_catalog(extra_plugins=[FakeModelPlugin(toy_pair_spec()), egbench_task_ood], entry_points=False)
    cell, m = _run_one(cat, tmp_path, "acac-hot-target", "zero-shot")
    assert cell.plan.train_dataset == "acac"
    assert m[("energy_mae", "test", "")]["n"] == 50  # smoke preset: first 50 evaluation frames
