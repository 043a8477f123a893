"""MACE presets: ``smoke`` (tests), ``quick`` (a laptop run), ``paper``.

``paper`` reproduces the authors' released MACE configuration files (MDBENCHGNN @ e4ee1e9; the
paper's ESI tables were not available): the architecture exactly, and the training settings
that egbench's one trainer has (see README.md for what it does not have: the SWA stage, and
per-dataset batch sizes). ``smoke`` and ``quick`` are egbench's own choices for a 2-core CPU.
"""

from __future__ import annotations

from typing import Any

# The architecture of the paper's configs; what those configs do not set (interaction blocks,
# radial MLP, reduced CG basis) takes mace_run_train's defaults.
PAPER_MODEL: dict[str, Any] = {
    "hidden_irreps": "16x0e+16x1o+16x2e",
    "num_interactions": 2,
    "correlation": 3,
    "max_ell": 3,
    "num_bessel": 8,
    "num_polynomial_cutoff": 5,
    "MLP_irreps": "16x0e",
    "gate": "silu",
    "radial_MLP": [64, 64, 64],
    "interaction": "RealAgnosticResidualInteractionBlock",
    "interaction_first": "RealAgnosticInteractionBlock",
}

# fmt: off
# tabular: one row per line (training settings, grouped)
PAPER_TRAIN: dict[str, Any] = {
    "epochs": 1500,  # MD17, GeTe (LiPS 500, LiPS20 1000)
    "batch_size": 20,  # aspirin, ethanol, LiPS, GeTe (5 naphthalene / salicylic acid, 10 LiPS20)
    "lr": 0.01, "optimizer": "adam", "amsgrad": True, "weight_decay": 5e-7, "energy_weight": 1.0,
    "force_weight": 10.0, "scheduler_factor": 0.8, "scheduler_patience": 50, "ema_decay": 0.99,
    "early_stop_patience": 2048,  # mace_run_train's --patience default: effectively none
    "grad_clip": 10.0,  # mace_run_train's --clip_grad default
    "dtype": "float32",
}
# fmt: on

# fmt: off
# tabular: one row per line (training settings, grouped)
QUICK_TRAIN: dict[str, Any] = {
    "epochs": 22, "batch_size": 10, "max_batch_atoms": 150, "lr": 0.01, "amsgrad": True,
    "weight_decay": 5e-7, "energy_weight": 1.0, "force_weight": 10.0, "scheduler_factor": 0.8,
    "scheduler_patience": 5, "ema_decay": 0.99,
}
# fmt: on

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "cutoff": 4.0,
        "model": {
            "hidden_irreps": "8x0e+8x1o",
            "num_interactions": 2,
            "correlation": 2,
            "max_ell": 1,
            "num_bessel": 4,
            "num_polynomial_cutoff": 5,
            "MLP_irreps": "8x0e",
            "gate": "silu",
            "radial_MLP": [16, 16],
        },
        "train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "energy_weight": 1.0, "force_weight": 10.0},
    },
    "quick": {
        "cutoff": 5.0,
        "model": {
            "hidden_irreps": "16x0e+16x1o",
            "num_interactions": 2,
            "correlation": 2,
            "max_ell": 2,
            "num_bessel": 8,
            "num_polynomial_cutoff": 5,
            "MLP_irreps": "16x0e",
            "gate": "silu",
            "radial_MLP": [32, 32, 32],
        },
        # a fixed number of epochs, so the numbers do not depend on the machine's load; at most 150
        # atoms per batch (acac's 10 frames), so larger structures get as many optimiser steps per
        # epoch; docs/performance.md has the time and accuracy of every quick cell
        "train": QUICK_TRAIN,
    },
    "paper": {"cutoff": 5.0, "model": PAPER_MODEL, "train": PAPER_TRAIN},
}
