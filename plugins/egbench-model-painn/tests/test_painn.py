"""The PaiNN plugin: core's conformance kit on the smoke preset, and checks of the architecture
itself (equivariant vector features, the first message, filters, the paper preset)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from egbench_model_painn import PRESETS, painn_spec

from egbench_core.model.graph import atoms_to_graph
from egbench_core.testing import ModelConformance, fake_stats, molecule, periodic_box, random_rotation
from egbench_core.testing.plugin_tests import ModelPluginChecks, one_torch_thread  # noqa: F401 (autouse fixture)

SPECIES = (1, 6, 8, 14)


class TestPaiNNConformance(ModelConformance):
    spec = painn_spec()
    preset = "smoke"


def _model(params=None, cutoff=4.0, seed=0):
    spec = painn_spec()
    params = dict(PRESETS["smoke"]["model"] if params is None else params)
    torch.manual_seed(seed)
    return spec.build(SPECIES, cutoff, params, fake_stats(SPECIES, cutoff)).double().eval()


def _graph(atoms, cutoff=4.0):
    return atoms_to_graph(atoms, cutoff, dtype=torch.float64, species=SPECIES)


def _rotated(atoms, rot):
    out = atoms.copy()
    out.positions = atoms.positions @ rot.T
    if np.asarray(atoms.pbc).any():
        out.cell = atoms.cell.array @ rot.T
    return out


@pytest.mark.parametrize("make", [molecule, periodic_box], ids=["molecule", "periodic box"])
def test_vector_features_rotate_with_the_structure(make):
    model = _model()
    atoms = make(SPECIES)
    rot = random_rotation(7)
    with torch.no_grad():
        s, v = model.representation(_graph(atoms))
        s_rot, v_rot = model.representation(_graph(_rotated(atoms, rot)))
    assert v.abs().max() > 1e-3  # non-trivial vector features
    torch.testing.assert_close(s_rot, s, rtol=1e-9, atol=1e-10)  # scalars invariant
    expected = torch.einsum("ab,nbf->naf", torch.as_tensor(rot), v)  # vectors: v -> R v
    torch.testing.assert_close(v_rot, expected, rtol=1e-9, atol=1e-10)


def test_first_message_creates_vectors_only_through_the_direction_term():
    model = _model()
    g = _graph(molecule(SPECIES))
    unit, filters = model.edge_features(g)
    message, _ = model.block(0)
    s = model.embedding(g.species)
    v0 = s.new_zeros((s.shape[0], 3, model.features))  # what representation() starts from
    with torch.no_grad():
        ds, dv = message(s, v0, filters[0], unit, g.edge_index)
        # the direction term alone: sum_j phi_vs(s_j) W_vs(r_ij) r_ij/|r_ij|
        _, _, x_vs = message.split(s, filters[0], g.edge_index[1])
        direction = torch.zeros_like(v0).index_add(0, g.edge_index[0], unit[:, :, None] * x_vs[:, None, :])
    assert dv.abs().max() > 1e-3
    torch.testing.assert_close(dv, direction, rtol=1e-12, atol=1e-12)

    f = model.features
    with torch.no_grad():
        last = message.phi[-1]
        # scrambling the v_j-gating part (phi_vv) changes nothing while v = 0 ...
        last.weight[f : 2 * f] += 10 * torch.randn_like(last.weight[f : 2 * f])
        _, dv_scrambled = message(s, v0, filters[0], unit, g.edge_index)
        torch.testing.assert_close(dv_scrambled, dv, rtol=1e-12, atol=1e-12)
        # ... while removing the direction part (phi_vs) leaves no vector message at all
        last.weight[2 * f :].zero_()
        last.bias[2 * f :].zero_()
        _, dv_none = message(s, v0, filters[0], unit, g.edge_index)
    assert dv_none.abs().max() == 0


def test_update_block_is_equivariant_on_random_vectors():
    model = _model()
    _, update = model.block(1)
    gen = torch.Generator().manual_seed(3)
    s = torch.randn(5, model.features, generator=gen, dtype=torch.float64)
    v = torch.randn(5, 3, model.features, generator=gen, dtype=torch.float64)
    rot = torch.as_tensor(random_rotation(11))
    with torch.no_grad():
        ds, dv = update(s, v)
        ds_r, dv_r = update(s, torch.einsum("ab,nbf->naf", rot, v))
    torch.testing.assert_close(ds_r, ds, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(dv_r, torch.einsum("ab,nbf->naf", rot, dv), rtol=1e-10, atol=1e-12)


def test_shared_and_per_layer_filters():
    base = {"features": 8, "interactions": 3, "n_rbf": 6}
    per_layer = _model({**base, "shared_filters": False})
    shared = _model({**base, "shared_filters": True})
    assert per_layer.filter_net.out_features == 3 * 8 * 3 and shared.filter_net.out_features == 3 * 8
    g = _graph(molecule(SPECIES))
    _, f_shared = shared.edge_features(g)
    assert all(f is f_shared[0] for f in f_shared)
    _, f_per = per_layer.edge_features(g)
    assert len(f_per) == 3 and not torch.equal(f_per[0], f_per[1])
    shared_blocks = _model({**base, "shared_interactions": True})
    assert len(shared_blocks.messages) == len(shared_blocks.updates) == 1
    with torch.no_grad():
        assert torch.isfinite(shared_blocks(g)).all() and torch.isfinite(shared(g)).all()


def test_gaussian_radial_basis_builds_and_is_invariant():
    model = _model({**PRESETS["smoke"]["model"], "rbf_kind": "gaussian"})
    atoms = periodic_box(SPECIES)
    with torch.no_grad():
        e = model(_graph(atoms))
        e_rot = model(_graph(_rotated(atoms, random_rotation(5))))
    torch.testing.assert_close(e_rot, e, rtol=1e-9, atol=1e-10)


def test_paper_preset_is_the_papers_architecture():
    spec = painn_spec()
    cfg = spec.preset("paper")
    assert cfg["cutoff"] == 5.0
    model = spec.build((1, 6, 8), cfg["cutoff"], cfg["model"], fake_stats((1, 6, 8), cfg["cutoff"]))
    assert (model.features, model.interactions, model.radial.n_rbf, model.radial.kind) == (128, 3, 20, "sinc")
    assert len(model.messages) == 3 and model.filter_net.out_features == 3 * 128 * 3  # separate filters
    assert [m.out_features for m in model.readout if isinstance(m, torch.nn.Linear)] == [64, 1]
    train = cfg["train"]
    assert (train["batch_size"], train["lr"], train["energy_weight"], train["force_weight"]) == (10, 1e-3, 0.01, 0.99)


def test_unknown_model_setting_is_rejected():
    with pytest.raises(ValueError, match="unknown PaiNN settings"):
        _model({**PRESETS["smoke"]["model"], "feature": 8})


class TestRegistration(ModelPluginChecks):
    plugin = "painn"
    module = "egbench_model_painn"
    models = ("painn",)
    heavy = ("torch",)
