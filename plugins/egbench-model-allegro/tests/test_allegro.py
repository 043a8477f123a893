"""The Allegro plugin: core's conformance kit on the smoke preset, nequip's global state left as it
was, and the paper preset's architecture (the Allegro 0.2 config mapped onto 0.8's arguments)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from egbench_model_allegro import PRESETS, allegro_spec

from egbench_core.testing import ModelConformance, fake_stats
from egbench_core.testing.plugin_tests import ModelPluginChecks, one_torch_thread  # noqa: F401 (autouse fixture)

SPECIES = (1, 6, 8, 14)


class TestAllegroConformance(ModelConformance):
    spec = allegro_spec()
    preset = "smoke"


def _build(params=None, species=SPECIES, cutoff=4.0):
    params = dict(PRESETS["smoke"]["model"] if params is None else params)
    return allegro_spec().build(species, cutoff, params, fake_stats(species, cutoff))


@pytest.mark.parametrize("default_dtype", [torch.float32, torch.float64])
def test_build_leaves_dtype_and_rng_as_they_were(monkeypatch, default_dtype):
    import nequip.utils.global_state as gs

    # run nequip's first-time initialisation (seed_everything(123), default dtype float64, ...)
    monkeypatch.setattr(gs, "_GLOBAL_STATE_INITIALIZED", False)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(default_dtype)
    try:
        torch.manual_seed(11)
        np.random.seed(11)
        random.seed(11)
        rng = (torch.get_rng_state().clone(), np.random.get_state()[1].copy(), random.getstate())
        pot = _build()
        assert gs._GLOBAL_STATE_INITIALIZED  # the first-time path really ran
        assert torch.get_default_dtype() == default_dtype
        assert torch.equal(torch.get_rng_state(), rng[0]), "torch's global RNG state changed"
        assert np.array_equal(np.random.get_state()[1], rng[1]), "numpy's global RNG state changed"
        assert random.getstate() == rng[2], "random's state changed"
        assert pot.model_dtype == default_dtype
    finally:
        torch.set_default_dtype(previous)


def test_settings_owned_by_egbench_or_unknown_are_rejected():
    with pytest.raises(ValueError, match="set by egbench"):
        _build({**PRESETS["smoke"]["model"], "avg_num_neighbors": 12.0})
    with pytest.raises(ValueError, match="unknown Allegro settings"):
        _build({**PRESETS["smoke"]["model"], "env_embed_multiplicity": 8})  # Allegro 0.2's name


def test_paper_preset_builds_the_papers_architecture():
    from e3nn import o3

    spec = allegro_spec()
    cfg = spec.preset("paper")
    species = (1, 6, 8)
    stats = fake_stats(species, cfg["cutoff"])
    pot = spec.build(species, cfg["cutoff"], cfg["model"], stats)
    net = pot.nequip.model.func  # GraphModel -> ForceStressOutput -> SequentialGraphNetwork
    assert pot.nequip.model.do_derivatives is False  # energy only: core does the derivatives
    assert pot.nequip.type_names == ["H", "C", "O"]
    assert net.edge_norm.r_max == 5.0
    # two-body embedding: 8 trainable Bessels, p = 6, -> 128, then 2 x 512 (silu) -> 1024
    bessel = net.radial_chemical_embed.bessel_encode
    assert bessel.num_bessels == 8 and isinstance(bessel.bessel_weights, torch.nn.Parameter)
    assert float(bessel.cutoff.p) == 6.0
    assert net.radial_chemical_embed.irreps_out["edge_embedding"] == o3.Irreps("128x0e")
    assert net.scalar_embed_mlp.mlp_module.dims == [128, 512, 512, 1024]
    # tensor track: l_max 2, full O(3), env-embed multiplicity 64
    assert net.tensor_embed.irreps_out["edge_attrs"] == o3.Irreps.spherical_harmonics(2, p=-1)
    allegro = net.allegro
    assert allegro.num_layers == 2 and len(allegro.latents) == len(allegro.tps) == 2
    assert allegro.num_tensor_features == 64 and allegro.num_scalar_features == 1024
    assert set(allegro.tensor_track_allowed_irreps) == {(1, (ell, p)) for ell in range(3) for p in (1, -1)}
    # latent MLPs: two hidden layers of 1024, 1024 out (+ env weights for the next layer's TP)
    assert all(m.dims[1:3] == [1024, 1024] for m in allegro.latents)
    assert allegro.latents[-1].dims[-1] == 1024
    # edge-energy readout: one hidden layer of 128, linear, one output
    readout = net.edge_readout.mlp_module
    assert readout.dims[1:] == [128, 1] and not readout.is_nonlinear
    shift = net.per_type_energy_scale_shift
    assert float(shift.scales) == 1.0 and float(shift.shifts) == 0.0  # core adds E0s and the scale
    train = cfg["train"]
    assert (train["batch_size"], train["lr"], train["epochs"], train["ema_decay"]) == (1, 0.005, 10000, 0.99)
    assert (train["energy_weight"], train["force_weight"], train["early_stop_patience"]) == (1.0, 1.0, 50)


class TestRegistration(ModelPluginChecks):
    plugin = "allegro"
    module = "egbench_model_allegro"
    models = ("allegro",)
    heavy = ("allegro", "nequip", "torch", "e3nn")


def test_requires_the_nequip_it_was_written_against():
    spec = allegro_spec()
    assert spec.requires == ["nequip-allegro>=0.8,<0.9", "nequip>=0.19,<0.20"]
    assert spec.capabilities.periodic and spec.capabilities.stress
