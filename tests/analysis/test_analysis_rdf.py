"""RDF: hand-checkable lattices, an ideal gas, a molecule, partials, averaging, the MD observer."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from egbench_core.analysis.rdf import (
    RDFAccumulator,
    RDFObserver,
    RDFResult,
    average_rdfs,
    coordination_number,
    max_rdf_radius,
)


def simple_cubic(a: float = 3.0, n: int = 6, numbers=None):
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = grid * a
    z = np.full(len(pos), 29) if numbers is None else numbers(grid)
    return pos, z, np.eye(3) * a * n


def test_max_rdf_radius_cubic_hexagonal_and_molecule():
    assert max_rdf_radius(np.eye(3) * 10.0) == pytest.approx(5.0)
    hexa = [[10, 0, 0], [5, 5 * np.sqrt(3), 0], [0, 0, 20]]  # heights 8.66, 8.66, 20 Å
    assert max_rdf_radius(hexa) == pytest.approx(5 * np.sqrt(3) / 2)
    assert max_rdf_radius(hexa, pbc=[False, False, True]) == pytest.approx(10.0)
    assert max_rdf_radius(np.zeros((3, 3)), pbc=[False] * 3) == np.inf


def test_r_max_is_capped_by_the_cell():
    pos, z, cell = simple_cubic(3.0, 3)  # L = 9 Å -> cap 4.5 Å
    acc = RDFAccumulator()
    acc.add(pos, z, cell, [True] * 3)
    res = acc.result()
    assert res.r_max == pytest.approx(4.5)
    assert len(res.r) == 90 and res.r[0] == pytest.approx(0.025)


def test_simple_cubic_peaks_and_coordination_numbers():
    a, n = 3.0, 6
    pos, z, cell = simple_cubic(a, n)
    acc = RDFAccumulator(r_max=6.0, bin_width=0.05)
    acc.add(pos, z, cell, [True] * 3)
    res = acc.result()
    rho = len(pos) / np.linalg.det(cell)
    for dist, window, cn in [(a, (2.5, 3.5), 6), (np.sqrt(2) * a, (4.0, 4.5), 12), (np.sqrt(3) * a, (5.0, 5.4), 8)]:
        sel = (res.r >= window[0]) & (res.r < window[1])
        assert res.r[sel][np.argmax(res.g[sel])] == pytest.approx(dist, abs=0.05)
        assert coordination_number(res, *window, density=rho) == pytest.approx(cn, rel=1e-3)
    # nothing between the shells
    assert res.g[(res.r > 3.1) & (res.r < 4.2)].max() == 0.0


def test_ideal_gas_gives_one():
    rng = np.random.default_rng(0)
    n, box = 500, 20.0
    acc = RDFAccumulator(r_max=6.0)
    for _ in range(20):
        acc.add(rng.uniform(0, box, (n, 3)), np.full(n, 18), np.eye(3) * box, [True] * 3)
    res = acc.result()
    assert res.n_frames == 20
    far = res.r > 1.0
    assert np.mean(res.g[far]) == pytest.approx(1.0, abs=0.02)
    assert np.abs(res.g[res.r > 3.0] - 1.0).max() < 0.15


def test_partials_rock_salt_order_on_simple_cubic():
    a = 3.0
    pos, z, cell = simple_cubic(a, 6, numbers=lambda g: np.where(g.sum(1) % 2 == 0, 11, 17))
    acc = RDFAccumulator(partial=True)
    acc.add(pos, z, cell, [True] * 3)
    res = acc.result()
    assert set(res.partial) == {(11, 11), (11, 17), (17, 17)}
    rho_b = (len(pos) / 2) / np.linalg.det(cell)
    nn = RDFResult(res.r, res.partial[(11, 17)], bin_width=res.bin_width)
    same = RDFResult(res.r, res.partial[(11, 11)], bin_width=res.bin_width)
    assert coordination_number(nn, 2.5, 3.5, rho_b) == pytest.approx(6, rel=1e-3)  # unlike first shell
    assert coordination_number(same, 2.5, 3.5, rho_b) == 0.0
    assert coordination_number(same, 4.0, 4.5, rho_b) == pytest.approx(12, rel=1e-3)  # like second shell
    assert coordination_number(nn, 5.0, 5.4, rho_b) == pytest.approx(8, rel=1e-3)
    # g = sum over ordered species pairs of x_a x_b g_ab (x = 1/2 each)
    total = 0.25 * (res.partial[(11, 11)] + res.partial[(17, 17)] + 2 * res.partial[(11, 17)])
    np.testing.assert_allclose(res.g, total, atol=1e-12)


def test_molecule_histogram_ignores_the_cell():
    pos = np.array([[0.0, 0, 0], [1.02, 0, 0], [2.04, 0, 0]])  # distances 1.02, 1.02, 2.04 Å (mid-bin)
    out = []
    for cell in (np.zeros((3, 3)), np.eye(3) * 10.0, np.eye(3) * 50.0):
        acc = RDFAccumulator(r_max=3.0, bin_width=0.1)
        acc.add(pos, [6, 6, 8], cell, [False] * 3)
        out.append(acc.result())
    res = out[0]
    assert not res.periodic
    for other in out[1:]:
        np.testing.assert_array_equal(other.g, res.g)
    # 6 ordered pairs: 4 at 1.02 Å, 2 at 2.04 Å; g = n / (N (N-1) dr)
    assert res.g[np.argmin(np.abs(res.r - 1.05))] == pytest.approx(4 / (6 * 0.1))
    assert res.g[np.argmin(np.abs(res.r - 2.05))] == pytest.approx(2 / (6 * 0.1))
    assert np.sum(res.g) * res.bin_width == pytest.approx(1.0)


def test_average_rdfs_and_dict_round_trip():
    r = np.arange(10) * 0.05 + 0.025
    a = RDFResult(r, np.ones(10), {(1, 8): np.zeros(10)}, n_frames=3)
    b = RDFResult(r, 3 * np.ones(10), {(1, 8): np.ones(10)}, n_frames=5)
    empty = RDFResult(np.zeros(0), np.zeros(0), n_frames=0)
    avg = average_rdfs([a, b.to_dict(), empty])
    np.testing.assert_allclose(avg.g, 2.0)
    np.testing.assert_allclose(avg.partial[(1, 8)], 0.5)
    assert avg.n_frames == 8
    back = RDFResult.from_dict(avg.to_dict())
    np.testing.assert_array_equal(back.g, avg.g)
    assert back.partial.keys() == avg.partial.keys()
    with pytest.raises(ValueError):
        average_rdfs([empty])


def test_observer_streams_frames_and_discards_prefix():
    pos, z, cell = simple_cubic(3.0, 4)
    atoms = Atoms(numbers=z, positions=pos, cell=cell, pbc=True)
    obs = RDFObserver(discard_fs=1.0, every=2)
    for step in range(6):  # t = 0, 0.5, ..., 2.5 fs; kept t >= 1: 4 frames, every 2nd -> 2
        assert obs.update(step, 0.5 * step, atoms, 0.0, np.zeros((len(z), 3))) is None
    d = obs.finish()
    assert d["n_frames"] == 2 and d["periodic"] is True
    assert len(d["r"]) == len(d["g"]) == 120
    ref = RDFAccumulator()
    ref.add_atoms(atoms)
    np.testing.assert_allclose(d["g"], ref.result().g)
