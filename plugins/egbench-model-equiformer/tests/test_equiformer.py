"""The Equiformer plugin: core's conformance kit on the smoke preset, the attention (weights sum
to one over each atom's neighbours and follow the neighbours when they are permuted), smoothness
at the cutoff, and the paper preset."""

from __future__ import annotations

import numpy as np
import pytest
from egbench_model_equiformer import PRESETS, equiformer_spec

from egbench_core.testing import ModelConformance, fake_stats
from egbench_core.testing.plugin_tests import ModelPluginChecks, fast_e3nn_builds  # noqa: F401 (autouse fixture)

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning"),  # e3nn scripts its codegen
    pytest.mark.filterwarnings("ignore:The TorchScript type system:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

SPECIES = (1, 6, 8, 14)


class TestEquiformerConformance(ModelConformance):
    spec = equiformer_spec()
    preset = "smoke"


# --------------------------------------------------------------------------------------
# attention
# --------------------------------------------------------------------------------------
def _model(smooth_cutoff: bool = True):
    import torch

    cfg = PRESETS["smoke"]
    torch.manual_seed(3)
    model = equiformer_spec().build(
        SPECIES, cfg["cutoff"], {**cfg["model"], "smooth_cutoff": smooth_cutoff}, fake_stats(SPECIES, cfg["cutoff"])
    )
    return model.to(torch.float64).eval()


def _graph(atoms):
    import torch

    from egbench_core.model.graph import atoms_to_graph

    return atoms_to_graph(atoms, PRESETS["smoke"]["cutoff"], dtype=torch.float64, species=SPECIES)


@pytest.fixture(scope="module")
def model():
    return _model()


def test_attention_weights_sum_to_one_over_each_atoms_neighbours(model):
    import torch

    from egbench_core.testing import molecule, periodic_box

    for atoms in (molecule(SPECIES), periodic_box(SPECIES)):
        g = _graph(atoms)
        with torch.no_grad():
            energy, attention = model(g, return_attention=True)
        assert energy.shape == (1,)
        assert len(attention) == PRESETS["smoke"]["model"]["num_layers"]
        n, heads = len(atoms), PRESETS["smoke"]["model"]["num_heads"]
        for alpha in attention:
            assert alpha.shape == (g.edge_index.shape[1], heads)
            assert (alpha > 0).all()
            sums = torch.zeros(n, heads, dtype=alpha.dtype).index_add(0, g.edge_index[0], alpha)
            assert torch.allclose(sums, torch.ones_like(sums), atol=1e-12)
        # not uniform: the weights depend on the neighbours
        assert float(attention[0].std()) > 1e-4


def test_permuting_neighbours_permutes_the_attention(model):
    """Reordering the edge list, or relabelling the atoms, carries each weight with its edge."""
    import dataclasses

    import torch

    from egbench_core.testing import molecule

    atoms = molecule(SPECIES)
    g = _graph(atoms)
    with torch.no_grad():
        e_ref, att_ref = model(g, return_attention=True)
    # 1) the same neighbours listed in another order
    order = torch.from_numpy(np.random.default_rng(0).permutation(g.edge_index.shape[1]))
    g_perm = dataclasses.replace(g, edge_index=g.edge_index[:, order], unit_shifts=g.unit_shifts[order])
    with torch.no_grad():
        e_perm, att_perm = model(g_perm, return_attention=True)
    assert torch.allclose(e_perm, e_ref, atol=1e-10)
    for a, b in zip(att_perm, att_ref):
        assert torch.allclose(a, b[order], atol=1e-12)
    # 2) the atoms relabelled: edge (i, j) becomes (p(i), p(j))
    perm = np.random.default_rng(1).permutation(len(atoms))
    g_atoms = _graph(atoms[perm])
    with torch.no_grad():
        e_atoms, att_atoms = model(g_atoms, return_attention=True)
    assert torch.allclose(e_atoms, e_ref, atol=1e-10)
    new_index = np.argsort(perm)  # old atom k is new atom new_index[k]
    ref_edges = {(int(new_index[i]), int(new_index[j])): k for k, (i, j) in enumerate(g.edge_index.T.tolist())}
    lookup = [ref_edges[(i, j)] for i, j in g_atoms.edge_index.T.tolist()]
    for a, b in zip(att_atoms, att_ref):
        assert torch.allclose(a, b[lookup], atol=1e-12)


def test_energy_is_smooth_at_the_cutoff(model):
    """With ``smooth_cutoff`` (default) an atom leaving the cutoff changes the energy
    continuously; the original Equiformer jumps there."""
    import torch
    from ase import Atoms

    cutoff = PRESETS["smoke"]["cutoff"]

    def jump(m):
        energies = []
        for r in (cutoff - 1e-4, cutoff + 1e-4):
            atoms = Atoms("HCO", positions=[[0.0, 0.0, 0.0], [1.1, 0.1, 0.0], [0.0, 0.0, -r]])
            with torch.no_grad():
                energies.append(float(m(_graph(atoms))[0]))
        return abs(energies[0] - energies[1])

    assert jump(model) < 1e-9
    assert jump(_model(smooth_cutoff=False)) > 1e-6


# --------------------------------------------------------------------------------------
# presets and plugin plumbing
# --------------------------------------------------------------------------------------
def test_paper_preset_is_the_md17_variant():
    from e3nn import o3

    cfg = PRESETS["paper"]
    m, t = cfg["model"], cfg["train"]
    assert cfg["cutoff"] == 5.0
    assert (m["num_layers"], m["irreps_node_embedding"], m["irreps_sh"], m["num_basis"], m["basis_type"]) == (
        6,
        "128x0e+64x1e+32x2e",
        "1x0e+1x1e+1x2e",
        32,
        "exp",
    )
    assert (m["num_heads"], m["irreps_head"], m["irreps_mlp_mid"], m["irreps_feature"], m["fc_neurons"]) == (
        4,
        "32x0e+16x1e+8x2e",
        "384x0e+192x1e+96x2e",
        "512x0e",
        [64, 64],
    )
    assert (t["batch_size"], t["lr"], t["epochs"], t["weight_decay"], t["energy_weight"], t["force_weight"]) == (
        8,
        5e-4,
        5000,
        1e-6,
        1.0,
        80.0,
    )
    model = equiformer_spec().build((1, 6, 8), cfg["cutoff"], m, fake_stats((1, 6, 8), cfg["cutoff"]))
    assert len(model.blocks) == 6
    assert [b.shortcut is not None for b in model.blocks] == [False] * 5 + [True]  # last block -> 512x0e
    assert model.blocks[-1].shortcut.irreps_out == o3.Irreps("512x0e")
    assert model.spherical_harmonics.irreps_out == o3.Irreps("1x0e+1x1e+1x2e")
    assert model.rbf.means.shape == (32,)
    ga = model.blocks[0].ga
    assert (ga.num_heads, ga.irreps_head, ga.mul_alpha_head) == (4, o3.Irreps("32x0e+16x1e+8x2e"), 32)
    # the Equiformer paper reports 3.50 M parameters for its MD17 L=2 model
    assert 3.3e6 < sum(p.numel() for p in model.parameters()) < 3.6e6


def test_unknown_model_setting_is_rejected():
    with pytest.raises(ValueError, match="unknown Equiformer settings"):
        equiformer_spec().build(SPECIES, 4.0, {**PRESETS["smoke"]["model"], "num_head": 2}, fake_stats(SPECIES, 4.0))


class TestRegistration(ModelPluginChecks):
    plugin = "equiformer"
    module = "egbench_model_equiformer"
    models = ("equiformer",)
    heavy = ("torch", "e3nn")
