"""What each stage of a cell is keyed by: the inputs it reads and the code on its path.

* ``train``: the model (id, version, its plugin's code), the resolved preset, the training
  mode, the training dataset's fingerprint, the training and validation splits and how they are
  limited (the protocol's frame/atom caps, subset rule and seed, the training guard), the seed,
  the precision, the device class, and core's ``train`` and ``inputs`` paths;
* ``evaluate`` (one per evaluation split): the ``train`` key, the evaluated dataset's fingerprint,
  the split and its limit, the device class, and core's ``evaluate`` and ``inputs`` paths;
* ``simulate`` (a plan with MD): the ``train`` key, the dataset's fingerprint, the MD plan (engine,
  temperature, timestep, steps, replicas, start frames), the seed, the observers that watch every
  step (an observer that can end a replica shapes the trajectories: its metric's version and code)
  and core's ``simulate`` and ``inputs`` paths.

The cell's own key (``planning.plan_cells``) holds its stages' keys, the task, the oracle, every metric's
version and code and core's ``score`` path: adding or editing a metric changes the cell and
nothing upstream, so the cell is re-scored from its stored stages. The code of a path is the
import closure of its modules (:mod:`egbench_core.stages.code_paths`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from egbench_core.interfaces import stable_hash
from egbench_core.run.protocol import ProtocolPreset
from egbench_core.stages.code_paths import ENTRIES, module_code, stage_code

LAYOUT = "stages-2"  # bump when what a stage computes from the same inputs changes


def core_paths() -> dict[str, dict[str, str]]:
    """Core's code of every path (hashed once per plan)."""
    return {name: stage_code(name) for name in ENTRIES}


def metric_code(plugin_ref: Any, metric) -> Any:
    """A metric's code: its plugin's (``plugin_ref``: distribution, version, source hash), or, for
    a built-in (``plugin_ref == "core"``), the hash of the closure of the module that defines its
    ``compute``."""
    if plugin_ref != "core":
        return plugin_ref
    module = getattr(metric.compute, "__module__", "") or ""
    return {"module": module, "source": module_code(module)} if module.startswith("egbench_core") else "core"


def train_stage(
    *,
    model: dict[str, Any],
    preset: dict[str, Any],
    mode: str,
    train_data: dict[str, Any],
    plan,
    proto: ProtocolPreset,
    seed: int,
    precision: str,
    device: str,
    paths: dict[str, dict[str, str]],
) -> tuple[str, dict[str, Any]]:
    """The key and provenance of the training a cell needs."""
    prov = {
        "stage": "train",
        "layout": LAYOUT,
        "model": model,
        "preset": preset,
        "mode": mode,
        "data": train_data,
        "splits": {"train": plan.train_split, "val": plan.val_split},
        "limits": {
            "max_train_frames": proto.max_train_frames,
            "max_train_atoms": proto.max_train_atoms,
            "max_val_frames": proto.max_val_frames,
            "subset": proto.subset,
            "subset_seed": proto.subset_seed,
            "train_guard_s": proto.train_guard_s,
        },
        "seed": seed,
        "precision": precision,
        "device": device,
        "code": {"train": paths["train"], "inputs": paths["inputs"]},
    }
    return stable_hash(prov), prov


def evaluate_stage(
    *,
    train_key: str,
    data: dict[str, Any],
    split: str,
    proto: ProtocolPreset,
    device: str,
    paths: dict[str, dict[str, str]],
) -> tuple[str, dict[str, Any]]:
    """The key and provenance of a trained model's predictions on one evaluation split."""
    prov = {
        "stage": "evaluate",
        "layout": LAYOUT,
        "train": train_key,
        "data": data,
        "split": split,
        "limits": {"max_eval_frames": proto.max_eval_frames, "subset": proto.subset},
        "device": device,
        "code": {"evaluate": paths["evaluate"], "inputs": paths["inputs"]},
    }
    return stable_hash(prov), prov


def simulate_stage(
    *,
    train_key: str,
    data: dict[str, Any],
    plan,
    proto: ProtocolPreset,
    seed: int,
    engine: str,
    device: str,
    observers: dict[str, Any],
    paths: dict[str, dict[str, str]],
) -> tuple[str, dict[str, Any]]:
    """The key and provenance of the MD of a cell on a trained model."""
    prov = {
        "stage": "simulate",
        "layout": LAYOUT,
        "train": train_key,
        "data": data,
        "md": asdict(plan.md),
        "limits": {
            "md_replicas": proto.md_replicas,
            "md_steps": proto.md_steps,
            "md_save_every": proto.md_save_every,
        },
        "seed": seed,
        "engine": engine,
        "device": device,
        "observers": observers,
        "code": {"simulate": paths["simulate"], "inputs": paths["inputs"]},
    }
    return stable_hash(prov), prov
