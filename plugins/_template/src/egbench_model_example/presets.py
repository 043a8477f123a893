"""The ``example`` model's presets: ``smoke`` (tests, seconds), ``quick`` (a short CPU run), ``paper``
(the architecture and training of the paper the model comes from). Each is ``{"cutoff": Å,
"model": {...}, "train": {...}}``: ``model`` goes to ``build`` as ``params``, ``train`` holds
``egbench_core.model.train.TrainConfig`` fields."""

from __future__ import annotations

from typing import Any

# the settings a preset's ``model`` dict may hold (checked before a build: a typo fails loudly)
MODEL_KEYS = ("features", "interactions", "rbf")

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "cutoff": 4.0,
        "model": {"features": 16, "interactions": 1, "rbf": 8},
        "train": {"epochs": 3, "batch_size": 8, "lr": 5e-3},
    },
    "quick": {
        "cutoff": 5.0,
        "model": {"features": 32, "interactions": 2, "rbf": 16},
        "train": {"epochs": 30, "batch_size": 8, "lr": 3e-3},
    },
    "paper": {
        "cutoff": 5.0,
        "model": {"features": 64, "interactions": 3, "rbf": 32},
        "train": {"epochs": 1000, "batch_size": 8, "lr": 1e-3, "early_stop_patience": 50},
    },
}
