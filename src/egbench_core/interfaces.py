"""The light types that plugins hand to core through the registration hooks.

Nothing here imports a model framework or touches the network: a plugin builds these at
registration time, core calls their ``build`` / ``load`` / ``plan`` methods later, when a cell
actually runs. Units are those of :mod:`egbench_core.units` (eV, Å, eV/Å, fs, K).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from egbench_core import modes

if TYPE_CHECKING:  # imported lazily: registration must stay cheap
    import torch

    from egbench_core.model.graph import AtomicGraph
    from egbench_core.model.stats import DatasetStats

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def check_id(kind: str, name: str) -> str:
    """Ids are lowercase kebab-case (``md17-aspirin``, ``ood-temperature``)."""
    if not isinstance(name, str) or not ID_RE.match(name):
        raise ValueError(f"{kind} id {name!r} is not lowercase kebab-case (e.g. 'md17-aspirin')")
    return name


_VERSION_DOT = re.compile(r"(?<=[0-9])\.(?=[0-9])")


def check_model_id(name: str) -> str:
    """Model ids are lowercase kebab-case too, where a dot may join two digits of a version
    (``chgnet-0.3``, the id upstream's checkpoint is known by)."""
    if not isinstance(name, str) or not ID_RE.match(_VERSION_DOT.sub("-", name)):
        raise ValueError(f"model id {name!r} is not lowercase kebab-case (e.g. 'mace', 'chgnet-0.3')")
    return name


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (dict keys sorted)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------
class Potential(Protocol):
    """What ``ModelSpec.build`` returns: a ``torch.nn.Module`` with

    ``forward(graph: AtomicGraph) -> Tensor[B]``

    For a trainable model the output is the energy in *normalised units*: core multiplies it by
    ``stats.scale`` (eV) and adds the per-element reference energies ``Σ_i E0[Z_i]`` (eV) in
    float64, the same for every model (see :class:`egbench_core.model.potential.NormalisedPotential`).
    Forces and stress are computed by core with autograd; the module must compute its edge
    vectors from ``graph.edge_vectors()`` (or positions + ``graph.shifts``) so gradients flow.
    """

    def __call__(self, graph: AtomicGraph) -> torch.Tensor: ...


@dataclass(frozen=True)
class Capabilities:
    periodic: bool = True  # handles periodic cells (uses graph.shifts)
    stress: bool = True  # energy depends on the cell through the edge vectors only
    max_elements: int | None = None  # None: any number of species
    trainable: bool = True
    # atomic numbers a pretrained model covers (None: any); a dataset with others is skipped
    elements: tuple[int, ...] | None = None


@dataclass
class ModelSpec:
    """An architecture, with its presets (``smoke``, ``quick``, ``paper``).

    ``presets[name]`` is a plain dict: ``{"cutoff": Å, "model": {...}, "train": {...}}``; the
    ``train`` part is turned into :class:`egbench_core.model.train.TrainConfig`. ``build(species,
    cutoff, params, stats)`` returns a :class:`Potential`; it is the first place the plugin
    may import its framework.
    """

    name: str
    build: Callable[[Sequence[int], float, Mapping[str, Any], DatasetStats], Any]
    presets: dict[str, dict[str, Any]]
    version: str = "0"
    description: str = ""
    citation: str = ""
    licence: str = ""
    url: str = ""
    requires: list[str] = field(default_factory=list)  # PEP 508 strings, checked before a cell runs
    capabilities: Capabilities = field(default_factory=Capabilities)
    plugin: str = ""  # filled in by core: the plugin that registered it
    environment: str = ""  # set by core for a model that lives in another environment (envs/manage.py)
    # optional: import the framework ahead of the first cell (a Dask worker calls it as it starts,
    # while the client is still planning); no arguments, nothing returned
    warm_up: Callable[[], None] | None = None
    # a calculator-backed model (docs/guide.md, "Any ASE calculator as a model"): makes a fresh ASE
    # calculator (energy eV, forces eV/Å); core evaluates and simulates through it, never builds or
    # trains it (``build`` is not called). Made with :func:`calculator_model` (below).
    calculator: Callable[[], Any] | None = None
    # how the model meets a dataset (:mod:`egbench_core.modes`): trained on it from scratch, a
    # pretrained network evaluated as it is ("zero-shot", per-element energy offsets refitted), or a
    # pretrained network trained further on it ("fine-tuned"); made with :func:`pretrained_models`.
    # A calculator-backed model is zero-shot (the default "from-scratch" becomes "zero-shot")
    mode: str = modes.FROM_SCRATCH.id

    def __post_init__(self) -> None:
        check_model_id(self.name)
        if self.calculator is not None and self.mode == modes.FROM_SCRATCH.id:
            self.mode = modes.CALCULATOR_BACKED.id  # never trained: the default does not apply
        try:
            modes.resolve(self.mode, self.calculator is not None)
        except ValueError as exc:
            raise ValueError(f"model {self.name!r}: {exc}") from None
        for p, cfg in self.presets.items():
            check_id("preset", p)
            if "cutoff" not in cfg:
                raise ValueError(f"model {self.name!r} preset {p!r} has no 'cutoff' (Å)")

    @property
    def calculator_backed(self) -> bool:
        """Evaluated and simulated through its ASE calculator; never built or trained."""
        return self.calculator is not None

    def preset(self, name: str) -> dict[str, Any]:
        try:
            return self.presets[name]
        except KeyError:
            raise KeyError(f"model {self.name!r} has no preset {name!r}; it has {sorted(self.presets)}") from None

    def describe(self) -> dict[str, Any]:
        """The spec as plain JSON, for the other side of the environment boundary
        (docs/environments.md): what an environment worker reports for each of its models (cached
        in ``env.json``), and what a request to it carries to be checked against the worker's own
        spec. :meth:`from_description` reads it back."""
        described = {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "citation": self.citation,
            "licence": self.licence,
            "url": self.url,
            "requires": list(self.requires),
            "presets": self.presets,
            "capabilities": asdict(self.capabilities),
            "plugin": self.plugin,
            "calculator_backed": self.calculator_backed,
            "mode": self.mode,
        }
        return json.loads(json.dumps(described))  # plain JSON (tuples as lists): equal to its round trip

    @classmethod
    def from_description(
        cls, described: Mapping[str, Any], *, environment: str, build: Callable[..., Any], calculator: Callable[[], Any]
    ) -> ModelSpec:
        """A spec of a model living in ``environment``, from its :meth:`describe` (fields it lacks
        take their defaults; ``plugin`` is the catalog's to set). ``build`` and ``calculator`` (used
        where the description says calculator-backed) stand in for the real ones, which run only
        in the environment worker."""
        plain = {
            k: described[k] for k in ("version", "description", "citation", "licence", "url", "mode") if k in described
        }
        caps = dict(described.get("capabilities") or {})
        if caps.get("elements") is not None:
            caps["elements"] = tuple(caps["elements"])
        return cls(
            name=described["name"],
            build=build,
            presets=described["presets"],
            requires=list(described.get("requires", [])),
            capabilities=Capabilities(**caps),
            environment=environment,
            calculator=calculator if described.get("calculator_backed") else None,
            **plain,
        )


MODES = modes.IDS  # the ids ModelSpec.mode may take (kept for plugins that read it)

# Only the training statistics' neighbour count (avg_num_neighbors, recorded, not used) needs a
# cutoff for a calculator-backed model: the calculator has its own.
CALCULATOR_STATS_CUTOFF = 5.0  # Å


def _not_buildable(*_args, **_kw):
    raise TypeError("a calculator-backed model is evaluated through its ASE calculator; it has no network to build")


def calculator_model(
    name: str,
    make: Callable[[], Any],
    *,
    version: str = "0",
    description: str = "",
    citation: str = "",
    licence: str = "",
    url: str = "",
    requires: list[str] | None = None,
    periodic: bool = True,
    max_elements: int | None = None,
    elements: Sequence[int] | None = None,
) -> ModelSpec:
    """The spec of a calculator-backed model (:mod:`egbench_core.model.calculator_model`): evaluated and
    simulated through the ASE calculator ``make()`` returns (a fresh one per call: one for the
    static evaluation, one per MD replica; ``make`` is the first place to import the framework),
    never built or trained. It runs at every protocol preset; ``elements``: the atomic numbers it
    covers (datasets with others are skipped; None: any)."""
    covered = tuple(sorted(int(z) for z in elements)) if elements is not None else None
    return ModelSpec(
        name=name,
        build=_not_buildable,
        presets={p: {"cutoff": CALCULATOR_STATS_CUTOFF} for p in ("smoke", "quick", "paper")},
        version=version,
        description=description,
        citation=citation,
        licence=licence,
        url=url,
        requires=list(requires or []),
        calculator=make,
        mode=modes.CALCULATOR_BACKED.id,
        capabilities=Capabilities(
            periodic=periodic, stress=False, max_elements=max_elements, trainable=False, elements=covered
        ),
    )


FINETUNE_SUFFIX = "-ft"

# Fine-tuning settings per protocol preset that pretrained plugins share (egbench's trainer and
# loss, from the checkpoint, with a small learning rate: the network is already trained, its energy
# offsets are refitted first and stay fixed). ``quick``: 4 epochs of at most 150 atoms per batch.
FINETUNE_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 1, "batch_size": 4, "lr": 1e-4},
    "quick": {
        "epochs": 4,
        "batch_size": 10,
        "max_batch_atoms": 150,
        "lr": 3e-4,
        "scheduler_patience": 2,
        "early_stop_patience": 4,
    },
    "paper": {
        "epochs": 200,
        "batch_size": 10,
        "lr": 1e-4,
        "scheduler_patience": 10,
        "early_stop_patience": 30,
        "ema_decay": 0.99,
    },
}


def pretrained_models(
    name: str,
    load: Callable[[], Any],
    *,
    cutoff: float,
    finetune: Mapping[str, Mapping[str, Any]] | None = None,
    version: str = "0",
    description: str = "",
    citation: str = "",
    licence: str = "",
    url: str = "",
    requires: list[str] | None = None,
    periodic: bool = True,
    stress: bool = True,
    elements: Sequence[int] | None = None,
) -> list[ModelSpec]:
    """The specs of a pretrained network that goes through the model seam: ``name`` (zero-shot)
    and, when ``finetune`` gives training settings per protocol preset, ``name + "-ft"``
    (fine-tuned with egbench's one trainer, from the checkpoint, on each cell's training split).

    ``load()`` returns a fresh ``torch.nn.Module`` (the first place to import the framework) with
    ``forward(graph: AtomicGraph) -> Tensor[B]``: the network's own energy in eV, from
    ``graph.atomic_numbers`` and edge vectors built from ``graph.positions`` (core differentiates
    it for forces, :mod:`egbench_core.model.pretrained`); ``cutoff`` (Å) is the network's own.
    ``elements``: the atomic numbers its checkpoint covers (datasets with others are skipped)."""
    from functools import partial

    covered = tuple(sorted(int(z) for z in elements)) if elements is not None else None
    build = partial(_build_pretrained, load)
    common: dict[str, Any] = dict(
        build=build, version=version, citation=citation, licence=licence, url=url, requires=list(requires or [])
    )
    specs = [
        ModelSpec(
            name=name,
            presets={p: {"cutoff": float(cutoff)} for p in ("smoke", "quick", "paper")},
            description=f"{description}; zero-shot (E0 refit)",
            mode=modes.ZERO_SHOT.id,
            capabilities=Capabilities(periodic=periodic, stress=stress, trainable=False, elements=covered),
            **common,
        )
    ]
    if finetune is not None:
        specs.append(
            ModelSpec(
                name=name + FINETUNE_SUFFIX,
                mode=modes.FINE_TUNED.id,
                presets={p: {"cutoff": float(cutoff), "train": dict(t)} for p, t in finetune.items()},
                description=f"{description}; fine-tuned from the checkpoint on each training split",
                capabilities=Capabilities(periodic=periodic, stress=stress, trainable=True, elements=covered),
                **common,
            )
        )
    return specs


def _build_pretrained(load, species, cutoff, params, stats):
    from egbench_core.model.pretrained import pretrained_network

    return pretrained_network(load, stats)


# --------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MDPlan:
    """Forward MD of one cell: NVT Langevin from evenly spaced frames of ``start_split``."""

    start_split: str
    reference_split: str  # g_ref and the aligned EV/FV reference come from here
    temperature_K: float
    timestep_fs: float
    friction_per_ps: float = 0.5
    # "maxwell-boltzmann" (seeded thermal draw) or "reference": the start frame's own velocities by
    # finite differences of a time-contiguous reference split (for ``aligned`` dynamics metrics)
    start_velocities: str = "maxwell-boltzmann"
    reference_spacing_fs: float | None = None  # frame spacing of the reference split, if contiguous


@dataclass(frozen=True)
class TaskPlan:
    """What a task does with one dataset: train on ``train_split`` (select on ``val_split``),
    score static errors on each of ``eval_splits``, then run ``md`` (or none)."""

    train_split: str
    val_split: str
    eval_splits: tuple[str, ...]
    md: MDPlan | None
    train_dataset: str | None = None  # None: the cell's own dataset
    note: str = ""


@dataclass
class TaskSpec:
    """A benchmark task. ``plan(dataset)`` returns a :class:`TaskPlan`, or raises
    :class:`SkipCell` with the reason the task does not apply to that dataset. ``ood``: the task
    evaluates out of distribution (another temperature, phase, composition or molecule than the
    training split's); the HTML report's OOD page shows only such tasks, each beside the
    ``standard`` task on the dataset it trains on. A task that changes only the protocol (a shorter
    time step, another thermostat) is not OOD."""

    name: str
    plan: Callable[[Any], TaskPlan]
    version: str = "1"
    family: str = ""  # ``--tasks ood`` selects every task whose family is "ood"
    description: str = ""
    plugin: str = ""
    ood: bool = False

    def __post_init__(self) -> None:
        check_id("task", self.name)
        if self.family:
            check_id("task family", self.family)
        if not isinstance(self.ood, bool):
            raise ValueError(f"task {self.name!r}: ood={self.ood!r}, expected True or False")


@dataclass
class OracleSpec:
    """A reference calculator that can label the frames a model visits (docs/metrics.md, "Errors where the model goes").
    ``make(params)`` returns an ASE calculator (energy eV, forces eV/Å) for the settings a dataset
    declares in ``[datasets.<id>.oracle.params]``; it is the first place the plugin may import its
    electronic-structure code. ``version`` enters the oracle's id (and so every cell key using it):
    bump it when the calculator's numbers can change."""

    name: str
    make: Callable[[Mapping[str, Any]], Any]
    version: str = "1"
    description: str = ""
    citation: str = ""
    licence: str = ""
    requires: list[str] = field(default_factory=list)
    plugin: str = ""

    def __post_init__(self) -> None:
        check_id("oracle", self.name)


@dataclass(frozen=True)
class BrokenSpec:
    """Handed to a ``register`` callback instead of a spec when one entry of a plugin cannot be
    made (e.g. a registry table with ``timestep_fs = 0``): core lists ``kind:name`` as broken
    with ``reason`` while the plugin's other entries keep working."""

    kind: str  # "model" | "dataset" | "task" | "metric"
    name: str
    reason: str


class SkipCell(Exception):
    """Raised by planning code: the cell cannot run here; the message is the reason kept."""


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------
# A metric (MetricSpec) declares every value it emits (ValueSpec: id, unit, which direction is
# better, what it means, where a report shows it), the files of arrays it returns (ArtifactSpec),
# and optionally an MD observer (ObserverSpec). ``compute`` returns a MetricResult; core checks it
# against the declarations, writes the artifacts and stores the values. docs/plugins.md, "Metrics".
BETTER = ("lower", "higher", "neither")
# when a declared value is emitted; "": in every cell the metric scores
WHEN: dict[str, str] = {
    "": "every cell",
    "md": "cells whose task runs MD (replicas were simulated)",
    "aligned": "MD started from a time-contiguous reference trajectory (MDPlan.start_velocities == 'reference')",
    "approximate-oracle": "a calibrated (not exact) oracle labelled the replicas' frames after the MD",
}
REPORT_TABLES = ("static", "structure", "dynamics", "stability")  # the leaderboards of ``egbench report``
# the scale from a stored unit to the unit a report column prints
UNIT_SCALES: dict[tuple[str, str], float] = {
    ("eV", "meV"): 1e3,
    ("eV/Å", "meV/Å"): 1e3,
    ("eV/atom", "meV/atom"): 1e3,
    ("s", "min"): 1 / 60,
}


def unit_scale(stored: str, shown: str) -> float:
    """The factor that turns a value in ``stored`` units into ``shown`` units."""
    if stored == shown:
        return 1.0
    try:
        return UNIT_SCALES[(stored, shown)]
    except KeyError:
        raise ValueError(f"no conversion from {stored!r} to {shown!r} (UNIT_SCALES)") from None


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float
    unit: str
    split: str = ""  # the evaluation split, "" when not split-specific
    std: float | None = None
    n: int | None = None  # number of samples behind the value (frames, replicas...)
    mode: str = ""  # e.g. "oracle" / "aligned" for dynamics metrics
    note: str = ""


@dataclass(frozen=True)
class Shown:
    """One column of a report table that shows a declared value (``egbench report --table``)."""

    table: str  # one of REPORT_TABLES
    order: int  # position in the table (columns sorted by it)
    header: str
    unit: str = ""  # the unit printed ("": the value's own); the scale follows (UNIT_SCALES)
    digits: int = 1
    mode: str = ""  # the stored mode the column reads ("oracle", "aligned")
    split: str | None = ""  # None: the task's first evaluation split; "": not split-specific

    def __post_init__(self) -> None:
        if self.table not in REPORT_TABLES:
            raise ValueError(f"column {self.header!r}: table {self.table!r}, expected one of {list(REPORT_TABLES)}")


@dataclass(frozen=True)
class ValueSpec:
    """One value a metric emits, as stored: ``id`` (the stored name), ``unit``, which direction is
    ``better`` (lower, higher, neither), what it means, and when it is emitted (``when``, a key of
    WHEN; a value that does not apply to a cell is emitted as NaN with a note starting with
    "not applicable", or not at all where ``when`` says so). ``per_split``: once per evaluation
    split; ``modes``: the modes it is stored with. ``spec(x, n=..., note=...)`` makes the
    :class:`MetricValue` in the declared unit."""

    id: str
    unit: str
    better: str
    description: str
    per_split: bool = False
    modes: tuple[str, ...] = ("",)
    when: str = ""
    shown: tuple[Shown, ...] = ()

    def __post_init__(self) -> None:
        check_id("value", self.id.replace("_", "-"))
        if self.better not in BETTER:
            raise ValueError(f"value {self.id!r}: better={self.better!r}, expected one of {list(BETTER)}")
        if self.when not in WHEN:
            raise ValueError(f"value {self.id!r}: when={self.when!r}, expected one of {list(WHEN)}")
        for s in self.shown:
            unit_scale(self.unit, s.unit or self.unit)
            if s.mode not in self.modes:
                raise ValueError(f"value {self.id!r}: column {s.header!r} reads mode {s.mode!r}, not declared")

    def __call__(self, value: float, **kw: Any) -> MetricValue:
        return MetricValue(self.id, value, self.unit, **kw)


@dataclass(frozen=True)
class ArtifactSpec:
    """A kind of file a metric returns (the arrays behind its values, for plots and re-scoring)."""

    kind: str  # stored as the artifact's kind ("rdf", "stability", "dynamics")
    description: str


@dataclass(frozen=True)
class Artifact:
    """A file ``compute`` returns; core writes ``data`` as JSON to ``name`` in the cell's folder and
    stores it with ``kind`` (which the metric declares in ``MetricSpec.artifacts``)."""

    name: str  # file name, e.g. "rdf.json"
    kind: str
    data: Mapping[str, Any]  # JSON-serialisable; numpy arrays and scalars are converted


@dataclass
class MetricResult:
    """What ``MetricSpec.compute`` returns."""

    values: list[MetricValue] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)


@dataclass(frozen=True)
class ObserverSpec:
    """A streaming part of a metric, fed while the MD runs (egbench_core.md.ase_engine for the protocol).

    ``make(outputs)`` returns an observer for one replica (or None: not for this cell) with
    ``update(step, time_fs, atoms, energy, forces) -> str | None`` at saved frames and
    ``finish() -> dict``; optionally ``check(step, time_fs, positions, numbers, cell, pbc,
    temperature_K) -> str | None`` at every step and ``stopped(step, time_fs, reason, source, atoms)``.
    ``name`` keys its result (``spec.of(replica)``) and prefixes the failure it reports
    ("stability: ..."). ``after``: observers that must see each step first (a failure they report
    ends the stable part before this one sees the frame); core orders observers by it, ties by name.

    ``saved_frames_only``: the observer has no ``check``, never reports a failure from ``update``,
    and reads only what a saved frame holds (positions, momenta, cell, numbers, pbc, the model's
    energy and forces). Such an observer, added or changed after a simulation, is *replayed* over
    the stored frames (:mod:`egbench_core.md.replay`): its metric is re-scored without MD. Any other
    observer may shape the trajectories (it can end a replica): it is part of the ``simulate``
    stage's key, and adding or changing it simulates again."""

    name: str
    make: Callable[[Any], Any]
    after: tuple[ObserverSpec, ...] = ()
    description: str = ""
    saved_frames_only: bool = False

    def of(self, replica: Any) -> dict[str, Any]:
        """What this observer's ``finish()`` gave for a replica ({} if it did not run there)."""
        return replica.observed.get(self.name) or {}


def order_observers(specs: Sequence[ObserverSpec]) -> list[ObserverSpec]:
    """``specs`` so that each comes after those in its ``after`` (ties by name); an ``after`` that
    is not among ``specs`` is an error (its verdict would be missing)."""
    by_name = {s.name: s for s in specs}
    if len(by_name) != len(specs):
        raise ValueError(f"two observers share a name: {sorted(s.name for s in specs)}")
    for s in specs:
        missing = [a.name for a in s.after if a.name not in by_name]
        if missing:
            raise ValueError(f"observer {s.name!r} runs after {missing}, which no installed metric declares")
    done: list[ObserverSpec] = []
    left = sorted(specs, key=lambda s: s.name)
    while left:
        ready = [s for s in left if all(a.name in {d.name for d in done} for a in s.after)]
        if not ready:
            raise ValueError(f"observers depend on each other in a cycle: {[s.name for s in left]}")
        done.append(ready[0])
        left.remove(ready[0])
    return done


class UndeclaredOutput(ValueError):
    """A metric returned a value or artifact it does not declare (or in another unit)."""


@dataclass
class MetricSpec:
    """A metric: ``compute(outputs) -> MetricResult`` over a finished cell's outputs
    (:class:`egbench_core.cell.CellOutputs`), emitting only the ``values`` it declares and
    returning only artifacts of the kinds in ``artifacts``. Metrics are pure functions of stored
    outputs, so a run can be re-scored. ``version`` is part of every cell key: bump it when a
    definition changes. ``observer``: its streaming part during MD, if any."""

    name: str
    compute: Callable[[Any], MetricResult]
    values: tuple[ValueSpec, ...]
    version: str = "1"
    description: str = ""
    observer: ObserverSpec | None = None
    artifacts: tuple[ArtifactSpec, ...] = ()
    plugin: str = ""

    def __post_init__(self) -> None:
        check_id("metric", self.name.replace("_", "-"))
        if not self.values:
            raise ValueError(f"metric {self.name!r} declares no values")
        ids = [v.id for v in self.values]
        if len(set(ids)) != len(ids):
            raise ValueError(f"metric {self.name!r} declares a value twice: {ids}")

    @property
    def value_ids(self) -> tuple[str, ...]:
        return tuple(v.id for v in self.values)

    def value(self, value_id: str) -> ValueSpec:
        return next(v for v in self.values if v.id == value_id)

    def check(self, result: MetricResult) -> None:
        """Raise :class:`UndeclaredOutput` naming the metric and the value (or artifact) that its
        declarations do not cover: an id, unit, mode or artifact kind it did not declare."""
        if not isinstance(result, MetricResult):
            raise UndeclaredOutput(
                f"metric {self.name!r} returned a {type(result).__name__}; compute must return a "
                "MetricResult(values, artifacts)"
            )
        declared = {v.id: v for v in self.values}
        for mv in result.values:
            spec = declared.get(mv.name)
            if spec is None:
                raise UndeclaredOutput(
                    f"metric {self.name!r} emitted value {mv.name!r}, which it does not declare "
                    f"(it declares {list(declared)})"
                )
            if mv.unit != spec.unit:
                raise UndeclaredOutput(
                    f"metric {self.name!r} emitted value {mv.name!r} in {mv.unit!r}; it declares {spec.unit!r}"
                )
            if mv.mode not in spec.modes:
                raise UndeclaredOutput(
                    f"metric {self.name!r} emitted value {mv.name!r} with mode {mv.mode!r}; "
                    f"it declares {list(spec.modes)}"
                )
        kinds = {a.kind for a in self.artifacts}
        for a in result.artifacts:
            if a.kind not in kinds:
                raise UndeclaredOutput(
                    f"metric {self.name!r} returned artifact {a.name!r} of kind {a.kind!r}, "
                    f"which it does not declare (it declares {sorted(kinds)})"
                )


def declared_values(metrics: Sequence[MetricSpec]) -> dict[str, ValueSpec]:
    """Every declared value id of ``metrics`` -> its declaration (a value two metrics declare, e.g.
    ``ev`` in dynamics and oracle, must agree in unit and direction; the one with report columns wins)."""
    out: dict[str, ValueSpec] = {}
    for m in metrics:
        for v in m.values:
            seen = out.get(v.id)
            if seen is not None and (seen.unit, seen.better) != (v.unit, v.better):
                raise ValueError(
                    f"value {v.id!r} is declared as {seen.unit!r}/{seen.better} and, by metric "
                    f"{m.name!r}, as {v.unit!r}/{v.better}"
                )
            if seen is None or (v.shown and not seen.shown):
                out[v.id] = v
    return out
