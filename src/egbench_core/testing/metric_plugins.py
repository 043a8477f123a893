"""Test kit for metric plugins: registration is cheap and found, the declarations are valid beside
the built-in metrics', and one real smoke cell (core's ``toy-pair`` trained for a few epochs, its
static predictions and MD) is scored by the plugin's metrics: every value they declare for such a
cell reaches the store, in its declared unit, finite or ``n/a`` with why, and ``compute`` is a pure
function of the :class:`~egbench_core.cell.CellOutputs` it was handed.

A metric plugin's tests::

    from egbench_core.testing.metric_plugins import MetricPluginChecks

    class TestMyMetric(MetricPluginChecks):
        plugin = "my-metric"           # the entry-point name
        module = "egbench_metric_mine"
        metrics = ("my_metric",)
        run_on = "acac"                # the smoke cell's dataset (task: ``task``, "standard")

        def test_my_numbers(self, scored):   # scored.outputs: the CellOutputs the metric was given
            ...

Data comes from the mirror (the class's ``mirror``, else ``EGBENCH_DATA_MIRROR``; ``synthetic-emt``
is generated and needs none) into a temporary cache, offline. Importing this module imports pytest,
not torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import pytest

from egbench_core.interfaces import MetricResult, MetricSpec, ValueSpec, check_id, declared_values
from egbench_core.testing.registration import check_registration
from egbench_core.testing.smoke import kit_catalog, run_smoke_cell


@dataclass
class ScoredCell:
    """One smoke cell scored by the plugin's metrics: the :class:`~egbench_core.cell.CellOutputs`
    each metric was handed (``outputs``, the same for all), what ``compute`` returned (``results``,
    per metric), the store's rows of the cell's values (``stored``) and the cell's record (``row``)."""

    outputs: Any
    results: dict[str, MetricResult]
    stored: list[dict[str, Any]]
    row: Any
    store: Any = field(repr=False)


class _Recording:
    """``compute`` that keeps what it was handed and what it returned."""

    def __init__(self, name: str, compute, seen: dict[str, tuple[Any, Any]]):
        self.name, self.compute, self.seen = name, compute, seen

    def __call__(self, outputs):
        result = self.compute(outputs)
        self.seen[self.name] = (outputs, result)
        return result


def applies(value: ValueSpec, outputs: Any) -> bool:
    """Whether a cell with ``outputs`` must hold ``value`` (its ``when``; an ``approximate-oracle``
    value is never required here: the smoke cell's oracle is the dataset's own)."""
    md = outputs.plan.md
    return {
        "": True,
        "md": bool(outputs.md),
        "aligned": bool(outputs.md) and md is not None and md.start_velocities == "reference",
        "approximate-oracle": False,
    }[value.when]


def check_metric_spec(spec: Any, installed: list[MetricSpec]) -> None:
    """AssertionError unless ``spec`` is a :class:`MetricSpec` with a valid id, a version and
    described values, whose value ids agree with ``installed`` metrics' (unit, direction) and whose
    report columns take an order no other column of their table holds."""
    assert isinstance(spec, MetricSpec), f"registered a {type(spec).__name__}, expected a MetricSpec"
    check_id("metric", spec.name.replace("_", "-"))
    assert spec.version, f"metric {spec.name}: empty version (part of every cell key)"
    for v in spec.values:
        assert v.description, f"metric {spec.name}: value {v.id} has no description"
    others = [m for m in installed if m.name != spec.name]
    declared_values([*others, spec])  # ValueError when an id is declared in another unit or direction
    taken = {(s.table, s.order): v.id for m in others for v in m.values for s in v.shown}
    for v in spec.values:
        for s in v.shown:
            clash = taken.get((s.table, s.order))
            assert clash in (None, v.id), (
                f"metric {spec.name}: column {s.header!r} at order {s.order} of table {s.table!r}, "
                f"which {clash!r} holds; built-in columns use 10 to 80: take 90 or above"
            )


def check_stored(spec: MetricSpec, scored: ScoredCell) -> None:
    """AssertionError unless every value of ``spec`` that applies to the cell is stored (per split:
    on each evaluation split), in its declared unit, finite, or NaN with a note "not applicable..."."""
    errors = (scored.row.info or {}).get("metric_errors") or {}
    assert spec.name not in errors, errors[spec.name]
    splits = scored.outputs.plan.eval_splits
    for v in spec.values:
        rows = [r for r in scored.stored if r["name"] == v.id]
        if applies(v, scored.outputs):
            want = set(splits) if v.per_split else {""}
            got = {r["split"] for r in rows}
            assert want <= got, (
                f"metric {spec.name}: value {v.id} stored for splits {sorted(got)}, expected {sorted(want)}"
            )
        for r in rows:
            assert r["unit"] == v.unit, f"metric {spec.name}: value {v.id} stored in {r['unit']!r}, declared {v.unit!r}"
            x = r["value"]
            finite = x is not None and math.isfinite(x)
            assert finite or (r["note"] or "").startswith("not applicable"), (
                f"metric {spec.name}: value {v.id} ({r['split'] or 'no split'}) is {x} without a note "
                "'not applicable: <why>'"
            )


class MetricPluginChecks:
    """Mixin of pytest checks for a metric plugin (see the module's docstring for the attributes).
    The class fixture ``scored`` (a :class:`ScoredCell`) is the smoke cell, for the plugin's own
    checks of its numbers. ``installed = False``: a plugin run from its source folder (the template
    in CI) is handed to the catalog directly instead of through its entry point. ``plugins``: other
    plugins the cell needs (e.g. a data plugin's module)."""

    plugin: ClassVar[str] = ""  # entry-point name
    module: ClassVar[str] = ""  # import name of the package the entry point names
    metrics: ClassVar[tuple[str, ...]] = ()
    heavy: ClassVar[tuple[str, ...]] = ("torch",)  # what registering must not import
    installed: ClassVar[bool] = True
    run_on: ClassVar[str] = "acac"
    task: ClassVar[str] = "standard"
    mirror: ClassVar[str | None] = None
    plugins: ClassVar[tuple[Any, ...]] = ()

    @pytest.fixture(scope="class")
    @classmethod
    def metric_catalog(cls, tmp_path_factory):
        yield from kit_catalog(
            tmp_path_factory.mktemp("metric-kit-data"), cls.module, cls.plugins, [cls.run_on], cls.mirror
        )

    @pytest.fixture(scope="class")
    @classmethod
    def scored(cls, metric_catalog, tmp_path_factory) -> ScoredCell:
        seen: dict[str, tuple[Any, Any]] = {}
        for name in cls.metrics:
            spec = metric_catalog.metric(name)
            metric_catalog.metrics[name] = replace(spec, compute=_Recording(name, spec.compute, seen))
        try:
            store, cell = run_smoke_cell(metric_catalog, cls.task, cls.run_on, tmp_path_factory.mktemp("metric-kit"))
        finally:
            for name in cls.metrics:
                recording = metric_catalog.metrics[name].compute
                metric_catalog.metrics[name] = replace(metric_catalog.metrics[name], compute=recording.compute)
        missing = [n for n in cls.metrics if n not in seen]
        assert not missing, f"metrics {missing} were not called on the smoke cell"
        outputs = seen[cls.metrics[0]][0]
        return ScoredCell(
            outputs, {n: r for n, (_, r) in seen.items()}, store.metrics(cell.key), store.cell(cell.key), store
        )

    def test_registration_is_cheap_and_found(self):
        check_registration(self.module, self.plugin, "register_metrics", self.metrics, self.heavy, self.installed)

    def test_declarations(self, metric_catalog):
        installed = list(metric_catalog.metrics.values())
        for name in self.metrics:
            check_metric_spec(metric_catalog.metric(name), installed)

    def test_values_reach_the_store(self, metric_catalog, scored):
        for name in self.metrics:
            check_stored(metric_catalog.metric(name), scored)

    def test_compute_is_a_pure_function_of_the_outputs(self, metric_catalog, scored):
        for name in self.metrics:
            again = metric_catalog.metric(name).compute(scored.outputs)
            first = scored.results[name]
            assert [(v.name, v.split, v.mode, v.unit) for v in again.values] == [
                (v.name, v.split, v.mode, v.unit) for v in first.values
            ], f"metric {name}: a second compute over the same outputs emitted other values"
            for a, b in zip(again.values, first.values):
                same = a.value == b.value or (math.isnan(a.value) and math.isnan(b.value))
                assert same, f"metric {name}: {a.name} ({a.split}) was {b.value}, then {a.value} over the same outputs"
