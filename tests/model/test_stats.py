"""Normalisation statistics: per-element reference energies, force scale, neighbour counts."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from egbench_core.data.readers import Frames
from egbench_core.model.stats import DatasetStats, compute_stats, fit_e0

E0 = {1: -13.6057, 6: -1029.8432, 8: -2041.5571, 29: -44563.25}


def _synthetic(n_frames=40, seed=0, energy_noise=0.0, force_sigma=0.3, fixed=None) -> Frames:
    rng = np.random.default_rng(seed)
    zs, ns, energies = [], [], []
    for _ in range(n_frames):
        if fixed is None:
            counts = rng.integers(0, 6, size=len(E0))
            counts[rng.integers(len(E0))] += 1  # never an empty frame
        else:
            counts = np.asarray(fixed)
        z = np.repeat(list(E0), counts)
        rng.shuffle(z)
        zs.append(z)
        ns.append(len(z))
        energies.append(sum(E0[int(x)] for x in z) + energy_noise * rng.normal())
    n = int(sum(ns))
    return Frames(
        positions=rng.uniform(0, 10, (n, 3)),
        numbers=np.concatenate(zs),
        n_atoms=ns,
        cell=np.zeros((n_frames, 3, 3)),
        pbc=np.zeros((n_frames, 3), bool),
        energy=energies,
        forces=rng.normal(0, force_sigma, (n, 3)),
        source="synthetic",
    )


def test_fit_e0_recovers_per_element_energies():
    f = _synthetic()
    species = f.elements
    assert species == sorted(E0)
    e0 = fit_e0(f, species)
    np.testing.assert_allclose(e0, [E0[z] for z in species], rtol=0, atol=1e-8)


def test_fit_e0_column_order_follows_species_argument():
    f = _synthetic(seed=3)
    order = [29, 1, 8, 6]
    np.testing.assert_allclose(fit_e0(f, order), [E0[z] for z in order], atol=1e-8)


def test_fit_e0_least_squares_with_noise():
    f = _synthetic(n_frames=400, seed=1, energy_noise=0.01)
    e0 = fit_e0(f, f.elements)
    np.testing.assert_allclose(e0, [E0[z] for z in f.elements], atol=5e-3)


def test_fit_e0_fixed_composition_reproduces_structure_sum():
    """One molecule (fixed ratio): E0 is not identifiable per element, but ΣE0 over the
    structure equals the mean energy (the minimum-norm least-squares solution)."""
    f = _synthetic(n_frames=30, seed=2, energy_noise=0.05, fixed=[8, 5, 2, 0])
    species = f.elements
    e0 = fit_e0(f, species)
    total = sum(n * e for n, e in zip([8, 5, 2], e0))
    assert total == pytest.approx(f.energy.mean(), abs=1e-8)


def test_compute_stats_scale_is_force_rms():
    f = _synthetic(seed=4, force_sigma=0.37)
    edges = [3 * int(n) for n in f.n_atoms]
    st = compute_stats(f, cutoff=5.0, edges_per_frame=edges)
    assert st.species == tuple(sorted(E0))
    assert st.scale == pytest.approx(float(np.sqrt(np.mean(f.forces**2))), rel=1e-12)
    assert st.scale == pytest.approx(0.37, rel=0.1)
    np.testing.assert_allclose(st.e0, [E0[z] for z in st.species], atol=1e-8)
    assert st.residual_rms_per_atom == pytest.approx(0.0, abs=1e-9)
    assert st.avg_num_neighbors == pytest.approx(3.0)
    assert DatasetStats.from_dict(st.to_dict()) == st


def test_compute_stats_residual_and_zero_force_fallback():
    f = _synthetic(seed=5)
    f.energy = f.energy + 0.5 * f.n_atoms * np.where(np.arange(len(f)) % 2 == 0, 1.0, -1.0)  # ±0.5 eV/atom
    f.forces[:] = 0.0
    st = compute_stats(f, cutoff=5.0, edges_per_frame=[0] * len(f))
    assert st.scale == 1.0  # no force signal: unit scale rather than a division by zero
    table = dict(zip(st.species, st.e0))
    ref = np.array([sum(table[int(z)] for z in f.numbers[f.atoms_slice(k)]) for k in range(len(f))])
    per_atom = (f.energy - ref) / f.n_atoms
    assert st.shift == pytest.approx(np.mean(per_atom), abs=1e-8)  # the mean goes into the per-atom shift
    want = np.sqrt(np.mean((per_atom - per_atom.mean()) ** 2))
    assert st.residual_rms_per_atom == pytest.approx(want, rel=1e-9)
    assert 0.3 < st.residual_rms_per_atom < 0.7  # the ±0.5 eV/atom that composition cannot explain


def test_compute_stats_counts_neighbours_itself():
    atoms = bulk("Cu", "fcc", a=3.6)  # one atom; 12 + 6 neighbours within 4 Å
    f = Frames.from_atoms([atoms, atoms], energies=[-3.5, -3.5], forces=[np.full((1, 3), 0.2)] * 2)
    st = compute_stats(f, cutoff=4.0)
    assert st.avg_num_neighbors == pytest.approx(18.0)
    assert st.scale == pytest.approx(0.2)
    assert st.e0 == pytest.approx((-3.5,))


def test_compute_stats_needs_labels():
    f = _synthetic(seed=6)
    f.energy[3] = np.nan
    with pytest.raises(ValueError, match="energies and forces"):
        compute_stats(f, cutoff=5.0)
