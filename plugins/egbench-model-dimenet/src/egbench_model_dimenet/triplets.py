"""Directional-message triplets k -> j -> i over egbench's periodic edge list, in plain torch.

torch-geometric's own ``triplets()`` needs torch-sparse (and its ``radius_graph`` pyg-lib); this
module replaces both with index arithmetic on the edges core already built (vesin).

Conventions. egbench's edge ``e = (i, j) = edge_index[:, e]`` with image shift ``S_e``
(``unit_shifts[e]``) is the message ``j -> i`` of DimeNet (``i`` the centre that receives it); its
vector is ``r_ij = pos[j] - pos[i] + S_e @ cell``. A triplet pairs the message ``e_ji = (i, j)``
with every message ``e_kj = (j, k)`` arriving at ``j``. Seen from ``i``'s cell, the atom ``k`` of
``e_kj`` sits at ``pos[k] + (S_ji + S_kj) @ cell``; the triplet is the back-edge (``k`` *is*
``i``) only if ``k == i`` **and** ``S_ji + S_kj == 0``. With periodic images, ``k == i`` with
any other shift is a genuine triplet (``i``, ``j``'s image, and another image of ``i``), which
the molecular rule ``i != k`` (torch-geometric, OCP) would drop.
"""

from __future__ import annotations

import torch


def triplets(edge_index: torch.Tensor, unit_shifts: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(idx_kj, idx_ji)``: for every triplet, the edge index of the message ``k -> j`` and of the
    message ``j -> i`` it feeds (int64 [T] each). Triplets are grouped by ``idx_ji`` in edge order.

    ``edge_index`` [2, E] (``(i, j)``, full list), ``unit_shifts`` [E, 3] integer images,
    ``num_nodes`` N. Works on batches: structures never share atoms.
    """
    centre, neighbour = edge_index[0], edge_index[1]
    n_edges = centre.numel()
    device = centre.device
    # edges sorted by their centre atom, and where each atom's block starts in that order
    order = torch.argsort(centre, stable=True)
    degree = torch.bincount(centre, minlength=num_nodes)
    block_start = torch.cumsum(degree, 0) - degree
    # edge e_ji = (i, j) pairs with every edge (j, k): deg(j) candidates
    n_candidates = degree[neighbour]
    idx_ji = torch.repeat_interleave(torch.arange(n_edges, device=device), n_candidates)
    first = torch.cumsum(n_candidates, 0) - n_candidates
    local = torch.arange(int(n_candidates.sum()), device=device) - torch.repeat_interleave(first, n_candidates)
    idx_kj = order[torch.repeat_interleave(block_start[neighbour], n_candidates) + local]
    # drop the back-edge: k is i itself (same atom, and the image shifts cancel)
    same_atom = centre[idx_ji] == neighbour[idx_kj]
    shifts_cancel = (unit_shifts[idx_ji] + unit_shifts[idx_kj] == 0).all(dim=-1)
    keep = ~(same_atom & shifts_cancel)
    return idx_kj[keep], idx_ji[keep]
