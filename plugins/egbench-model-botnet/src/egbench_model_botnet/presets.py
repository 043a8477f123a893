"""BOTNet presets: ``smoke`` (tests), ``quick`` (a short CPU run), ``paper``.

``paper`` is BOTNet as its authors released it for rMD17 / 3BPA (the reference code
github.com/gncs/botnet, ``botnet/tools/arg_parser.py`` defaults: 5 interactions, hidden irreps
32x0e+32x1o+32x2e+32x3o, max_ell 3, 8 Bessel functions, polynomial cutoff p = 6, radial MLP
3 x 64 SiLU, last readout MLP 16x0e SiLU) with egbench's 5 Å cutoff (the cutoff of every model in
the authors' benchmark configs). The training settings are those the authors' configs give
BOTNet in the benchmark ("as MACE": Adam amsgrad, lr 0.01, weight decay 5e-7,
ReduceLROnPlateau factor 0.8 patience 50, EMA 0.99, E 1 : F 10; batch 1-20 and 1000-1500
epochs by dataset): batch 10 (the BOTNet code's default) and 1500 epochs. See README.md.
"""

from __future__ import annotations

from typing import Any

# the settings a preset's ``model`` dict may hold (checked before a build)
MODEL_KEYS = {
    "hidden_irreps",
    "num_interactions",
    "max_ell",
    "num_bessel",
    "num_polynomial_cutoff",
    "radial_mlp",
    "radial_species",
    "mlp_irreps",
    "gate",
    "nonlinear_readout",
}

PAPER_MODEL: dict[str, Any] = {
    "hidden_irreps": "32x0e+32x1o+32x2e+32x3o",
    "num_interactions": 5,
    "max_ell": 3,
    "num_bessel": 8,
    "num_polynomial_cutoff": 6,
    "radial_mlp": [64, 64, 64],
    "radial_species": "pair",
    "mlp_irreps": "16x0e",
    "gate": "silu",
    "nonlinear_readout": True,
}

# fmt: off
# tabular: one row per line (training settings, grouped)
PAPER_TRAIN: dict[str, Any] = {
    "epochs": 1500, "batch_size": 10, "lr": 0.01, "optimizer": "adam", "amsgrad": True,
    "weight_decay": 5e-7, "energy_weight": 1.0, "force_weight": 10.0, "scheduler_factor": 0.8,
    # early_stop_patience: the BOTNet code's --patience default, effectively none
    "scheduler_patience": 50, "ema_decay": 0.99, "early_stop_patience": 2048,
    "grad_clip": 10.0, "dtype": "float32",
}
# fmt: on

# fmt: off
# tabular: one row per line (training settings, grouped)
QUICK_TRAIN: dict[str, Any] = {
    "epochs": 22, "batch_size": 5, "max_batch_atoms": 75, "lr": 0.01, "amsgrad": True,
    "weight_decay": 5e-7, "energy_weight": 1.0, "force_weight": 10.0, "scheduler_factor": 0.8,
    "scheduler_patience": 5,
}
# fmt: on

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "cutoff": 4.0,
        "model": {
            "hidden_irreps": "8x0e+8x1o",
            "num_interactions": 2,
            "max_ell": 1,
            "num_bessel": 4,
            "num_polynomial_cutoff": 6,
            "radial_mlp": [8],
            "radial_species": "pair",
            "mlp_irreps": "8x0e",
            "gate": "silu",
            "nonlinear_readout": True,
        },
        "train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "energy_weight": 1.0, "force_weight": 10.0},
    },
    "quick": {
        # sized on acac (450 training frames x 15 atoms) on 2 CPU cores (2026-11-24): ~8-14 s per
        # epoch; max_ell 1 with 3 layers was better per second than max_ell 2 with 2 or 3 layers,
        # and EMA only lags in so few epochs. Training length is a fixed number of epochs
        "cutoff": 5.0,
        "model": {
            "hidden_irreps": "16x0e+16x1o",
            "num_interactions": 3,
            "max_ell": 1,
            "num_bessel": 8,
            "num_polynomial_cutoff": 6,
            "radial_mlp": [32, 32],
            "radial_species": "pair",
            "mlp_irreps": "16x0e",
            "gate": "silu",
            "nonlinear_readout": True,
        },
        "train": QUICK_TRAIN,
    },
    "paper": {"cutoff": 5.0, "model": PAPER_MODEL, "train": PAPER_TRAIN},
}
