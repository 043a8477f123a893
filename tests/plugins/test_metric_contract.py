"""The metric contract (docs/plugins.md, "Metrics"): a metric declares every value it emits and every
kind of artifact it returns, its observer declares what it runs after, and the reports show only
declared values. Checked on the installed metrics and on a real smoke run (``report_store``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from egbench_core.interfaces import (
    Artifact,
    ArtifactSpec,
    MetricResult,
    MetricSpec,
    MetricValue,
    ObserverSpec,
    ValueSpec,
    declared_values,
    order_observers,
)
from egbench_core.plugins import load_catalog
from egbench_core.run.execute import score, write_artifacts


@pytest.fixture(scope="module")
def metrics():
    return list(load_catalog(entry_points=False).metrics.values())


def _spec(compute, artifacts=()):
    return MetricSpec(
        name="toy_metric",
        compute=compute,
        artifacts=artifacts,
        values=(ValueSpec("toy_a", "eV", "lower", "a"), ValueSpec("toy_b", "1", "higher", "b")),
    )


def test_an_undeclared_value_is_an_error_naming_the_metric_and_the_value():
    good = _spec(lambda out: MetricResult([MetricValue("toy_a", 1.0, "eV")]))
    bad = _spec(lambda out: MetricResult([MetricValue("toy_a", 1.0, "eV"), MetricValue("toy_c", 2.0, "eV")]))
    values, errors, _ = score(object(), [good])
    assert [v.name for v, _ in values] == ["toy_a"] and errors == {}
    values, errors, _ = score(object(), [bad])
    assert values == []  # none of a failed metric's values is kept
    assert set(errors) == {"toy_metric", "toy_a", "toy_b"}
    assert "metric 'toy_metric' emitted value 'toy_c', which it does not declare" in errors["toy_a"]


def test_a_value_in_another_unit_an_undeclared_artifact_or_a_bare_list_is_an_error():
    unit = _spec(lambda out: MetricResult([MetricValue("toy_a", 1.0, "meV")]))
    art = _spec(lambda out: MetricResult([], [Artifact("toy.json", "toy", {})]))
    bare = _spec(lambda out: [MetricValue("toy_a", 1.0, "eV")])
    clash = _spec(lambda out: MetricResult([], [Artifact("oracle.json", "toy", {})]), (ArtifactSpec("toy", "x"),))
    for spec, why in (
        (unit, "in 'meV'; it declares 'eV'"),
        (art, "artifact 'toy.json' of kind 'toy'"),
        (bare, "returned a list"),
        (clash, "artifact 'oracle.json'"),
    ):
        _, errors, _ = score(object(), [spec])
        assert why in errors["toy_a"], errors


def test_core_writes_returned_artifacts(tmp_path):
    import numpy as np

    spec = _spec(
        lambda out: MetricResult(
            [MetricValue("toy_b", 0.5, "1")], [Artifact("toy.json", "toy", {"x": np.arange(3), "y": np.float32(2)})]
        ),
        (ArtifactSpec("toy", "x"),),
    )
    values, errors, artifacts = score(object(), [spec])
    assert errors == {} and write_artifacts(tmp_path, artifacts) == [("toy", "toy.json")]
    assert json.loads((tmp_path / "toy.json").read_text()) == {"x": [0, 1, 2], "y": 2.0}


def test_observers_follow_their_declared_order_not_registration_order(metrics):
    first = ObserverSpec("zz-verdict", lambda out: None)
    later = ObserverSpec("aa-measure", lambda out: None, after=(first,))
    assert [o.name for o in order_observers([later, first])] == ["zz-verdict", "aa-measure"]
    with pytest.raises(ValueError, match="no installed metric declares"):
        order_observers([later])
    loop = ObserverSpec("b", lambda out: None, after=(ObserverSpec("a", lambda out: None),))
    with pytest.raises(ValueError, match="cycle"):
        order_observers([loop, ObserverSpec("a", lambda out: None, after=(loop,))])
    installed = [m.observer for m in metrics if m.observer is not None]
    for observers in (installed, installed[::-1]):
        names = [o.name for o in order_observers(observers)]
        assert names[0] == "stability" and set(names) == {"stability", "structure", "dynamics"}


def _report_columns():
    from egbench_core.report.compare import LAYOUTS
    from egbench_core.report.html import ood, series, tables
    from egbench_core.report.leaderboard import TABLES

    cols = [(f"report.TABLES[{t}]", c) for t, cs in TABLES.items() for c in cs]
    cols += [(f"report_compare.LAYOUTS[{t}]", p.column) for t, ps in LAYOUTS.items() for p in ps]
    cols += [(f"html.tables.LAYOUTS[{lay.key}]", c) for lay in tables.LAYOUTS for c in lay.columns]
    cols += [("html.ood.COLUMNS", c) for c in ood.COLUMNS]
    cols += [("html.series", series.F_MAE), ("html.series", series.MD_COST)]
    return cols


def test_every_report_column_shows_a_declared_value_with_its_declared_direction(metrics):
    from egbench_core.report.leaderboard import RANK_METRIC, SPLIT_VALUES

    declared = declared_values(metrics)
    for where, col in _report_columns():
        v = declared.get(col.metric)
        assert v is not None, f"{where}: column {col.header!r} shows {col.metric!r}, which no metric declares"
        assert col.mode in v.modes, f"{where}: {col.header!r} reads mode {col.mode!r} of {col.metric!r}"
        assert (col.better, col.description) == (v.better, v.description), where
        assert (col.split is None) == v.per_split, f"{where}: {col.header!r} split"
    assert RANK_METRIC[0] in declared and SPLIT_VALUES <= set(declared)


def _conditions(cell) -> set[str]:
    """Which ``ValueSpec.when`` conditions hold for a stored cell."""
    plan = (cell.provenance["task"]["plan"]) or {}
    md = plan.get("md")
    out = {""}
    if cell.info["seeds"]["replicas"]:
        out.add("md")
        if md and md["start_velocities"] == "reference" and md["reference_spacing_fs"]:
            out.add("aligned")
    oracle = cell.info.get("oracle") or {}
    if oracle.get("oracle") and not oracle["oracle"].get("exact") and not oracle.get("reason"):
        out.add("approximate-oracle")
    return out


def test_every_declared_value_of_a_smoke_cell_reaches_the_store(report_store, metrics):
    """Each done cell of a real smoke run (acac, synthetic-emt; standard, ood-temperature; with and
    without MD oracle and aligned reference) stores every value its metrics declare for it — once per
    evaluation split where declared so, in its declared unit — and nothing undeclared; the metric
    artifacts stored are of declared kinds and exist."""
    declared = declared_values(metrics)
    kinds = {a.kind for m in metrics for a in m.artifacts} | {
        "checkpoint",
        "predictions",
        "trajectory",
        "md-summary",
        "oracle",
        "model",
    }
    seen_conditions: set[str] = set()
    cells = [c for c in report_store.cells("done")]
    assert len(cells) >= 6
    for c in cells:
        conditions = _conditions(c)
        seen_conditions |= conditions
        stored = report_store.metrics(c.key)
        have = {(m["name"], m["split"]) for m in stored}
        splits = c.provenance["task"]["plan"]["eval_splits"]
        for m in metrics:
            for v in m.values:
                if v.when not in conditions:
                    continue
                for split in splits if v.per_split else [""]:
                    assert (v.id, split) in have, (
                        f"{c.model} × {c.dataset} × {c.task}: metric {m.name!r} declares "
                        f"{v.id!r} ({v.when or 'always'}) for split {split!r}; not stored"
                    )
        for row in stored:
            assert row["name"] in declared, f"stored value {row['name']!r} is not declared"
            assert row["unit"] == declared[row["name"]].unit, row
        for kind, path in report_store.artifacts(c.key):
            assert kind in kinds and Path(path).exists(), (kind, path)
    assert {"", "md", "aligned"} <= seen_conditions  # the run exercised the conditional values


def test_list_metrics_shows_one_row_per_declared_value(monkeypatch):
    """``egbench list metrics``: a row per value with its own unit and direction (stability emits a
    fraction that is better higher, a time in fs, and failure counts that are better lower)."""
    from rich.console import Console
    from typer.testing import CliRunner

    import egbench_core.console as ui
    from egbench_core import cli

    monkeypatch.setattr(cli, "_catalog", lambda: load_catalog(entry_points=False))
    monkeypatch.setattr(ui, "console", Console(width=400, color_system=None))
    res = CliRunner().invoke(cli.app, ["list", "metrics"])
    assert res.exit_code == 0, res.output
    rows, watches = {}, {}
    for line in res.output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃|").split("│")]
        if len(cells) == 8 and cells[0] == "stability":
            rows[cells[1]] = cells
        if len(cells) == 8 and cells[6]:
            watches[cells[0]] = cells[6]
    assert rows["stable_fraction"][2:4] == ["fraction", "higher"], rows
    assert rows["time_to_failure"][2:4] == ["fs", "higher"], rows
    assert rows["failures_collapse"][2:4] == ["replicas", "lower"], rows
    assert "stayed stable" in rows["stable_fraction"][7]
    # how each metric watches the MD: what adding or changing it recomputes (docs/guide.md, stages)
    assert watches == {"stability": "every step", "structure": "saved frames", "dynamics": "saved frames"}, watches
