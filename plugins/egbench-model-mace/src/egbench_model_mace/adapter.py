"""The only module that imports ``mace``: builds ``mace.modules.ScaleShiftMACE`` and adapts
egbench's :class:`~egbench_core.model.graph.AtomicGraph` to MACE's input dictionary.

What core owns and MACE therefore does not do here:

* per-element reference energies: MACE gets ``atomic_energies`` = 0 and core's
  ``NormalisedPotential`` adds the least-squares E0s (in float64);
* the energy scale: ``atomic_inter_scale`` = 1, ``atomic_inter_shift`` = 0 (this is exactly what
  ``mace_run_train --model MACE`` builds, with its std replaced by 1 because core multiplies
  the output by ``stats.scale``);
* forces and stress: MACE is called with ``compute_force=False``; core differentiates the
  returned energy with respect to positions and strain. Edge vectors come from
  ``graph.positions`` and ``graph.shifts`` (Cartesian, differentiable w.r.t. the cell), with
  the same convention as MACE: ``r_ij = pos[edge_index[1]] - pos[edge_index[0]] + shift``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from egbench_core.compat import torch_full_load_during_import
from egbench_core.plugin_kit import check_settings

# MACE (and e3nn 0.4.4, which must be imported after it on torch >= 2.6) is imported on first
# build, not when the plugin registers.
_MACE: dict[str, Any] = {}


def _import_mace():
    """Import mace, then e3nn. ``import mace`` sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for the
    whole process (e3nn 0.4.4 reads a constants file with ``torch.load`` at import, which
    torch >= 2.6 refuses in weights-only mode). The variable is only needed during the import,
    so the previous value is restored afterwards: egbench does not turn off torch's safe
    loading for everyone else."""
    if not _MACE:
        with torch_full_load_during_import():
            import mace  # noqa: F401
            from e3nn import o3
            from mace import modules
        _MACE.update(modules=modules, o3=o3, version=mace.__version__)
    return _MACE


def mace_version() -> str:
    return _import_mace()["version"]


def build_mace(species: Sequence[int], cutoff: float, params: Mapping[str, Any], avg_num_neighbors: float):
    """``ScaleShiftMACE`` for ``species`` (sorted atomic numbers) with the architecture in
    ``params`` (see :mod:`egbench_model_mace.presets` for the keys)."""
    m = _import_mace()
    modules, o3 = m["modules"], m["o3"]
    p = dict(params)
    known = {
        "hidden_irreps",
        "num_interactions",
        "correlation",
        "max_ell",
        "num_bessel",
        "num_polynomial_cutoff",
        "MLP_irreps",
        "gate",
        "radial_MLP",
        "interaction",
        "interaction_first",
        "use_reduced_cg",
    }
    check_settings("MACE", p, known)
    gate = p.get("gate", "silu")
    if gate not in modules.gate_dict:
        raise ValueError(f"MACE gate {gate!r}: expected one of {sorted(modules.gate_dict)}")
    species = [int(z) for z in species]
    return modules.ScaleShiftMACE(
        r_max=float(cutoff),
        num_bessel=int(p.get("num_bessel", 8)),
        num_polynomial_cutoff=int(p.get("num_polynomial_cutoff", 5)),
        max_ell=int(p.get("max_ell", 3)),
        interaction_cls=modules.interaction_classes[p.get("interaction", "RealAgnosticResidualInteractionBlock")],
        interaction_cls_first=modules.interaction_classes[p.get("interaction_first", "RealAgnosticInteractionBlock")],
        num_interactions=int(p.get("num_interactions", 2)),
        num_elements=len(species),
        hidden_irreps=o3.Irreps(p.get("hidden_irreps", "16x0e+16x1o+16x2e")),
        MLP_irreps=o3.Irreps(p.get("MLP_irreps", "16x0e")),
        atomic_energies=torch.zeros(len(species), dtype=torch.get_default_dtype()).numpy(),
        avg_num_neighbors=float(avg_num_neighbors),
        atomic_numbers=species,
        correlation=p.get("correlation", 3),
        gate=modules.gate_dict[gate],
        radial_MLP=list(p.get("radial_MLP", [64, 64, 64])),
        use_reduced_cg=bool(p.get("use_reduced_cg", False)),  # mace_run_train's default
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    )


class MACEPotential(torch.nn.Module):
    """``forward(graph) -> Tensor[B]``: MACE's interaction energy, in units of ``stats.scale``."""

    def __init__(self, mace_model: torch.nn.Module, species: Sequence[int]):
        super().__init__()
        self.mace = mace_model
        self.species = tuple(int(z) for z in species)

    def forward(self, graph) -> torch.Tensor:
        dtype = graph.positions.dtype
        positions = graph.positions
        if not positions.requires_grad:
            # MACE calls positions.requires_grad_(True): keep that off the caller's tensor
            positions = positions.detach()
        data = {
            "positions": positions,
            "node_attrs": torch.nn.functional.one_hot(graph.species, len(self.species)).to(dtype),
            "edge_index": graph.edge_index,
            "shifts": graph.shifts,
            "unit_shifts": graph.unit_shifts.to(dtype),
            "cell": graph.cell.reshape(-1, 3),  # MACE stacks the cells of a batch as [3B, 3]
            "batch": graph.batch,
            "ptr": graph.ptr,
        }
        out = self.mace(data, training=self.training, compute_force=False, compute_virials=False, compute_stress=False)
        return out["interaction_energy"]


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats) -> MACEPotential:
    return MACEPotential(build_mace(species, cutoff, params, stats.avg_num_neighbors), species)
