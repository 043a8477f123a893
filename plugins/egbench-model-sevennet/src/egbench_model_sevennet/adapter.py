"""The only module that imports sevenn: a checkpoint loaded after its sha256 is checked, and the
network as a function of an egbench ``AtomicGraph`` (:class:`SevenNetEnergy`).

SevenNet's network (``AtomGraphSequential``) starts from edge vectors; its first module
(``edge_embedding``) takes them as given. egbench hands it ``graph.edge_vectors()`` (positions
plus periodic shifts, built by egbench's neighbour list at the checkpoint's 5 Å cutoff) and the
network's total energy (eV) comes back; the module that would differentiate it inside sevenn
(``force_output``) is removed, so forces and stress are egbench's autograd like every model's.
Numbers equal ``sevenn.calculator.SevenNetCalculator``'s (see the tests).
"""

from __future__ import annotations

import logging
import warnings
from importlib import resources

import torch

from egbench_core.model.pretrained import CheckpointError, verify_checkpoint  # noqa: F401 - CheckpointError re-exported

from .checkpoints import CHECKPOINTS

log = logging.getLogger(__name__)


def checkpoint_path(model_id: str):
    return resources.files("sevenn") / CHECKPOINTS[model_id].path


def verify(model_id: str) -> str:
    """The checkpoint's path once its sha256 matches (:class:`CheckpointError` otherwise)."""
    return verify_checkpoint(model_id, checkpoint_path(model_id), CHECKPOINTS[model_id].sha256, "sevenn")


class SevenNetEnergy(torch.nn.Module):
    """``forward(graph) -> energy [B]`` (eV): SevenNet's network on egbench's graph, differentiable
    with respect to ``graph.positions`` (and the cell, through the shifts). Works in float32 and
    float64: sevenn's one-hot embedding always returns float32, so it is cast to the graph's dtype."""

    def __init__(self, network, modal: str | None = None):
        super().__init__()
        from sevenn.nn.node_embedding import OnehotEmbedding

        network.set_is_batch_data(True)
        network.delete_module_by_key("force_output")
        network.key_grad = None  # egbench differentiates; nothing inside needs requires_grad
        self.network = network
        self._onehot = OnehotEmbedding
        self.modal_index = None
        if modal is not None:
            network.eval_modal_map = False  # sevenn's own lookup needs its data class; set it here
            self.modal_index = int(network.modal_map[modal])

    def forward(self, graph) -> torch.Tensor:
        import sevenn._keys as KEY

        data = {
            KEY.ATOMIC_NUMBERS: graph.atomic_numbers,
            KEY.EDGE_IDX: graph.edge_index,
            KEY.EDGE_VEC: graph.edge_vectors(),
            KEY.BATCH: graph.batch,
            KEY.NUM_ATOMS: graph.n_atoms,
        }
        if self.modal_index is not None:
            data[KEY.MODAL_TYPE] = torch.full(
                (graph.num_graphs,), self.modal_index, dtype=torch.int64, device=graph.positions.device
            )
        data = self.network._preprocess(data)
        dtype = graph.positions.dtype
        for module in self.network:
            data = module(data)
            if isinstance(module, self._onehot):
                for key in {module.key_output, module.key_additional_output} - {None}:
                    data[key] = data[key].to(dtype)
        return data[KEY.PRED_TOTAL_ENERGY].reshape(graph.num_graphs)


def load_network(model_id: str) -> SevenNetEnergy:
    """The network of ``model_id`` from its verified checkpoint, on the CPU, in eval mode."""
    import sevenn.util

    path = verify(model_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no tensor product accelerator": none exists for this CPU build
        network = sevenn.util.load_checkpoint(path).build_model()
    return SevenNetEnergy(network, CHECKPOINTS[model_id].modal).to("cpu").eval()
