"""The NequIP plugin: core's conformance kit on the smoke preset, nequip's global state left as it
was, the edge convention, the dtype bookkeeping, and the paper preset's architecture."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from egbench_model_nequip import PRESETS, nequip_spec

from egbench_core.model.graph import atoms_to_graph, collate, graph_parts
from egbench_core.testing import ModelConformance, fake_stats, molecule, periodic_box
from egbench_core.testing.plugin_tests import ModelPluginChecks, one_torch_thread  # noqa: F401 (autouse fixture)

SPECIES = (1, 6, 8, 14)


class TestNequIPConformance(ModelConformance):
    spec = nequip_spec()
    preset = "smoke"


def _build(params=None, species=SPECIES, cutoff=4.0):
    params = dict(PRESETS["smoke"]["model"] if params is None else params)
    return nequip_spec().build(species, cutoff, params, fake_stats(species, cutoff))


def _global_state():
    import e3nn

    return {
        "dtype": torch.get_default_dtype(),
        "torch_rng": torch.get_rng_state().clone(),
        "numpy_rng": np.random.get_state()[1].copy(),
        "random": random.getstate(),
        "env": {k: os.environ.get(k) for k in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS", "PYTORCH_JIT_USE_NNC_NOT_NVFUSER")},
        "e3nn": dict(e3nn.get_optimization_defaults()),
        "sharing": torch.multiprocessing.get_sharing_strategy(),
    }


def _assert_same_state(before, after):
    assert after["dtype"] == before["dtype"]
    assert torch.equal(after["torch_rng"], before["torch_rng"]), "torch's global RNG state changed"
    assert np.array_equal(after["numpy_rng"], before["numpy_rng"]), "numpy's global RNG state changed"
    assert after["random"] == before["random"], "random's state changed"
    assert after["env"] == before["env"]
    assert after["e3nn"] == before["e3nn"]
    assert after["sharing"] == before["sharing"]


@pytest.mark.parametrize("default_dtype", [torch.float32, torch.float64])
def test_build_leaves_dtype_and_rng_as_they_were(monkeypatch, default_dtype):
    import nequip.utils.global_state as gs

    # run nequip's first-time initialisation (seed_everything(123), default dtype float64, ...)
    monkeypatch.setattr(gs, "_GLOBAL_STATE_INITIALIZED", False)
    for k in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS", "PYTORCH_JIT_USE_NNC_NOT_NVFUSER"):
        monkeypatch.delenv(k, raising=False)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(default_dtype)
    try:
        torch.manual_seed(7)
        np.random.seed(7)
        random.seed(7)
        before = _global_state()
        pot = _build()
        assert gs._GLOBAL_STATE_INITIALIZED  # the first-time path really ran
        _assert_same_state(before, _global_state())
        assert pot.model_dtype == default_dtype  # built in egbench's default dtype, not nequip's float64
        # a second build (nequip's state already initialised) leaves it alone too
        _build()
        _assert_same_state(before, _global_state())
    finally:
        torch.set_default_dtype(previous)


def test_edge_convention_matches_nequip():
    """nequip computes edge vectors from (pos, edge_index, cell, edge_cell_shift, batch) exactly
    as egbench's graph.edge_vectors() does, on a batch of a molecule and periodic boxes."""
    from egbench_model_nequip.adapter import atomic_data_dict
    from nequip.nn import with_edge_vectors_

    box = periodic_box(SPECIES)
    structs = [molecule(SPECIES), box, box.repeat((2, 1, 1))]
    g = collate(
        [graph_parts(a.positions, a.numbers, a.cell.array, a.pbc, 4.0) for a in structs],
        dtype=torch.float64,
        species=SPECIES,
    )
    assert (g.unit_shifts != 0).any()  # periodic images are in the batch
    data = with_edge_vectors_(atomic_data_dict(g, edge_vectors=False))
    torch.testing.assert_close(data["edge_vectors"], g.edge_vectors(), rtol=0, atol=1e-12)


def test_model_follows_core_dtype_changes():
    pot = _build()
    assert pot.model_dtype == torch.float32
    g = atoms_to_graph(molecule(SPECIES), 4.0, torch.float64, SPECIES)
    pot.to(torch.float64)
    out_dtypes = {m._output_dtype for m in pot.modules() if hasattr(m, "_output_dtype")}
    assert out_dtypes == {torch.float64}
    e64 = pot(g)
    pot.to(torch.float32)
    assert {m._output_dtype for m in pot.modules() if hasattr(m, "_output_dtype")} == {torch.float32}
    e32 = pot(g.to(dtype=torch.float32))
    assert e64.shape == e32.shape == (1,)
    torch.testing.assert_close(e32.double(), e64, rtol=1e-4, atol=1e-5)


def test_settings_owned_by_egbench_or_unknown_are_rejected():
    with pytest.raises(ValueError, match="set by egbench"):
        _build({**PRESETS["smoke"]["model"], "r_max": 6.0})
    with pytest.raises(ValueError, match="unknown NequIP settings"):
        _build({**PRESETS["smoke"]["model"], "num_feature": 8})


def test_paper_preset_builds_the_papers_architecture():
    from e3nn import o3

    spec = nequip_spec()
    cfg = spec.preset("paper")
    species = (1, 6, 8)
    stats = fake_stats(species, cfg["cutoff"])
    pot = spec.build(species, cfg["cutoff"], cfg["model"], stats)
    net = pot.nequip.model.func  # GraphModel -> ForceStressOutput -> SequentialGraphNetwork
    assert pot.nequip.model.do_derivatives is False  # energy only: core does the derivatives
    assert pot.nequip.type_names == ["H", "C", "O"]
    assert net.edge_norm.r_max == 5.0
    assert net.spharm.irreps_edge_sh == o3.Irreps.spherical_harmonics(2)  # l_max 2
    bessel = net.bessel_encode
    assert bessel.num_bessels == 8 and isinstance(bessel.bessel_weights, torch.nn.Parameter)  # trainable
    assert float(bessel.cutoff.p) == 6.0
    convs = [m for name, m in net.named_children() if name.endswith("_convnet")]
    assert len(convs) == 6
    hidden = o3.Irreps("32x0e+32x0o+32x1e+32x1o+32x2e+32x2o")  # 32 features, l_max 2, parity
    # the first layers hold only the irreps their tensor products can reach; from the third on, all
    assert [c.irreps_out["node_features"].sort().irreps for c in convs[2:-1]] == [hidden.sort().irreps] * 3
    assert all(set(c.irreps_out["node_features"]) <= set(hidden) for c in convs[:-1])
    assert convs[-1].irreps_out["node_features"] == o3.Irreps("32x0e")
    for c in convs:
        dims = c.conv.edge_mlp.dims
        assert dims[:-1] == [8, 64, 64, 64]  # radial MLP: 3 layers of 64 (invariant_layers/neurons)
        assert float(c.conv.avg_num_neighbors_norm.norm_const) == pytest.approx(stats.avg_num_neighbors**-0.5)
    shift = net.per_type_energy_scale_shift
    assert float(shift.scales) == 1.0 and float(shift.shifts) == 0.0  # core adds E0s and the scale
    assert not shift.scales_trainable and not shift.shifts_trainable
    train = cfg["train"]
    assert (train["batch_size"], train["lr"], train["epochs"], train["ema_decay"]) == (1, 0.005, 10000, 0.99)
    assert (train["energy_weight"], train["force_weight"]) == (1.0, 1.0)
    assert (train["scheduler_factor"], train["scheduler_patience"], train["early_stop_patience"], train["min_lr"]) == (
        0.8,
        5,
        50,
        1e-6,
    )
    assert train["amsgrad"] is True and train["dtype"] == "float32"


class TestRegistration(ModelPluginChecks):
    plugin = "nequip"
    module = "egbench_model_nequip"
    models = ("nequip",)
    heavy = ("nequip", "torch", "e3nn")
