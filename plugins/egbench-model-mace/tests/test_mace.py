"""The MACE plugin: core's conformance kit on the smoke preset, and the paper preset's architecture."""

from __future__ import annotations

import pytest
from egbench_model_mace import PRESETS, mace_spec

from egbench_core.testing import ModelConformance, fake_stats
from egbench_core.testing.plugin_tests import ModelPluginChecks

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning"),  # e3nn 0.4.4 scripts its codegen
    pytest.mark.filterwarnings("ignore:The TorchScript type system:UserWarning"),
]


class TestMACEConformance(ModelConformance):
    spec = mace_spec()
    preset = "smoke"


class TestRegistration(ModelPluginChecks):
    plugin = "mace"
    module = "egbench_model_mace"
    models = ("mace",)
    heavy = ("mace", "torch", "e3nn")


def test_paper_preset_builds_the_papers_architecture():
    from egbench_model_mace.adapter import _import_mace

    o3 = _import_mace()["o3"]  # e3nn 0.4.4 must be imported after mace: the adapter does both
    spec = mace_spec()
    cfg = spec.preset("paper")
    species = (1, 6, 8)
    pot = spec.build(species, cfg["cutoff"], cfg["model"], fake_stats(species, cfg["cutoff"]))
    m = pot.mace
    assert type(m).__name__ == "ScaleShiftMACE"
    assert float(m.r_max) == 5.0
    assert int(m.num_interactions) == len(m.interactions) == len(m.products) == 2
    assert m.spherical_harmonics.irreps_out == o3.Irreps.spherical_harmonics(3)  # max_ell 3
    assert m.radial_embedding.out_dim == 8  # Bessel functions
    assert m.radial_embedding.cutoff_fn.p.item() == 5  # polynomial cutoff
    # hidden irreps: all of them between the interactions, scalars only after the last one
    assert m.products[0].linear.irreps_out == o3.Irreps("16x0e+16x1o+16x2e")
    assert m.products[1].linear.irreps_out == o3.Irreps("16x0e")
    assert [p.symmetric_contractions.contractions[0].correlation for p in m.products] == [3, 3]
    readout = m.readouts[-1]
    assert readout.hidden_irreps == o3.Irreps("16x0e")  # MLP irreps
    assert readout.non_linearity.acts[0].f.__name__ == "silu"  # e3nn wraps (and normalises) SiLU
    assert [int(z) for z in m.atomic_numbers] == [1, 6, 8]
    assert m.atomic_energies_fn.atomic_energies.abs().sum() == 0  # core adds the E0s
    assert (float(m.scale_shift.scale), float(m.scale_shift.shift)) == (1.0, 0.0)
    train = cfg["train"]
    assert (train["batch_size"], train["lr"], train["weight_decay"], train["ema_decay"], train["epochs"]) == (
        20,
        0.01,
        5e-7,
        0.99,
        1500,
    )
    assert (train["energy_weight"], train["force_weight"], train["scheduler_factor"], train["scheduler_patience"]) == (
        1.0,
        10.0,
        0.8,
        50,
    )
    assert train["amsgrad"] is True


def test_unknown_model_setting_is_rejected():
    spec = mace_spec()
    with pytest.raises(ValueError, match="unknown MACE settings"):
        spec.build((1, 6), 4.0, {**PRESETS["smoke"]["model"], "hiden_irreps": "8x0e"}, fake_stats((1, 6), 4.0))


def test_torch_safe_loading_is_restored(monkeypatch):
    import os

    from egbench_model_mace import adapter

    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    adapter._MACE.clear()
    adapter._import_mace()
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
