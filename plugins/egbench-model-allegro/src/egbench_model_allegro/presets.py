"""Allegro presets: ``smoke`` (tests), ``quick`` (a laptop run), ``paper``.

``paper`` reproduces the authors' released Allegro configuration files (MDBENCHGNN @ e4ee1e9,
``configs/allegro/md17/*/*.yaml``, written for Allegro 0.2; the paper's ESI tables were not
available), mapped onto nequip-allegro 0.8's ``AllegroModel`` arguments as below, and the training
settings that egbench's one trainer has (see README.md). ``smoke`` and ``quick`` are egbench's own
choices for a 2-core CPU.
"""

from __future__ import annotations

from typing import Any

from egbench_model_nequip.presets import PAPER_TRAIN as NEQUIP_PAPER_TRAIN

# Allegro 0.2 config key -> nequip-allegro 0.8 AllegroModel argument:
#   r_max 5.0                                -> the preset's cutoff
#   l_max 2                                  -> l_max 2
#   parity o3_full                           -> parity True (every irrep up to l_max, both parities)
#   num_layers 2                             -> num_layers 2
#   env_embed_multiplicity 64                -> num_tensor_features 64
#   BesselBasis_trainable true (8 Bessels)   -> bessel_trainable True, num_bessels 8
#   PolynomialCutoff_p 6                     -> polynomial_cutoff_p 6
#   two_body_latent_mlp_latent_dimensions [128, 256, 512, 1024], silu
#       0.2: MLP (one-hot types ⊕ Bessel) -> 128 -> 256 -> 512 -> 1024
#       0.8: Bessel -> 128 (x per-type-pair embedding: radial_chemical_embed_dim 128), then a scalar
#            MLP whose hidden layers all share one width: 2 hidden layers of 512 (the wider of 256
#            and 512), output 1024 = num_scalar_features; silu
#   latent_mlp_latent_dimensions [1024, 1024, 1024], silu
#       -> allegro_mlp_hidden_layers_depth 2, allegro_mlp_hidden_layers_width 1024, output
#          num_scalar_features 1024; silu
#   edge_eng_mlp_latent_dimensions [128], nonlinearity null
#       -> readout_mlp_hidden_layers_depth 1, readout_mlp_hidden_layers_width 128, no nonlinearity
#   latent_resnet true                       -> none: 0.8 accumulates the layers' scalar features
#                                               (dense connections) instead of a resnet update
#   env_embed_mlp_latent_dimensions []       -> 0.8's fixed linear env-embedding projection
#   avg_num_neighbors auto                   -> egbench's stats.avg_num_neighbors
#   per_species_rescale (shift: mean per-atom energy, scale: force RMS, trainable)
#                                            -> core's E0s and force-RMS scale (fixed)
PAPER_MODEL: dict[str, Any] = {
    "l_max": 2,
    "parity": True,
    "num_layers": 2,
    "num_tensor_features": 64,
    "num_scalar_features": 1024,
    "num_bessels": 8,
    "bessel_trainable": True,
    "polynomial_cutoff_p": 6,
    "radial_chemical_embed_dim": 128,
    "scalar_embed_mlp_hidden_layers_depth": 2,
    "scalar_embed_mlp_hidden_layers_width": 512,
    "scalar_embed_mlp_nonlinearity": "silu",
    "allegro_mlp_hidden_layers_depth": 2,
    "allegro_mlp_hidden_layers_width": 1024,
    "allegro_mlp_nonlinearity": "silu",
    "readout_mlp_hidden_layers_depth": 1,
    "readout_mlp_hidden_layers_width": 128,
    "readout_mlp_nonlinearity": None,
}

# The same training settings as the NequIP configs (the authors' Allegro configs: "as NequIP"): that
# plugin's own table.
PAPER_TRAIN: dict[str, Any] = dict(NEQUIP_PAPER_TRAIN)

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "cutoff": 4.0,
        "model": {
            "l_max": 1,
            "parity": True,
            "num_layers": 2,
            "num_tensor_features": 4,
            "num_scalar_features": 8,
            "num_bessels": 4,
            "bessel_trainable": True,
            "polynomial_cutoff_p": 6,
            "radial_chemical_embed_dim": 8,
            "scalar_embed_mlp_hidden_layers_depth": 1,
            "scalar_embed_mlp_hidden_layers_width": 8,
            "allegro_mlp_hidden_layers_depth": 1,
            "allegro_mlp_hidden_layers_width": 8,
            "readout_mlp_hidden_layers_depth": 1,
            "readout_mlp_hidden_layers_width": 8,
        },
        "train": {"epochs": 2, "batch_size": 8, "lr": 0.005, "energy_weight": 1.0, "force_weight": 1.0},
    },
    "quick": {
        "cutoff": 5.0,
        "model": {
            "l_max": 1,
            "parity": True,
            "num_layers": 2,
            "num_tensor_features": 16,
            "num_scalar_features": 64,
            "num_bessels": 8,
            "bessel_trainable": True,
            "polynomial_cutoff_p": 6,
            "radial_chemical_embed_dim": 32,
            "scalar_embed_mlp_hidden_layers_depth": 1,
            "scalar_embed_mlp_hidden_layers_width": 64,
            "allegro_mlp_hidden_layers_depth": 1,
            "allegro_mlp_hidden_layers_width": 64,
            "readout_mlp_hidden_layers_depth": 1,
            "readout_mlp_hidden_layers_width": 32,
            "readout_mlp_nonlinearity": None,
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
