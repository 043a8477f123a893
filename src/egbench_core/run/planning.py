"""Plan the cross product models × datasets × tasks × seeds into cells, with skip reasons and keys.

Every planned combination becomes a cell: either runnable, or skipped with the reason kept in
the store (missing dependency, no such preset, periodic data for a non-periodic model, the task
does not apply to the dataset, data not available offline). A cell's key hashes everything that
can change its numbers (``cell.provenance``): the code of core and of every plugin involved
(distribution, version, source hash), the resolved preset, the data fingerprints, the task plan,
the protocol preset, the metric versions, the seed, device class and precision. A cell already
``done`` under the same key, with intact artifacts, is not recomputed (``runner.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from egbench_core.cell import Cell
from egbench_core.interfaces import SkipCell, TaskPlan, stable_hash
from egbench_core.model import ase_models
from egbench_core.modes import mode_of
from egbench_core.run.protocol import protocol
from egbench_core.run.provenance import plugin_code
from egbench_core.stages import keys as stage_keys

PROTOCOL_VERSION = "3"  # bump when execute.py changes what a cell computes (3: stages)


def select(
    kind: str,
    names: str | Sequence[str] | None,
    available: dict[str, Any],
    families: bool = False,
    problems: dict[str, str] | None = None,
) -> list[str]:
    """``all`` / None → everything; ``a,b`` → those (unknown names are an error naming what exists;
    a broken one is an error with its reason). For tasks a family name (``ood``) selects every
    task of that family."""
    if names is None or names == "all" or names == ["all"]:
        return sorted(available)
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if not wanted:
        raise KeyError(f"no {kind} named: the list is empty; available: {', '.join(sorted(available)) or 'none'}")
    out: list[str] = []
    for n in wanted:
        if n in available:
            out.append(n)
            continue
        fam = [t for t, spec in sorted(available.items()) if families and getattr(spec, "family", "") == n]
        if fam:
            out.extend(fam)
            continue
        why = (problems or {}).get(f"{kind}:{n}")
        if why:
            raise KeyError(f"{kind} {n!r} is broken: {why}")
        if kind == "model":
            from egbench_core.envs.manage import missing_model_hint

            hint = missing_model_hint(n)
            if hint:
                raise KeyError(hint)
        raise KeyError(f"no {kind} named {n!r}; available: {', '.join(sorted(available)) or 'none'}")
    return list(dict.fromkeys(out))


def missing_requirements(requires: Iterable[str]) -> list[str]:
    import importlib.metadata as md

    from packaging.requirements import Requirement

    missing = []
    for r in requires:
        req = Requirement(r)
        try:
            version = md.version(req.name)
        except md.PackageNotFoundError:
            missing.append(f"{r} (not installed)")
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            missing.append(f"{r} (installed {version})")
    return missing


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` → [0, 1, 2]; every seed a non-negative integer (ValueError naming the bad one)."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(f"--seeds {text!r}: {part!r} is not a non-negative integer (e.g. --seeds 0,1,2)")
        seeds.append(int(part))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: a seed is repeated")
    return seeds


def plan_cells(
    catalog,
    models=None,
    datasets=None,
    tasks=None,
    preset: str = "quick",
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    md_engine: str = "batched",
    oracle: str = "auto",
) -> list[Cell]:
    """Cells of models × datasets × tasks × seeds. ``device`` (its class, e.g. "cuda" for
    "cuda:1"), ``dtype`` (None: each preset's), the MD engine and the oracle that will label the
    MD frames (``oracle``: "auto" = the preset's choice, "on", "off") enter every key."""
    proto = protocol(preset)
    seeds = list(seeds) if seeds is not None else [seed]
    for s in seeds:
        if not isinstance(s, int) or s < 0:
            raise ValueError(f"seed {s!r}: expected a non-negative integer")
    m_names, specs, ase_specs = _select_models(catalog, models)
    d_names = select("dataset", datasets, catalog.datasets, problems=catalog.problems)
    t_names = select(
        "task", tasks if tasks is not None else "standard", catalog.tasks, families=True, problems=catalog.problems
    )
    device_class = device.split(":")[0]
    paths = stage_keys.core_paths()
    scoring = metric_provenance(catalog, paths)
    observers = scoring.pop("observers")
    shared = {
        "protocol": PROTOCOL_VERSION,
        "layout": stage_keys.LAYOUT,
        "protocol_preset": proto.to_dict(),
        **scoring,
        "device": device_class,
        "md_engine": md_engine,
    }
    data_cache: dict[str, Any] = {}
    cells = []
    for m in m_names:
        spec = specs[m]
        model_prov = {"id": m, "version": spec.version, "code": _model_code(catalog, spec)}
        model_shared = shared
        if m in ase_specs:
            model_prov.update(ase_models.provenance(ase_specs[m]))
        mode = mode_of(spec)
        if mode.md_engine:  # a calculator-backed model is simulated through its calculator: the ase engine
            model_shared = {**shared, "md_engine": mode.md_engine}
        for d in d_names:
            ds = catalog.datasets[d]
            for t in t_names:
                task = catalog.tasks[t]
                skip_reason, plan = plan_task(catalog, spec, ds, task, preset)
                train_name = (plan.train_dataset if plan is not None else None) or d
                data = {
                    name: _data_ref(catalog, name, data_cache)
                    for name in dict.fromkeys([d, train_name])
                    if name in catalog.datasets
                }
                oracle_ref = _oracle_ref(catalog, ds, oracle, proto) if plan is not None and plan.md else None
                preset_cfg = spec.presets.get(preset)
                precision = mode.precision or dtype or _precision(preset_cfg)
                preset_ref = {"name": preset, "resolved": preset_cfg}
                for s in seeds:
                    cell = Cell(m, preset, d, t, s, plan, skip_reason)
                    cell.provenance = {
                        **model_shared,
                        "model": model_prov,
                        "preset": preset_ref,
                        "data": data,
                        "task": {
                            "id": t,
                            "version": task.version,
                            "code": _code_ref(catalog, task.plugin),
                            "plan": asdict(plan) if plan else None,
                        },
                        "seed": s,
                        "oracle": oracle_ref,
                        "precision": precision,
                    }
                    if oracle_ref is not None and "none" not in oracle_ref:
                        cell.provenance["oracle_code"] = paths["oracle"]
                    if plan is not None and not cell.skip_reason:
                        provs = _stage_provenance(
                            plan,
                            data,
                            d,
                            train_name,
                            s,
                            train={"model": model_prov, "preset": preset_ref, "mode": mode.id, "precision": precision},
                            md={"engine": model_shared["md_engine"], "observers": observers},
                            shared={"proto": proto, "device": device_class, "paths": paths},
                        )
                        cell.stages = {kind: stable_hash(p) for kind, p in provs.items()}
                        cell.provenance["stages"] = provs
                    cell.key = cell_key(cell.provenance, cell.stages)
                    cells.append(cell)
    return cells


def _stage_provenance(
    plan: TaskPlan,
    data: dict[str, Any],
    dataset: str,
    train_name: str,
    seed: int,
    *,
    train: dict,
    md: dict,
    shared: dict,
) -> dict[str, dict[str, Any]]:
    """What each stage of a cell that runs is computed from, by stage (``train``,
    ``evaluate:<split>`` per evaluation split, ``simulate`` where the task has MD and the preset
    replicas): :mod:`egbench_core.stages.keys` hashes each into the stage's key. ``train``: the
    model, preset, mode and precision; ``md``: the engine and the observers; ``shared``: the
    protocol preset, the device class and core's code paths."""
    own = {dataset: data[dataset]}
    train_key, train_prov = stage_keys.train_stage(
        train_data={train_name: data[train_name]}, plan=plan, seed=seed, **train, **shared
    )
    provs = {"train": train_prov}
    for split in plan.eval_splits:
        provs[f"evaluate:{split}"] = stage_keys.evaluate_stage(train_key=train_key, data=own, split=split, **shared)[1]
    if plan.md is not None and shared["proto"].md_replicas > 0:
        provs["simulate"] = stage_keys.simulate_stage(
            train_key=train_key, data=own, plan=plan, seed=seed, **md, **shared
        )[1]
    return provs


def cell_key(provenance: dict[str, Any], stages: dict[str, str]) -> str:
    """A cell's key: everything it is computed from (``provenance``) and its stages' keys."""
    return stable_hash({**provenance, "stage_keys": stages})


def metric_provenance(catalog, paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the installed metrics put in keys: ``metrics`` (each one's version and code) and
    ``score_code`` in the cell's, ``observers`` (the metrics whose observer watches every step of
    the MD, and may end a replica) in the simulate stage's."""
    paths = paths or stage_keys.core_paths()
    metrics = sorted(catalog.metrics.values(), key=lambda m: m.name)
    refs = {
        m.name: {"version": m.version, "code": stage_keys.metric_code(_code_ref(catalog, m.plugin), m)} for m in metrics
    }
    return {
        "metrics": refs,
        "score_code": paths["score"],
        # an observer that may end a replica shapes the trajectories; one that reads saved frames
        # only is replayed over them instead (replay.py), so it is not part of the simulate key
        "observers": {m.name: refs[m.name] for m in metrics if m.observer and not m.observer.saved_frames_only},
    }


def _select_models(catalog, models) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    """The model ids of ``--models``, their specs and the ``ase:`` spec text of each such id:
    installed ids (``all``, ``a,b``) and ``ase:module:Class?k=v`` specs
    (:mod:`egbench_core.model.ase_models`), in the order given."""
    wanted = models.split(",") if isinstance(models, str) else list(models or [])
    if not any(ase_models.is_ase_spec(w) for w in wanted):
        return select("model", models, catalog.models, problems=catalog.problems), catalog.models, {}
    specs: dict[str, Any] = {}
    ase_specs: dict[str, str] = {}
    names: list[str] = []
    for w in (w.strip() for w in wanted):
        if not w:
            continue
        if ase_models.is_ase_spec(w):
            spec = ase_models.ase_model(w)
            if spec.name in catalog.models:
                raise ValueError(f"model spec {w!r}: its id {spec.name!r} is taken by an installed model")
            if spec.name in specs and ase_specs[spec.name] != w:
                raise ValueError(f"model specs {ase_specs[spec.name]!r} and {w!r} give the same id {spec.name!r}")
            ase_specs[spec.name] = w
            specs[spec.name] = spec
            names.append(spec.name)
        else:
            for n in select("model", w, catalog.models, problems=catalog.problems):
                specs[n] = catalog.models[n]
                names.append(n)
    return list(dict.fromkeys(names)), specs, ase_specs


def _oracle_ref(catalog, ds, setting: str, proto) -> dict[str, Any]:
    """The oracle that will label this dataset's MD frames, or ``{"none": why}``: why none will, the
    note the cell's results carry (``execute.run_oracle``), with the oracle that is opt-in where
    there is one. The note depends on the installed oracle plugins (the dataset's oracle plugin not
    installed, or installed and opt-in), so it is part of the key."""
    from egbench_core.run.oracles import OracleError, opt_in_reason, resolve

    try:
        found, why = resolve(catalog, ds)
    except OracleError as exc:
        return {"error": str(exc)}
    if found is None:
        return {"none": why}
    if not (found.exact or setting == "on" or (setting == "auto" and proto.oracle)):
        return {"none": opt_in_reason(found, ds), "oracle": found.describe()}
    return found.describe()


def _precision(preset_cfg: dict[str, Any] | None) -> str:
    return str(((preset_cfg or {}).get("train") or {}).get("dtype", "float32"))


def _code_ref(catalog, plugin: str) -> Any:
    """Core's code is in every key already: built-ins say "core"; a plugin gives its own code."""
    info = catalog.plugins.get(plugin)
    if info is None or info.origin == "built-in":
        return "core"
    return plugin_code(info)


def _model_code(catalog, spec) -> Any:
    if spec.environment:
        from egbench_core.envs.manage import remote_model_code

        return remote_model_code(spec.environment, spec.name)
    return _code_ref(catalog, spec.plugin)


def _data_ref(catalog, name: str, cache: dict[str, Any]) -> Any:
    if name not in cache:
        ds = catalog.datasets[name]
        cache[name] = {"fingerprint": _fingerprint(ds), "code": _code_ref(catalog, ds.plugin)}
    return cache[name]


def _fingerprint(ds) -> dict[str, str]:
    try:
        return ds.fingerprint()
    except Exception as exc:  # noqa: BLE001
        return {"error": str(exc)}


def plan_task(catalog, spec, ds, task, preset: str) -> tuple[str, TaskPlan | None]:
    """Why a cell of ``spec`` × ``ds`` × ``task`` at ``preset`` is skipped (``""``: it runs), and
    its plan (None where the task does not apply). Pure: every decision about what runs — the
    split a zero-shot model refits its offsets on included — is in the plan it returns, which
    execution reads and never re-derives."""
    why = _cannot_run(spec, ds, preset)
    if why is not None:
        return why, None
    try:
        plan = task.plan(ds)
    except SkipCell as exc:
        return str(exc), None
    why = _elements_not_covered(spec, ds)
    if why:
        return why, plan
    train_ds = catalog.datasets.get(plan.train_dataset or ds.name)
    if train_ds is None:
        return f"task {task.name} trains on dataset {plan.train_dataset!r}, which is not installed", plan
    unseen = sorted(set(ds.elements) - set(train_ds.elements))
    if unseen:
        return f"elements {', '.join(unseen)} of {ds.name} never occur in the training data ({train_ds.name})", plan
    plan = mode_of(spec).plan(plan, train_ds)  # a zero-shot model may refit on the validation split
    return _splits_unavailable(catalog, ds, train_ds, plan), plan


def _cannot_run(spec, ds, preset: str) -> str | None:
    """Why model ``spec`` cannot run at ``preset`` here or on ``ds`` whatever the task (None: it can):
    no such preset, its environment or requirements missing, a periodic dataset it does not support."""
    if preset not in spec.presets:
        return f"model {spec.name} has no preset {preset!r} (it has {', '.join(sorted(spec.presets))})"
    if spec.environment:  # its requirements live in that environment, which pip resolved
        from egbench_core.envs.manage import EnvironmentError_, get_env

        try:
            get_env(spec.environment)
        except EnvironmentError_ as exc:
            return str(exc)
    else:
        missing = missing_requirements(spec.requires)
        if missing:
            return f"missing dependency: {'; '.join(missing)}"
    if ds.periodic and not spec.capabilities.periodic:
        return f"model {spec.name} does not support periodic systems and {ds.name} is periodic"
    return None


def _elements_not_covered(spec, ds) -> str:
    """Why model ``spec`` cannot take the elements of ``ds`` (too many, or one it does not cover), or ``""``."""
    if spec.capabilities.max_elements is not None and len(ds.elements) > spec.capabilities.max_elements:
        return (
            f"{ds.name} has {len(ds.elements)} elements; model {spec.name} supports at most "
            f"{spec.capabilities.max_elements}"
        )
    covered = spec.capabilities.elements
    if covered is not None:
        outside = [e for e in ds.elements if _atomic_number(e) not in set(covered)]
        if outside:
            s = "s" if len(outside) > 1 else ""
            return f"model {spec.name} does not cover element{s} {', '.join(outside)} of {ds.name}"
    return ""


def _splits_unavailable(catalog, ds, train_ds, plan: TaskPlan) -> str:
    """Why a split ``plan`` reads (of ``train_ds`` and ``ds``) is not at hand, or ``""``."""
    needed = {train_ds.name: {plan.train_split, plan.val_split}}
    needed.setdefault(ds.name, set()).update(plan.eval_splits)
    if plan.md is not None:
        needed[ds.name].update({plan.md.start_split, plan.md.reference_split})
    for d, splits in needed.items():
        why = catalog.datasets[d].unavailable_reason(sorted(splits))
        if why:
            return f"dataset {d}: {why}; run `egbench fetch {d}` or set EGBENCH_DATA_MIRROR"
    return ""


def _atomic_number(element) -> int:
    """``"Cu"`` or 29 → 29."""
    if isinstance(element, str):
        from ase.data import atomic_numbers

        return atomic_numbers[element]
    return int(element)
