"""PaiNN presets: ``smoke`` (tests), ``quick`` (a few minutes on a 2-core CPU), ``paper``.

The EGraFFBench release has no PaiNN configuration (the authors ran SchNetPack 2.x's PaiNN), so
``paper`` takes the architecture from the PaiNN paper (Schütt et al., ICML 2021, MD17 section):
3 interaction blocks, 128 features, 5 Å cosine cutoff, 20 radial basis functions
``sin(n π r / r_c) / r``, separate filters per block. Those architectural numbers agree with
SchNetPack 2.x's ``model/representation/painn.yaml``. The training part follows SchNetPack 2.x's
``experiment=md17`` defaults where egbench's trainer has the setting (see README.md).
"""

from __future__ import annotations

from typing import Any

# the settings a preset's ``model`` dict may hold (checked before a build)
MODEL_KEYS = ("features", "interactions", "n_rbf", "rbf_kind", "shared_filters", "shared_interactions", "epsilon")

PAPER_MODEL: dict[str, Any] = {
    "features": 128,
    "interactions": 3,
    "n_rbf": 20,
    "rbf_kind": "sinc",
    "shared_filters": False,
    "shared_interactions": False,
}

PAPER_TRAIN: dict[str, Any] = {
    "epochs": 2000,  # SchNetPack trains until early stopping; a cap
    "batch_size": 10,  # data/md17.yaml
    "lr": 1e-3,  # experiment/md17.yaml (globals.lr)
    "optimizer": "adam",
    "amsgrad": False,  # torch.optim.Adam defaults (task/optimizer/adam.yaml)
    "energy_weight": 0.01,  # experiment/md17.yaml loss weights (MSE), taken literally
    "force_weight": 0.99,
    "scheduler_factor": 0.5,  # task/scheduler/reduce_on_plateau.yaml
    "scheduler_patience": 50,
    "min_lr": 1e-6,
    "early_stop_patience": 150,  # callbacks/earlystopping.yaml
    "ema_decay": 0.995,  # callbacks/ema.yaml
    "grad_clip": None,
    "dtype": "float32",  # transform CastTo32
}

# fmt: off
# tabular: one row per line (training settings, grouped)
QUICK_TRAIN: dict[str, Any] = {
    "epochs": 40, "batch_size": 10, "max_batch_atoms": 150, "lr": 2e-3, "amsgrad": True,
    "energy_weight": 1.0, "force_weight": 10.0, "scheduler_factor": 0.8, "scheduler_patience": 5,
    "ema_decay": 0.99,
}
# fmt: on

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "cutoff": 4.0,
        "model": {"features": 8, "interactions": 2, "n_rbf": 6, "rbf_kind": "sinc", "shared_filters": False},
        "train": {"epochs": 2, "batch_size": 8, "lr": 5e-3},
    },
    "quick": {
        "cutoff": 5.0,
        "model": {"features": 48, "interactions": 2, "n_rbf": 20, "rbf_kind": "sinc", "shared_filters": False},
        # sized on acac (450 frames x 15 atoms) on 2 CPU cores; see README.md for the measurement
        "train": QUICK_TRAIN,
    },
    "paper": {"cutoff": 5.0, "model": PAPER_MODEL, "train": PAPER_TRAIN},
}
