"""The only module that imports ``allegro``: builds ``allegro.model.AllegroModel`` (energy only).

Allegro is a nequip extension package: its model is built by nequip's ``@model_builder`` and runs
on nequip's ``AtomicDataDict``. Everything about that — the data dict built from egbench's
``AtomicGraph`` (edge vectors from ``graph.edge_vectors()``), energy-only output
(``do_derivatives=False``), no per-type scale/shift (core adds the E0s and the scale), egbench's
seed, and undoing ``set_global_state()``'s process-wide side effects — is shared with the NequIP
plugin (:mod:`egbench_model_nequip.adapter`).

Preset keys (``params``): AllegroModel's arguments, except that the two-body radial-chemical
embedding (a hydra ``_target_`` dict upstream) is given by flat keys ``num_bessels``,
``bessel_trainable`` and ``polynomial_cutoff_p`` (:class:`allegro.nn.TwoBodyBesselScalarEmbed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from egbench_model_nequip.adapter import NequIPFamilyPotential, build_graph_model, check_settings

# Keys of the radial-chemical embedding (TwoBodyBesselScalarEmbed) given flat in a preset.
EMBED_SETTINGS = {"num_bessels", "bessel_trainable", "polynomial_cutoff_p"}
ALLEGRO_SETTINGS = EMBED_SETTINGS | {
    "l_max",
    "parity",
    "num_layers",
    "num_scalar_features",
    "num_tensor_features",
    "radial_chemical_embed_dim",
    "scalar_embed_mlp_hidden_layers_depth",
    "scalar_embed_mlp_hidden_layers_width",
    "scalar_embed_mlp_nonlinearity",
    "allegro_mlp_hidden_layers_depth",
    "allegro_mlp_hidden_layers_width",
    "allegro_mlp_nonlinearity",
    "tp_path_channel_coupling",
    "readout_mlp_hidden_layers_depth",
    "readout_mlp_hidden_layers_width",
    "readout_mlp_nonlinearity",
    "weight_individual_irreps",
    "forward_normalize",
}


def allegro_version() -> str:
    import allegro

    return allegro.__version__


def allegro_arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    """Preset keys -> AllegroModel keyword arguments (the embedding as a hydra ``_target_`` dict)."""
    p = check_settings(params, ALLEGRO_SETTINGS, "Allegro")
    embed = {"_target_": "allegro.nn.TwoBodyBesselScalarEmbed"}
    for k in sorted(EMBED_SETTINGS & set(p)):
        embed[k] = p.pop(k)
    p["radial_chemical_embed"] = embed
    p.setdefault("l_max", 1)
    return p


def build_allegro(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    """``AllegroModel`` for ``species`` (sorted atomic numbers) with the architecture in ``params``
    (keys: :data:`ALLEGRO_SETTINGS`, see :mod:`egbench_model_allegro.presets`)."""
    from allegro.model import AllegroModel

    return build_graph_model(AllegroModel, species, cutoff, stats, allegro_arguments(params))


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats) -> NequIPFamilyPotential:
    return NequIPFamilyPotential(build_allegro(species, cutoff, params, stats), species)
