"""The DimeNet++ plugin: core's conformance kit on the smoke preset, the periodic triplet builder
against a brute-force enumeration, and the angular part of the architecture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from egbench_model_dimenet import PRESETS, dimenet_spec
from egbench_model_dimenet.triplets import triplets

from egbench_core.model.graph import atoms_to_graph, neighbour_list
from egbench_core.testing import ModelConformance, fake_stats, molecule, periodic_box, toy_pair_spec
from egbench_core.testing.plugin_tests import ModelPluginChecks, one_torch_thread  # noqa: F401 (autouse fixture)

SPECIES = (1, 6, 8, 14)

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:DeprecationWarning")  # torch_geometric import


class TestDimeNetConformance(ModelConformance):
    spec = dimenet_spec()
    preset = "smoke"


def _model(cutoff=4.0, species=SPECIES, seed=0, **overrides):
    torch.manual_seed(seed)
    params = {**PRESETS["smoke"]["model"], **overrides}
    return dimenet_spec().build(species, cutoff, params, fake_stats(species, cutoff)).double().eval()


# -- triplets ---------------------------------------------------------------------------------
def _brute_force_triplets(atoms, cutoff):
    """Every (e_kj, e_ji) with e_kj = (j, k) starting where e_ji = (i, j) ends, except when k's
    image (seen from i) is i itself — decided from Cartesian positions, not from shift algebra."""
    i, j, s = neighbour_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    pos, cell = atoms.positions, atoms.cell.array
    out = set()
    for e_ji in range(len(i)):
        for e_kj in np.flatnonzero(i == j[e_ji]):
            k_seen_from_i = pos[j[e_kj]] + (s[e_ji] + s[e_kj]) @ cell
            if np.linalg.norm(k_seen_from_i - pos[i[e_ji]]) > 1e-6:
                out.add((int(e_kj), int(e_ji)))
    return out, (i, j, s)


@pytest.mark.parametrize(
    "make,cutoff",
    [(periodic_box, 4.0), (periodic_box, 3.4), (molecule, 2.5)],
    ids=["box 4.0 A", "box 3.4 A", "molecule"],
)
def test_triplets_match_brute_force_enumeration(make, cutoff):
    atoms = make(SPECIES)
    expected, (i, j, s) = _brute_force_triplets(atoms, cutoff)
    edge_index = torch.from_numpy(np.stack([i, j]))
    idx_kj, idx_ji = triplets(edge_index, torch.from_numpy(s), len(atoms))
    got = list(zip(idx_kj.tolist(), idx_ji.tolist()))
    assert len(got) == len(set(got)), "duplicate triplets"
    assert set(got) == expected
    if atoms.pbc.any():
        # periodic images make k == i (another image of i) a genuine triplet: the molecular rule
        # i != k would have dropped these
        k_is_i = sum(1 for kj, ji in got if j[kj] == i[ji])
        assert k_is_i > 0


def test_triplets_in_a_batch_are_offset_per_structure():
    structs = [periodic_box(SPECIES), molecule(SPECIES)]
    g = atoms_to_graph(structs[0], 4.0)
    from egbench_core.model.graph import collate, graph_parts

    parts = [graph_parts(a.positions, a.numbers, a.cell.array, a.pbc, 4.0) for a in structs]
    batch = collate(parts)
    idx_kj, idx_ji = triplets(batch.edge_index, batch.unit_shifts, int(batch.positions.shape[0]))
    one_kj, one_ji = triplets(g.edge_index, g.unit_shifts, len(structs[0]))
    n_first = g.edge_index.shape[1]
    first = idx_ji < n_first
    assert torch.equal(idx_kj[first], one_kj) and torch.equal(idx_ji[first], one_ji)
    # no triplet mixes the two structures
    assert torch.equal(batch.batch[batch.edge_index[0][idx_kj]], batch.batch[batch.edge_index[0][idx_ji]])


# -- the angular part ------------------------------------------------------------------------
def _bent_triatomic(angle_deg: float) -> Atoms:
    """C-C-C with both bonds 1.0 Å and the given angle at the middle atom; the outer atoms are
    further apart than the cutoff used below (1.5 Å) for every angle tested."""
    a = np.radians(angle_deg)
    pos = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0 - np.cos(a), np.sin(a), 0.0]]
    return Atoms("C3", positions=pos)


def test_same_distances_different_angles_give_different_energies():
    cutoff, species = 1.5, (6,)
    structs = [_bent_triatomic(a) for a in (100.0, 130.0, 180.0)]
    for s in structs:  # the same edges with the same lengths, only the angle differs
        i, j, _ = neighbour_list(s.positions, s.cell.array, s.pbc, cutoff)
        assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    graphs = [atoms_to_graph(s, cutoff, dtype=torch.float64, species=species) for s in structs]

    toy = toy_pair_spec()
    torch.manual_seed(0)
    pair = toy.build(species, cutoff, toy.presets["smoke"]["model"], None).double()
    with torch.no_grad():
        pair_e = [float(pair(g)) for g in graphs]
    assert max(pair_e) - min(pair_e) < 1e-12  # a pair model cannot tell these apart

    model = _model(cutoff, species)
    with torch.no_grad():
        e = [float(model(g)) for g in graphs]
    assert min(abs(e[0] - e[1]), abs(e[1] - e[2]), abs(e[0] - e[2])) > 1e-6, e


def test_zero_output_initialiser_gives_zero_energy():
    """Why the presets use glorot_orthogonal: torch-geometric's default makes E = 0 at init."""
    model = _model(output_initializer="zeros")
    g = atoms_to_graph(molecule(SPECIES), 4.0, dtype=torch.float64, species=SPECIES)
    with torch.no_grad():
        assert float(model(g).abs().max()) == 0.0
    assert float(_model()(g).detach().abs().max()) > 1e-3


def test_collinear_triplets_keep_gradients_finite():
    """A linear chain has angles of exactly 0 / pi: the cross-product norm must not give NaN."""
    atoms = Atoms("C3", positions=[[0, 0, 0], [1.2, 0, 0], [2.4, 0, 0]])
    model = _model(3.0, (6,))
    g = atoms_to_graph(atoms, 3.0, dtype=torch.float64, species=(6,))
    pos = g.positions.clone().requires_grad_(True)
    from dataclasses import replace

    e = model(replace(g, positions=pos)).sum()
    (f,) = torch.autograd.grad(e, pos, create_graph=True)
    assert torch.isfinite(f).all()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad((f**2).sum(), params, allow_unused=True)
    assert all(torch.isfinite(x).all() for x in grads if x is not None)


# -- presets and registration ----------------------------------------------------------------
def test_paper_preset_matches_the_authors_dimenetpp_configs():
    cfg = dimenet_spec().preset("paper")
    m = cfg["model"]
    assert cfg["cutoff"] == 5.0
    assert (m["hidden_channels"], m["out_emb_channels"], m["int_emb_size"], m["basis_emb_size"], m["num_blocks"]) == (
        128,
        256,
        64,
        8,
        4,
    )
    assert (m["num_spherical"], m["num_radial"], m["envelope_exponent"]) == (7, 6, 5)
    assert (m["num_before_skip"], m["num_after_skip"], m["num_output_layers"]) == (1, 2, 3)
    t = cfg["train"]
    assert (t["batch_size"], t["lr"], t["amsgrad"], t["scheduler_factor"], t["scheduler_patience"]) == (
        1,
        1e-3,
        True,
        0.8,
        5,
    )
    assert (t["energy_weight"], t["force_weight"], t["ema_decay"], t["grad_clip"], t["epochs"]) == (
        1.0,
        1000.0,
        0.999,
        10.0,
        2000,
    )


def test_blocks_are_torch_geometrics():
    model = _model()
    from torch_geometric.nn.models import dimenet as pyg

    assert isinstance(model.rbf, pyg.BesselBasisLayer) and isinstance(model.sbf, pyg.SphericalBasisLayer)
    assert isinstance(model.emb, pyg.EmbeddingBlock)
    assert all(isinstance(b, pyg.InteractionPPBlock) for b in model.interaction_blocks)
    assert all(isinstance(b, pyg.OutputPPBlock) for b in model.output_blocks)
    assert len(model.interaction_blocks) == 2 and len(model.output_blocks) == 3
    assert model.sbf.cutoff == 4.0 and _model(cutoff=2.5).sbf.cutoff == 2.5  # cached basis, own cutoff


def test_unknown_model_setting_is_rejected():
    with pytest.raises(ValueError, match="unknown DimeNet"):
        _model(hidden=8)


class TestRegistration(ModelPluginChecks):
    plugin = "dimenet"
    module = "egbench_model_dimenet"
    models = ("dimenet",)
    heavy = ("torch", "torch_geometric")


def test_only_the_adapter_imports_torch_geometric():
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "egbench_model_dimenet"
    pattern = re.compile(r"^\s*(from|import)\s+torch_geometric\b", re.MULTILINE)
    assert sorted(p.name for p in src.glob("*.py") if pattern.search(p.read_text())) == ["adapter.py"]
