"""The only module that imports chgnet: a checkpoint loaded after its sha256 is checked, and an
ASE calculator over it (energy eV, forces eV/Å) that also handles molecules.

CHGNet builds its graphs from a pymatgen ``Structure``, which is always periodic. A structure
without periodic boundaries is placed at the centre of a cubic box whose side leaves more than the
atom-graph cutoff (6 Å) of vacuum between the molecule and its images, so no image is ever a
neighbour: the energy and forces are those of the isolated molecule (and do not depend on the box).
"""

from __future__ import annotations

import contextlib
import io
import logging
from importlib import resources

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from egbench_core.model.pretrained import CheckpointError, verify_checkpoint  # noqa: F401 - CheckpointError re-exported

from .checkpoints import CHECKPOINTS

log = logging.getLogger(__name__)

VACUUM = 2.0  # Å beyond the model's atom-graph cutoff on each side of a molecule


def checkpoint_path(model_id: str):
    ckpt = CHECKPOINTS[model_id]
    return resources.files("chgnet") / ckpt.path


def verify(model_id: str) -> str:
    """The checkpoint's path once its sha256 matches (:class:`CheckpointError` otherwise)."""
    return verify_checkpoint(model_id, checkpoint_path(model_id), CHECKPOINTS[model_id].sha256, "chgnet")


def load_model(model_id: str):
    """The CHGNet network of ``model_id`` on the CPU in eval mode, from the verified checkpoint."""
    from chgnet.model import CHGNet

    ckpt = CHECKPOINTS[model_id]
    path = verify(model_id)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # CHGNet prints its parameter count
        model = CHGNet.from_file(path, mlp_out_bias=ckpt.mlp_out_bias, version=ckpt.chgnet_name)
    if printed.getvalue().strip():
        log.info("%s: %s", model_id, printed.getvalue().strip())
    return model.to("cpu").eval()


def _box(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """(lattice [3,3], origin [3]): the structure's own cell, or for a molecule a cubic box with
    more than ``cutoff`` + VACUUM around it (Cartesian positions minus ``origin`` lie inside)."""
    pbc = np.asarray(pbc, dtype=bool)
    if pbc.all():
        return np.asarray(cell, dtype=np.float64), np.zeros(3)
    if pbc.any():
        raise ValueError(f"CHGNet: periodic in some directions only (pbc={pbc.tolist()}) is not supported")
    extent = positions.max(axis=0) - positions.min(axis=0)
    side = float(extent.max()) + 2 * (cutoff + VACUUM)
    return np.eye(3) * side, positions.mean(axis=0) - side / 2


class CHGNetEnergy(torch.nn.Module):
    """CHGNet as a function of an egbench ``AtomicGraph``: ``forward(graph) -> energy [B]`` (eV, in
    the graph's dtype), differentiable with respect to ``graph.positions``. CHGNet's converter
    builds each structure's graph topology from the (detached) positions; the fractional
    coordinates it feeds the network are computed from ``graph.positions`` in torch, and CHGNet
    forms its Cartesian coordinates and bond vectors from them, so egbench's autograd gives the
    forces (and trains the weights: fine-tuning).

    CHGNet computes in float32 whatever it is handed (``chgnet.model.model.TORCH_DTYPE``, a module
    global its graph code uses): converting this module to float64 keeps CHGNet's weights float32
    (devices do follow), and the energy comes back in the graph's dtype."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.model.graph_converter.set_isolated_atom_response("ignore")
        self.cutoff = float(model.graph_converter.atom_graph_cutoff)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self.model.float()  # float32 -> float64 -> float32 is exact
        return self

    def forward(self, graph):
        from chgnet.model.model import TORCH_DTYPE
        from pymatgen.core import Lattice, Structure

        crystal_graphs, sizes = [], []
        for b in range(int(graph.num_graphs)):
            idx = (graph.batch == b).nonzero().flatten()
            pos = graph.positions[idx]
            numbers = graph.atomic_numbers[idx].detach().cpu().numpy()
            lattice, origin = _box(
                pos.detach().cpu().numpy(),
                graph.cell[b].detach().cpu().numpy(),
                graph.pbc[b].detach().cpu().numpy(),
                self.cutoff,
            )
            cart = pos.detach().cpu().numpy() - origin
            structure = Structure(Lattice(lattice), numbers.tolist(), cart, coords_are_cartesian=True)
            cg = self.model.graph_converter(structure).to(pos.device)
            lat = torch.as_tensor(lattice, dtype=pos.dtype, device=pos.device)
            frac = (pos - torch.as_tensor(origin, dtype=pos.dtype, device=pos.device)) @ torch.linalg.inv(lat)
            # the converter wraps fractional coordinates into [0, 1): keep its integer offsets
            offset = torch.round(cg.atom_frac_coord.to(pos.dtype) - frac.detach())
            cg.atom_frac_coord = (frac + offset).to(TORCH_DTYPE)
            crystal_graphs.append(cg)
            sizes.append(len(idx))
        out = self.model.forward(crystal_graphs, task="e")["e"].to(graph.positions.dtype)
        if self.model.is_intensive:
            out = out * torch.as_tensor(sizes, dtype=out.dtype, device=out.device)
        return out


def load_energy(model_id: str) -> CHGNetEnergy:
    """The network of ``model_id`` (verified checkpoint) as a function of an egbench graph."""
    return CHGNetEnergy(load_model(model_id))


class CHGNetCalculator(Calculator):
    """Energy (eV) and forces (eV/Å) of a CHGNet network (no stress, no magnetic moments)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model, **kw):
        super().__init__(**kw)
        self.model = model
        self.model.graph_converter.set_isolated_atom_response("ignore")  # egbench checks fragmentation itself
        self.cutoff = float(model.graph_converter.atom_graph_cutoff)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from pymatgen.core import Lattice, Structure

        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        lattice, origin = _box(a.positions, a.cell.array, a.pbc, self.cutoff)
        structure = Structure(
            Lattice(lattice), a.get_chemical_symbols(), a.positions - origin, coords_are_cartesian=True
        )
        graph = self.model.graph_converter(structure)
        pred = self.model.predict_graph(graph, task="ef")
        n = len(a) if self.model.is_intensive else 1
        energy = float(pred["e"]) * n
        self.results = {"energy": energy, "free_energy": energy, "forces": np.asarray(pred["f"], dtype=np.float64)}


def make_calculator(model_id: str) -> CHGNetCalculator:
    return CHGNetCalculator(load_model(model_id))
