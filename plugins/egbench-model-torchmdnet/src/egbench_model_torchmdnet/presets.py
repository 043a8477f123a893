"""TorchMD-Net (equivariant transformer) presets: ``smoke`` (tests), ``quick`` (a laptop run),
``paper``.

``paper`` reproduces the authors' released TorchMD-Net configuration files (MDBENCHGNN @
e4ee1e9, ``configs/torchmdnet/...``, themselves torchmd-net's ``examples/ET-MD17.yaml``; the
paper's ESI tables were not available): the architecture exactly, and the training settings that
egbench's one trainer has (see README.md for what it does not have: the 1000-step learning-rate
warm-up and the loss EMA). ``smoke`` and ``quick`` are egbench's own choices for a 2-core CPU.
"""

from __future__ import annotations

from typing import Any

# torchmd-train's names (adapter.DEFAULTS is this dict); `max_num_neighbors` (32, 50 for LiPS20) is absent
# on purpose: it only sizes torchmd-net's own neighbour search, which egbench replaces.
PAPER_MODEL: dict[str, Any] = {
    "embedding_dimension": 128,
    "num_layers": 6,
    "num_heads": 8,
    "num_rbf": 32,
    "rbf_type": "expnorm",
    "trainable_rbf": False,
    "activation": "silu",
    "attn_activation": "silu",
    "neighbor_embedding": True,
    "distance_influence": "both",
    "vector_cutoff": False,  # torchmd-net's default then; the original ET
}

PAPER_TRAIN: dict[str, Any] = {
    "epochs": 5000,  # num_epochs of the MD17 / LiPS / LiPS20 configs (3000 in the acac one)
    "batch_size": 8,
    "lr": 1e-3,  # reached after a 1000-step linear warm-up in torchmd-train (not in egbench)
    "optimizer": "adamw",  # torchmd-net's LightningModule uses AdamW
    "amsgrad": False,
    "weight_decay": 0.0,
    "energy_weight": 0.2,  # y_weight (LiPS20: 0.5)
    "force_weight": 0.8,  # neg_dy_weight (LiPS20: 0.5)
    "scheduler_factor": 0.8,
    "scheduler_patience": 30,
    "min_lr": 1e-7,  # lr_min
    "early_stop_patience": 300,
    "ema_decay": None,  # no weight EMA (ema_alpha_y = 0.05 smooths the logged energy loss, not weights)
    "grad_clip": None,  # gradient_clipping 0.0: off
    "dtype": "float32",  # precision 32
}

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "cutoff": 4.0,
        "model": {"embedding_dimension": 16, "num_layers": 2, "num_heads": 4, "num_rbf": 8},
        "train": {
            "epochs": 2,
            "batch_size": 8,
            "lr": 1e-3,
            "optimizer": "adamw",
            "amsgrad": False,
            "energy_weight": 0.2,
            "force_weight": 0.8,
        },
    },
    "quick": {
        "cutoff": 5.0,
        "model": {"embedding_dimension": 48, "num_layers": 2, "num_heads": 8, "num_rbf": 32},
        # acac (450 frames x 15 atoms), one torch thread: ~4.5 CPU s per epoch (2026-11-24); a fixed
        # number of epochs. lr 2e-3: no warm-up and few epochs (see README)
        "train": {
            "epochs": 40,
            "batch_size": 8,
            "max_batch_atoms": 120,
            "lr": 2e-3,
            "optimizer": "adamw",
            "amsgrad": False,
            "energy_weight": 0.2,
            "force_weight": 0.8,
            "scheduler_factor": 0.8,
            "scheduler_patience": 5,
            "min_lr": 1e-7,
            "grad_clip": None,
        },
    },
    "paper": {"cutoff": 5.0, "model": PAPER_MODEL, "train": PAPER_TRAIN},
}
