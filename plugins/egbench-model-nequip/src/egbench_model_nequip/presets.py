"""NequIP presets: ``smoke`` (tests), ``quick`` (a laptop run), ``paper``.

``paper`` reproduces the authors' released NequIP configuration files (MDBENCHGNN @ e4ee1e9,
``configs/nequip/md17/*/*.yaml``; the paper's ESI tables were not available): the architecture
mapped onto nequip 0.19's ``NequIPGNNModel`` arguments, and the training settings that egbench's
one trainer has (see README.md for the differences). ``smoke`` and ``quick`` are egbench's own
choices for a 2-core CPU.
"""

from __future__ import annotations

from typing import Any

# nequip 0.5-era config keys -> nequip 0.19 NequIPGNNModel arguments:
#   num_layers 6, l_max 2, parity true, num_features 32      -> the same names
#   num_basis 8, BesselBasis_trainable true                 -> num_bessels 8, bessel_trainable True
#   PolynomialCutoff_p 6                                     -> polynomial_cutoff_p 6
#   invariant_layers 3, invariant_neurons 64                 -> radial_mlp_depth 3, radial_mlp_width 64
#   nonlinearity_type gate, scalars/gates e: silu, o: tanh   -> nequip 0.19's defaults (unchanged)
#   resnet false, use_sc true                                -> nequip 0.19's defaults (unchanged)
#   avg_num_neighbors auto                                   -> egbench's stats.avg_num_neighbors
#   per_species_rescale (shift: mean per-atom energy, scale: force RMS, trainable)
#                                                            -> core's E0s and force-RMS scale (fixed)
PAPER_MODEL: dict[str, Any] = {
    "num_layers": 6,
    "l_max": 2,
    "parity": True,
    "num_features": 32,
    "num_bessels": 8,
    "bessel_trainable": True,
    "polynomial_cutoff_p": 6,
    "radial_mlp_depth": 3,
    "radial_mlp_width": 64,
}

PAPER_TRAIN: dict[str, Any] = {
    "epochs": 10000,
    "batch_size": 1,
    "lr": 0.005,
    "optimizer": "adam",
    "amsgrad": True,
    "weight_decay": 0.0,
    "energy_weight": 1.0,  # loss_coeffs: forces 1, total_energy [1, PerAtomMSELoss]
    "force_weight": 1.0,
    "scheduler_factor": 0.8,
    "scheduler_patience": 5,
    "min_lr": 1e-6,  # early_stopping_lower_bounds: LR 1e-6
    "early_stop_patience": 50,  # early_stopping_patiences: validation_loss 50
    "ema_decay": 0.99,
    "max_time_s": 604800.0,  # early_stopping_upper_bounds: cumulative_wall 604800 (7 days); a guard: truncated if hit
    "grad_clip": None,  # max_gradient_norm: null
    "dtype": "float32",
}

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "cutoff": 4.0,
        "model": {
            "num_layers": 2,
            "l_max": 1,
            "parity": True,
            "num_features": 4,
            "num_bessels": 4,
            "bessel_trainable": True,
            "polynomial_cutoff_p": 6,
            "radial_mlp_depth": 1,
            "radial_mlp_width": 8,
        },
        "train": {"epochs": 2, "batch_size": 8, "lr": 0.005, "energy_weight": 1.0, "force_weight": 1.0},
    },
    "quick": {
        "cutoff": 5.0,
        "model": {
            "num_layers": 3,
            "l_max": 1,
            "parity": True,
            "num_features": 16,
            "num_bessels": 8,
            "bessel_trainable": True,
            "polynomial_cutoff_p": 6,
            "radial_mlp_depth": 2,
            "radial_mlp_width": 32,
        },
        "train": {
            "epochs": 25,
            "batch_size": 5,
            "max_batch_atoms": 75,
            "lr": 0.005,
            "amsgrad": True,
            "energy_weight": 1.0,
            "force_weight": 1.0,
            "scheduler_factor": 0.8,
            "scheduler_patience": 5,
            "early_stop_patience": 50,
            "ema_decay": 0.99,
            "grad_clip": None,
        },
    },
    "paper": {"cutoff": 5.0, "model": PAPER_MODEL, "train": PAPER_TRAIN},
}
