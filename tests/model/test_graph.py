"""Neighbour lists (vesin vs ASE), AtomicGraph batching, and forces / stress by autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from egbench_core.model.graph import atoms_to_graph, collate, graph_parts, neighbour_list
from egbench_core.model.potential import NormalisedPotential, evaluate
from egbench_core.model.stats import DatasetStats

CUTOFF = 4.0


def _pairs(i, j, s, d):
    return {(int(a), int(b), tuple(int(x) for x in sh)): float(r) for a, b, sh, r in zip(i, j, s, d)}


def _compare_with_ase(atoms: Atoms, cutoff: float = CUTOFF) -> dict:
    i, j, s = neighbour_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    vec = atoms.positions[j] - atoms.positions[i] + s @ atoms.cell.array
    ours = _pairs(i, j, s, np.linalg.norm(vec, axis=1))
    ai, aj, a_s, ad = ase_neighbor_list("ijSd", atoms, cutoff)
    theirs = _pairs(ai, aj, a_s, ad)
    assert len(ours) == len(i), "duplicate (i, j, shift) edges"
    assert set(ours) == set(theirs)
    for k, d in theirs.items():
        assert ours[k] == pytest.approx(d, abs=1e-10)
    return ours


def _rattled_cu() -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.08, seed=3)
    return atoms


def test_neighbour_list_periodic_fcc_matches_ase():
    atoms = _rattled_cu()
    pairs = _compare_with_ase(atoms)
    # full list: (i, j, S) present iff (j, i, -S) is
    for i, j, s in pairs:
        assert (j, i, tuple(-x for x in s)) in pairs
    # about 12 + 6 neighbours per atom within 4 Å in fcc Cu (a = 3.61)
    assert 16 * len(atoms) <= len(pairs) <= 20 * len(atoms)


def test_neighbour_list_triclinic_and_slab_match_ase():
    prim = bulk("Cu", "fcc", a=3.61).repeat((2, 1, 3))  # non-orthogonal cell
    prim.rattle(0.05, seed=4)
    _compare_with_ase(prim)
    slab = fcc111("Cu", (2, 2, 3), vacuum=5.0)  # periodic in x, y only
    slab.rattle(0.05, seed=5)
    pairs = _compare_with_ase(slab)
    assert all(s[2] == 0 for _, _, s in pairs)


def test_neighbour_list_molecule_matches_ase():
    mol = molecule("CH3CH2OH")
    assert not mol.pbc.any()
    pairs = _compare_with_ase(mol)
    assert all(s == (0, 0, 0) for _, _, s in pairs)
    n = len(mol)
    d = np.linalg.norm(mol.positions[:, None] - mol.positions[None], axis=-1)
    brute = {(a, b) for a in range(n) for b in range(n) if a != b and d[a, b] < CUTOFF}
    assert {(i, j) for i, j, _ in pairs} == brute and len(brute) < n * (n - 1)
    # a molecule inside a (too small) box with pbc False ignores the cell
    boxed = mol.copy()
    boxed.cell = [3.0, 3.0, 3.0]
    i, j, s = neighbour_list(boxed.positions, boxed.cell.array, boxed.pbc, CUTOFF)
    assert set(zip(i.tolist(), j.tolist())) == brute and not s.any()


def test_small_periodic_cell_sees_its_own_images():
    one = bulk("Cu", "fcc", a=3.6)  # primitive cell, a single atom
    assert len(one) == 1
    pairs = _compare_with_ase(one)
    # fcc: 12 neighbours at a/√2 and 6 at a; next shell (a·√1.5 = 4.41 Å) is beyond 4 Å
    assert len(pairs) == 18
    assert all(i == 0 and j == 0 and s != (0, 0, 0) for i, j, s in pairs)
    d = np.sort(np.array(list(pairs.values())))
    np.testing.assert_allclose(d[:12], 3.6 / np.sqrt(2), atol=1e-10)
    np.testing.assert_allclose(d[12:], 3.6, atol=1e-10)
    # two atoms in a cell smaller than the cutoff: images of both
    tiny = Atoms("Cu2", positions=[[0, 0, 0], [1.3, 1.2, 1.1]], cell=[2.6, 2.5, 2.4], pbc=True)
    _compare_with_ase(tiny)


def test_degenerate_periodic_cell_raises():
    with pytest.raises(ValueError, match="degenerate"):
        neighbour_list(np.zeros((1, 3)), np.zeros((3, 3)), [True, True, True], CUTOFF)


def test_collate_two_structures():
    mol = molecule("H2O")
    cu = _rattled_cu()
    parts = [graph_parts(a.positions, a.numbers, a.cell.array, a.pbc, CUTOFF) for a in (mol, cu)]
    g = collate(parts, dtype=torch.float64)
    n0, n1 = len(mol), len(cu)
    e0 = parts[0].edge_index.shape[1]
    assert g.num_graphs == 2 and g.n_atoms.tolist() == [n0, n1] and g.ptr.tolist() == [0, n0, n0 + n1]
    assert g.batch.tolist() == [0] * n0 + [1] * n1
    assert g.edge_index.shape[1] == e0 + parts[1].edge_index.shape[1]
    np.testing.assert_array_equal(g.edge_index[:, :e0].numpy(), parts[0].edge_index)
    np.testing.assert_array_equal(g.edge_index[:, e0:].numpy(), parts[1].edge_index + n0)
    assert (g.edge_index[:, e0:] >= n0).all()
    # edges never cross structures
    assert (g.batch[g.edge_index[0]] == g.batch[g.edge_index[1]]).all()
    # edge vectors reproduce ASE's distances, structure by structure
    d = torch.linalg.norm(g.edge_vectors(), dim=1).numpy()
    for atoms, sl, off in [(mol, slice(0, e0), 0), (cu, slice(e0, None), n0)]:
        i = g.edge_index[0, sl].numpy() - off
        j = g.edge_index[1, sl].numpy() - off
        s = g.unit_shifts[sl].numpy()
        want = _pairs(*ase_neighbor_list("ijSd", atoms, CUTOFF)[:3], ase_neighbor_list("d", atoms, CUTOFF))
        got = _pairs(i, j, s, d[sl])
        assert set(got) == set(want)
        for key, r in got.items():
            assert r == pytest.approx(want[key], abs=1e-10)
    # species mapping
    gs = g.with_species([1, 8, 29])
    assert gs.species[:n0].tolist() == [1 if z == 8 else 0 for z in mol.numbers]
    assert (gs.species[n0:] == 2).all()


def test_with_species_unknown_element_raises():
    g = atoms_to_graph(molecule("H2O"), CUTOFF)
    with pytest.raises(ValueError) as info:
        g.with_species([1, 6])
    assert "[8]" in str(info.value)


# -- forces and stress ------------------------------------------------------------------
@pytest.fixture
def make_potential(toy):
    """A float64 toy pair potential over ``species`` with non-trivial weights and E0."""

    def make(species=(29, 79), seed=0) -> NormalisedPotential:
        torch.manual_seed(seed)
        model = toy.Model(len(species), CUTOFF, n_basis=6).double()
        with torch.no_grad():
            model.weights.mul_(10.0)  # make the energy landscape far from flat
        stats = DatasetStats(
            species=tuple(species),
            e0=tuple(-3.0 - k for k in range(len(species))),
            scale=0.7,
            avg_num_neighbors=12.0,
            residual_rms_per_atom=0.1,
        )
        return NormalisedPotential(model, stats, CUTOFF).double()

    return make


def _cuau() -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1))
    atoms.numbers[[1, 5]] = 79
    atoms.rattle(0.1, seed=11)
    return atoms


def _energy(pot, atoms) -> float:
    g = atoms_to_graph(atoms, pot.cutoff, dtype=torch.float64, species=pot.species)
    return float(evaluate(pot, g, forces=False)["energy"].detach()[0])


def test_reference_energies_and_scale_enter_the_energy(make_potential):
    pot = make_potential()
    atoms = _cuau()
    g = atoms_to_graph(atoms, CUTOFF, dtype=torch.float64, species=pot.species)
    with torch.no_grad():
        e = float(pot(g)[0])
        raw = float(pot.model(g.with_species(pot.species))[0])
    n_cu, n_au = int((atoms.numbers == 29).sum()), int((atoms.numbers == 79).sum())
    assert e == pytest.approx(n_cu * -3.0 + n_au * -4.0 + 0.7 * raw, abs=1e-12)
    assert abs(raw) > 1e-3


@pytest.mark.parametrize("system", ["periodic", "molecule"])
def test_forces_are_minus_gradient(system, make_potential):
    if system == "periodic":
        atoms, pot = _cuau(), make_potential()
    else:
        atoms = molecule("CH3CH2OH")
        atoms.rattle(0.05, seed=1)
        pot = make_potential(species=(1, 6, 8))
    g = atoms_to_graph(atoms, CUTOFF, dtype=torch.float64, species=pot.species)
    forces = evaluate(pot, g, forces=True)["forces"].detach().numpy()
    assert forces.dtype == np.float64 and np.abs(forces).max() > 1e-2
    h = 1e-5
    fd = np.zeros_like(forces)
    for a in range(len(atoms)):
        for k in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[a, k] += h
            minus.positions[a, k] -= h
            fd[a, k] = -(_energy(pot, plus) - _energy(pot, minus)) / (2 * h)
    np.testing.assert_allclose(forces, fd, atol=1e-6, rtol=1e-6)
    if system == "molecule":  # no external field: forces sum to zero
        np.testing.assert_allclose(forces.sum(0), 0.0, atol=1e-10)


def test_stress_is_strain_derivative_over_volume(make_potential):
    atoms = _cuau()
    pot = make_potential()
    g = atoms_to_graph(atoms, CUTOFF, dtype=torch.float64, species=pot.species)
    stress = evaluate(pot, g, forces=True, stress=True)["stress"].detach().numpy()[0]
    assert np.abs(stress).max() > 1e-4
    np.testing.assert_allclose(stress, stress.T, atol=1e-12)
    h = 1e-5
    volume = atoms.get_volume()
    fd = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            e = []
            for sign in (1, -1):
                eps = np.zeros((3, 3))
                eps[a, b] += 0.5 * sign * h
                eps[b, a] += 0.5 * sign * h
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
                e.append(_energy(pot, strained))
            fd[a, b] = (e[0] - e[1]) / (2 * h) / volume
    np.testing.assert_allclose(stress, fd, atol=1e-7, rtol=1e-6)


def test_energy_only_and_batched_evaluation_agree(make_potential):
    pot = make_potential(species=(1, 6, 8, 29, 79))
    mol, cu = molecule("CH3CH2OH"), _cuau()
    parts = [graph_parts(a.positions, a.numbers, a.cell.array, a.pbc, CUTOFF) for a in (mol, cu)]
    both = evaluate(pot, collate(parts, torch.float64, pot.species), forces=True)
    for k, a in enumerate((mol, cu)):
        single = evaluate(pot, atoms_to_graph(a, CUTOFF, torch.float64, pot.species), forces=True)
        assert float(both["energy"].detach()[k]) == pytest.approx(float(single["energy"].detach()[0]), abs=1e-10)
        assert _energy(pot, a) == pytest.approx(float(single["energy"].detach()[0]), abs=1e-10)
        sl = slice(0, len(mol)) if k == 0 else slice(len(mol), None)
        np.testing.assert_allclose(both["forces"][sl].detach().numpy(), single["forces"].detach().numpy(), atol=1e-10)


def _frames_of(atoms_list):
    from egbench_core.data.readers import Frames

    return Frames.from_atoms(atoms_list)


def test_neighbour_lists_are_built_once_per_frame_set_and_cutoff(monkeypatch):
    from egbench_core.model import graph, neighbours

    frames = _frames_of([_rattled_cu(), molecule("CH3CH2OH"), bulk("Cu", "fcc", a=3.6)])
    fresh = graph.frames_to_parts(frames, CUTOFF)
    calls = []
    real = neighbours.neighbour_list
    monkeypatch.setattr(neighbours, "neighbour_list", lambda *a: calls.append(1) or real(*a))
    cache = graph.NeighbourLists()
    first = graph.frames_to_parts(frames, CUTOFF, cache, count=2)  # lazily: two frames only
    assert len(first) == 2 and len(calls) == 2 and cache.built == 2
    every = graph.frames_to_parts(frames, CUTOFF, cache)
    assert len(calls) == 3 and every[:2] == first and all(a is b for a, b in zip(every, first))
    again = cache.parts(frames, CUTOFF)
    assert len(calls) == 3 and all(a is b for a, b in zip(again, every))
    for a, b in zip(every, fresh):  # the same edges in the same order as built afresh
        np.testing.assert_array_equal(a.edge_index, b.edge_index)
        np.testing.assert_array_equal(a.unit_shifts, b.unit_shifts)
    cache.parts(frames, 3.0)  # another cutoff: its own lists
    copy = frames.subset(np.arange(len(frames)))  # another frame set (equal arrays): its own lists
    cache.parts(copy, CUTOFF)
    assert len(calls) == 9 and cache.built == 9
