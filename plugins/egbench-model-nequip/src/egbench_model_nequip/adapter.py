"""The only module that imports ``nequip``: builds ``nequip.model.NequIPGNNModel`` (energy only)
and adapts egbench's :class:`~egbench_core.model.graph.AtomicGraph` to nequip's ``AtomicDataDict``.

The Allegro plugin (``egbench-model-allegro``) reuses :func:`build_graph_model`,
:class:`NequIPFamilyPotential` and :func:`nequip_global_state` from here: Allegro is a nequip
extension package, built by the same ``@model_builder`` machinery and run on the same data dict.

What core owns and nequip therefore does not do here:

* per-element reference energies and the energy scale: the model is built with
  ``per_type_energy_shifts=0`` and ``per_type_energy_scales=1`` (both fixed), and core's
  ``NormalisedPotential`` adds the least-squares E0s (float64) and multiplies by ``stats.scale``;
* forces and stress: the model is built with ``do_derivatives=False`` (its ``ForceStressOutput``
  is a pass-through), and core differentiates the returned energy with respect to positions and
  strain;
* edge vectors: passed in as ``edge_vectors`` = ``graph.edge_vectors()``. nequip's convention is
  egbench's: ``edge_vec = pos[edge_index[1]] - pos[edge_index[0]] + edge_cell_shift @ cell``
  (``edge_index[0]`` the centre, which receives the message; ``edge_cell_shift`` integer image
  counts, cell rows are lattice vectors). ``tests/test_nequip.py`` checks that nequip's own
  ``with_edge_vectors_`` reproduces ``graph.edge_vectors()`` on the dict built here;
* global state: nequip's ``set_global_state()`` (required before building) sets torch's default
  dtype to float64, reseeds torch / numpy / random with 123 and sets a few process-wide switches.
  :func:`nequip_global_state` runs it and puts everything back afterwards; the weights are drawn
  from a seed taken from egbench's torch generator (without advancing it), so egbench's seeding
  decides the initial weights.
* dtype: nequip fixes some modules' output dtype (``_output_dtype``, ``model_dtype``) as plain
  attributes when they are built; :class:`NequIPFamilyPotential` re-synchronises them with the
  parameters whenever core moves the model to another dtype (``.to(torch.float64)``, ...).
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from egbench_core import plugin_kit

# Arguments of NequIPGNNModel that a preset may set (nequip 0.19's names and defaults).
NEQUIP_SETTINGS = {
    "num_layers",
    "l_max",
    "parity",
    "num_features",
    "type_embed_num_features",
    "radial_mlp_depth",
    "radial_mlp_width",
    "readout_mlp_hidden_layers_depth",
    "readout_mlp_hidden_layers_width",
    "readout_mlp_nonlinearity",
    "num_bessels",
    "bessel_trainable",
    "polynomial_cutoff_p",
    "convnet_resnet",
    "convnet_nonlinearity_type",
    "convnet_nonlinearity_scalars",
    "convnet_nonlinearity_gates",
}
# Builder arguments egbench sets itself (a preset must not): why, for the error message.
EGBENCH_OWNED = {
    "r_max": "the preset's `cutoff`",
    "type_names": "the training split's elements",
    "avg_num_neighbors": "stats.avg_num_neighbors",
    "per_type_energy_shifts": "core's per-element reference energies (fixed 0 here)",
    "per_type_energy_scales": "core's stats.scale (fixed 1 here)",
    "per_type_energy_shifts_trainable": "core's normalisation (fixed False here)",
    "per_type_energy_scales_trainable": "core's normalisation (fixed False here)",
    "do_derivatives": "core's autograd (fixed False here)",
    "seed": "egbench's seed (drawn from torch's generator)",
    "model_dtype": "torch's default dtype at build time; core moves the model with .to(dtype)",
    "compile_mode": "eager mode (fixed here)",
    "pair_potential": "not supported by the adapter",
    "per_edge_type_cutoff": "one cutoff per preset",
}

# Process-wide settings set_global_state() touches besides dtype and RNG.
_ENV_KEYS = ("PL_GLOBAL_SEED", "PL_SEED_WORKERS", "PYTORCH_JIT_USE_NNC_NOT_NVFUSER")
_DYNAMO_FLAGS = ("capture_dynamic_output_shape_ops", "capture_scalar_outputs")
_TORCH_FUSION_DEFAULT = [("STATIC", 2), ("DYNAMIC", 10)]

_STATE: dict[str, Any] = {}  # e3nn optimisation settings nequip chose, captured at its first initialisation


def check_settings(params: Mapping[str, Any], known: set[str], what: str) -> dict[str, Any]:
    p = dict(params)
    owned = sorted(set(p) & set(EGBENCH_OWNED))
    if owned:
        raise ValueError(
            f"{what} settings {owned} are set by egbench, not by presets: "
            + "; ".join(f"{k} = {EGBENCH_OWNED[k]}" for k in owned)
        )
    return plugin_kit.check_settings(what, p, known)


def nequip_version() -> str:
    import nequip

    return nequip.__version__


@contextlib.contextmanager
def nequip_global_state() -> Iterator[None]:
    """Run nequip's ``set_global_state()`` for the duration of a build and undo its process-wide
    side effects afterwards: torch's default dtype, the torch / numpy / ``random`` (and CUDA)
    generator states, the environment variables it sets (``PL_GLOBAL_SEED``, ``PL_SEED_WORKERS``,
    ``PYTORCH_JIT_USE_NNC_NOT_NVFUSER``), e3nn's optimisation defaults, the TorchScript fusion
    strategy, two ``torch._dynamo`` flags and the multiprocessing sharing strategy.

    nequip initialises its state once per process; on later builds the e3nn settings it chose the
    first time are re-applied for the build, so every build sees the same settings. (On CUDA
    machines set_global_state also selects IEEE fp32 matmuls, i.e. no TF32; that is left as is.)
    """
    import e3nn
    import torch._dynamo  # noqa: F401  (nequip imports it too; needed for its config flags)
    from nequip.utils.global_state import global_state_initialized, set_global_state

    dtype = torch.get_default_dtype()
    rng = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    env = {k: os.environ.get(k) for k in _ENV_KEYS}
    e3nn_opts = dict(e3nn.get_optimization_defaults())
    with _no_torchscript_deprecation():
        fusion = torch.jit.set_fusion_strategy(_TORCH_FUSION_DEFAULT)  # read it (set_ returns the old one)
        torch.jit.set_fusion_strategy(fusion)
    dynamo = {k: getattr(torch._dynamo.config, k) for k in _DYNAMO_FLAGS}
    sharing = torch.multiprocessing.get_sharing_strategy()
    try:
        first = not global_state_initialized()
        with _no_torchscript_deprecation():
            set_global_state()
        if first or "e3nn" not in _STATE:
            _STATE["e3nn"] = dict(e3nn.get_optimization_defaults())
        else:
            _set_e3nn_defaults(e3nn, _STATE["e3nn"])
        yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_rng_state(rng[0])
        np.random.set_state(rng[1])
        random.setstate(rng[2])
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _set_e3nn_defaults(e3nn, e3nn_opts)
        with _no_torchscript_deprecation():
            torch.jit.set_fusion_strategy(fusion)
        for k, v in dynamo.items():
            setattr(torch._dynamo.config, k, v)
        torch.multiprocessing.set_sharing_strategy(sharing)


@contextlib.contextmanager
def _no_torchscript_deprecation() -> Iterator[None]:
    """Silence torch's "set_fusion_strategy is deprecated" warning: a TorchScript setting that
    nequip and the restore above touch (egbench never scripts)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*set_fusion_strategy.* is deprecated", category=DeprecationWarning)
        yield


def _set_e3nn_defaults(e3nn, opts: Mapping[str, Any]) -> None:
    # the legacy ``jit_script_fx`` key rewrites ``jit_mode``: set ``jit_mode`` last
    rest = {k: v for k, v in opts.items() if k != "jit_mode"}
    e3nn.set_optimization_defaults(**rest)
    if "jit_mode" in opts:
        e3nn.set_optimization_defaults(jit_mode=opts["jit_mode"])


def seed_from_torch() -> int:
    """A weight-initialisation seed drawn from torch's global generator, which is left as it was:
    the same egbench seed gives the same weights, and building does not shift later draws."""
    with torch.random.fork_rng(devices=[]):
        return int(torch.randint(0, 2**31 - 1, (1,)).item())


def type_names(species: Sequence[int]) -> list[str]:
    """nequip type names for sorted atomic numbers: the chemical symbols (alphanumeric)."""
    from ase.data import chemical_symbols

    return [chemical_symbols[int(z)] for z in species]


def build_graph_model(builder, species: Sequence[int], cutoff: float, stats, settings: Mapping[str, Any]):
    """Call a nequip ``@model_builder`` (``NequIPGNNModel``, ``AllegroModel``) the way egbench
    needs it: energy only, no per-type scale/shift, egbench's seed, torch's current default dtype,
    global state restored afterwards. Returns nequip's ``GraphModel``."""
    dtype = torch.get_default_dtype()
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"nequip models are float32 or float64, not {dtype}")
    kwargs = dict(
        seed=seed_from_torch(),
        model_dtype="float64" if dtype == torch.float64 else "float32",
        compile_mode="eager",
        type_names=type_names(species),
        r_max=float(cutoff),
        avg_num_neighbors=float(stats.avg_num_neighbors),
        per_type_energy_scales=1.0,
        per_type_energy_shifts=0.0,
        per_type_energy_scales_trainable=False,
        per_type_energy_shifts_trainable=False,
        do_derivatives=False,
    )
    kwargs.update(settings)
    with nequip_global_state():
        return builder(**kwargs)


def atomic_data_dict(graph, edge_vectors: bool = True) -> dict[str, torch.Tensor]:
    """nequip's ``AtomicDataDict`` for an egbench graph (a batch of B structures).

    ``edge_vectors=True`` adds ``edge_vectors`` = ``graph.edge_vectors()``, which nequip then uses
    instead of computing them from ``pos``, ``cell`` and ``edge_cell_shift`` (the same formula)."""
    from nequip.data import AtomicDataDict as K

    dtype = graph.positions.dtype
    data = {
        K.POSITIONS_KEY: graph.positions,
        K.EDGE_INDEX_KEY: graph.edge_index,
        K.CELL_KEY: graph.cell,  # [B, 3, 3], rows are lattice vectors
        K.EDGE_CELL_SHIFT_KEY: graph.unit_shifts.to(dtype),
        K.BATCH_KEY: graph.batch,
        K.NUM_NODES_KEY: graph.n_atoms,
        K.ATOM_TYPE_KEY: graph.species,
    }
    if edge_vectors:
        data[K.EDGE_VECTORS_KEY] = graph.edge_vectors()
    return data


class NequIPFamilyPotential(torch.nn.Module):
    """``forward(graph) -> Tensor[B]``: the total energy of a nequip ``GraphModel`` built without
    per-type scale/shift, i.e. in units of ``stats.scale`` relative to the reference energies."""

    def __init__(self, graph_model: torch.nn.Module, species: Sequence[int]):
        super().__init__()
        self.nequip = graph_model
        self.species = tuple(int(z) for z in species)

    def forward(self, graph) -> torch.Tensor:
        from nequip.data import AtomicDataDict as K

        if graph.species is None:
            graph = graph.with_species(self.species)
        out = self.nequip(atomic_data_dict(graph))
        return out[K.TOTAL_ENERGY_KEY].reshape(-1)

    # -- dtype bookkeeping ----------------------------------------------------------------
    def _apply(self, fn, recurse: bool = True):
        out = super()._apply(fn, recurse)
        self.sync_dtype()
        return out

    @property
    def model_dtype(self) -> torch.dtype:
        """The dtype most of the parameters have (nequip keeps a few float64 at build time)."""
        count: dict[torch.dtype, int] = {}
        for p in self.nequip.parameters():
            if p.is_floating_point():
                count[p.dtype] = count.get(p.dtype, 0) + p.numel()
        return max(count, key=count.get) if count else torch.get_default_dtype()

    def sync_dtype(self) -> None:
        """Point nequip's build-time dtype attributes at the parameters' dtype."""
        dtype = self.model_dtype
        for m in self.nequip.modules():
            for attr in ("_output_dtype", "model_dtype"):
                if isinstance(getattr(m, attr, None), torch.dtype):
                    setattr(m, attr, dtype)
            meta = getattr(m, "_metadata", None)
            if isinstance(meta, dict) and "model_dtype" in meta:
                meta["model_dtype"] = "float64" if dtype == torch.float64 else "float32"


def build_nequip(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats):
    """``NequIPGNNModel`` for ``species`` (sorted atomic numbers) with the architecture in
    ``params`` (keys: :data:`NEQUIP_SETTINGS`, see :mod:`egbench_model_nequip.presets`)."""
    from nequip.model import NequIPGNNModel

    settings = check_settings(params, NEQUIP_SETTINGS, "NequIP")
    return build_graph_model(NequIPGNNModel, species, cutoff, stats, settings)


def build(species: Sequence[int], cutoff: float, params: Mapping[str, Any], stats) -> NequIPFamilyPotential:
    return NequIPFamilyPotential(build_nequip(species, cutoff, params, stats), species)
