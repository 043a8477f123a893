"""Wright's factor (with and without the square root) and the Jensen–Shannon divergence."""

from __future__ import annotations

import numpy as np
import pytest

from egbench_core.analysis.structure import jsd, wright_factor, wright_factor_nosqrt


@pytest.fixture
def g_ref():
    r = np.linspace(0.025, 5.975, 120)
    return 1.0 + np.exp(-((r - 2.5) ** 2) / 0.02) * 2.0


def test_wright_factor_of_a_ten_percent_scaling(g_ref):
    assert wright_factor(g_ref, g_ref) == 0.0
    assert wright_factor(1.1 * g_ref, g_ref) == pytest.approx(10.0)  # 100 sqrt(0.01)
    assert wright_factor_nosqrt(1.1 * g_ref, g_ref) == pytest.approx(1.0)  # 100 * 0.01
    assert wright_factor(np.zeros_like(g_ref), g_ref) == pytest.approx(100.0)


def test_wright_factor_hand_value():
    # sum (g - ref)^2 = 1 + 4 = 5 ; sum ref^2 = 1 + 1 + 4 = 6
    g, ref = np.array([2.0, 1.0, 4.0]), np.array([1.0, 1.0, 2.0])
    assert wright_factor(g, ref) == pytest.approx(100 * np.sqrt(5 / 6))
    assert wright_factor_nosqrt(g, ref) == pytest.approx(500 / 6)


def test_grid_mismatch_and_zero_reference_raise():
    with pytest.raises(ValueError):
        wright_factor(np.ones(3), np.ones(4))
    with pytest.raises(ValueError):
        wright_factor(np.ones(3), np.zeros(3))


def test_jsd_identity_scale_and_disjoint(g_ref):
    assert jsd(g_ref, g_ref) == pytest.approx(0.0, abs=1e-15)
    assert jsd(3.0 * g_ref, g_ref) == pytest.approx(0.0, abs=1e-15)  # normalised first
    assert jsd([1, 1, 0, 0], [0, 0, 2, 5]) == pytest.approx(np.log(2))
    assert jsd([0, 1, 0, 0, 0], [0, 0, 0, 1, 0]) == pytest.approx(np.log(2))


def test_jsd_hand_value_and_symmetry():
    # p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4); JSD = 1/2 ln(4/3) + 1/4 ln(4/3) = 3/4 ln(4/3)
    assert jsd([1, 0], [1, 1]) == pytest.approx(0.75 * np.log(4 / 3))
    assert jsd([1, 1], [1, 0]) == pytest.approx(0.75 * np.log(4 / 3))
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, q = rng.random(50), rng.random(50)
        v = jsd(p, q)
        assert 0.0 <= v <= np.log(2) and v == pytest.approx(jsd(q, p))


def test_jsd_rejects_negative_or_empty():
    with pytest.raises(ValueError):
        jsd([1, -1], [1, 1])
    with pytest.raises(ValueError):
        jsd([0, 0], [1, 1])
