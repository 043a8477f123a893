"""Structure metrics comparing a model RDF g with the reference g_ref on the same grid (docs/metrics.md).

* :func:`wright_factor` — WF = 100·sqrt(Σ(g − g_ref)² / Σ g_ref²) in percent (Wright 1993; the
  default, and what the paper's "acceptable below 9 % for bulk" refers to).
* :func:`wright_factor_nosqrt` — 100·Σ(g − g_ref)² / Σ g_ref², the variant the paper's code
  computes (no square root); for comparison with published numbers only.
* :func:`jsd` — Jensen–Shannon divergence of the RDFs turned into probability vectors over bins,
  natural log, in [0, ln 2].
"""

from __future__ import annotations

import numpy as np


def _pair(g, g_ref) -> tuple[np.ndarray, np.ndarray]:
    g, g_ref = np.asarray(g, dtype=np.float64).reshape(-1), np.asarray(g_ref, dtype=np.float64).reshape(-1)
    if g.shape != g_ref.shape:
        raise ValueError(f"RDFs on different grids: {g.shape[0]} vs {g_ref.shape[0]} bins")
    return g, g_ref


def _relative_squared_error(g, g_ref) -> float:
    g, g_ref = _pair(g, g_ref)
    denom = float(np.sum(g_ref**2))
    if not denom > 0:
        raise ValueError("the reference RDF is zero everywhere")
    return float(np.sum((g - g_ref) ** 2)) / denom


def wright_factor(g, g_ref) -> float:
    """Wright's factor in percent: 100·sqrt(Σ(g − g_ref)² / Σ g_ref²)."""
    return 100.0 * float(np.sqrt(_relative_squared_error(g, g_ref)))


def wright_factor_nosqrt(g, g_ref) -> float:
    """The paper code's Wright factor (no square root), percent: 100·Σ(g − g_ref)² / Σ g_ref²."""
    return 100.0 * _relative_squared_error(g, g_ref)


def jsd(g, g_ref) -> float:
    """Jensen–Shannon divergence (nats) of p = g/Σg and q = g_ref/Σg_ref; bins with p = q = 0 skipped."""
    g, g_ref = _pair(g, g_ref)
    if (g < 0).any() or (g_ref < 0).any():
        raise ValueError("RDFs must be non-negative")
    sp, sq = float(g.sum()), float(g_ref.sum())
    if not (sp > 0 and sq > 0):
        raise ValueError("an RDF is zero everywhere; it cannot be normalised")
    p, q = g / sp, g_ref / sq
    m = 0.5 * (p + q)
    keep = m > 0

    def kl(a: np.ndarray) -> float:
        a, mm = a[keep], m[keep]
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / mm[nz])))

    value = 0.5 * kl(p) + 0.5 * kl(q)
    return float(min(max(value, 0.0), np.log(2.0)))
