"""The TorchMD-Net plugin: core's conformance kit on the smoke preset; the adapter against
torchmd-net's own forward; periodic images; the paper preset's architecture."""

from __future__ import annotations

import numpy as np
import pytest
from egbench_model_torchmdnet import PRESETS, torchmdnet_spec

from egbench_core.testing import TOLERANCES, ModelConformance, assert_close, fake_stats, molecule, periodic_box
from egbench_core.testing.plugin_tests import ModelPluginChecks, one_torch_thread  # noqa: F401 (autouse fixture)

SPECIES = (1, 6, 8, 14)


class TestTorchMDNetConformance(ModelConformance):
    spec = torchmdnet_spec()
    preset = "smoke"


@pytest.fixture(scope="module")
def smoke_model():
    """The smoke-preset adapter in float64 (seeded)."""
    import torch

    spec = torchmdnet_spec()
    cfg = spec.preset("smoke")
    with torch.random.fork_rng():
        torch.manual_seed(1)
        model = spec.build(SPECIES, cfg["cutoff"], cfg["model"], fake_stats(SPECIES, cfg["cutoff"]))
    return model.to(torch.float64).eval(), cfg["cutoff"]


def _energy_forces(model, atoms, cutoff):
    import torch

    from egbench_core.model.graph import atoms_to_graph

    g = atoms_to_graph(atoms, cutoff, torch.float64, SPECIES)
    g.positions.requires_grad_(True)
    e = model(g)
    (f,) = torch.autograd.grad(-e.sum(), g.positions)
    return e.detach().numpy(), f.numpy()


class TestRegistration(ModelPluginChecks):
    plugin = "torchmdnet"
    module = "egbench_model_torchmdnet"
    models = ("torchmd-net",)
    heavy = ("torchmdnet", "torch", "warp")


def test_import_keeps_stdout_clean(capfd):
    """Importing torchmd-net initialises warp-lang, which prints a banner on stdout and, without
    a GPU driver, a warning on stderr from native code; egbench's worker protocol speaks JSON
    lines on stdout. The adapter initialises warp itself first, banner off, native stderr
    captured and logged."""
    import os

    import warp
    from egbench_model_torchmdnet import adapter

    assert adapter.torchmdnet_version().startswith("3.1.")
    assert warp.config.log_level >= warp.LOG_WARNING
    capfd.readouterr()
    adapter._quiet_native_stderr(lambda: os.write(2, b"Warp CUDA warning: from native code\n"))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


@pytest.mark.parametrize("structure", ["molecule", "periodic box valid for torchmd-net"])
def test_equals_torchmd_nets_own_forward(smoke_model, structure):
    """Same weights, torchmd-net's own forward (its warp neighbour search, its box handling)
    against the adapter on egbench's edges: the same energy and forces, where torchmd-net's
    search applies (a molecule; a lower-triangular box with every width >= 2 x cutoff)."""
    import torch

    from egbench_core.model.graph import atoms_to_graph

    model, cutoff = smoke_model
    if structure == "molecule":
        atoms = molecule(SPECIES)
    else:
        atoms = periodic_box(SPECIES).repeat((3, 3, 3))
        cell = atoms.cell.array
        assert np.allclose(np.triu(cell, 1), 0) and min(np.diag(cell)) >= 2 * cutoff
    energy, forces = _energy_forces(model, atoms, cutoff)

    g = atoms_to_graph(atoms, cutoff, torch.float64, SPECIES)
    pos = g.positions.clone().requires_grad_(True)
    box = g.cell[0] if atoms.pbc.any() else None
    y, _ = model.net(g.species, pos, g.batch, box=box)  # TorchMD_Net.forward, derivative=False
    (f_ref,) = torch.autograd.grad(-y.sum(), pos)
    assert_close(energy, y.detach().reshape(-1).numpy(), TOLERANCES["float64"], f"{structure}: energy")
    assert_close(forces, f_ref.numpy(), TOLERANCES["float64"], f"{structure}: forces")


@pytest.mark.filterwarnings("ignore:Skipping gradients for 1 atoms:UserWarning")  # the isolated atom
def test_periodic_images_are_used(smoke_model):
    """The box's energy depends on its periodic images: periodic != the same atoms without
    periodicity, and one atom alone in a small cell (it sees only its own images, which
    torchmd-net's own neighbour search cannot represent) has an energy of its own."""
    from ase import Atoms

    model, cutoff = smoke_model
    box = periodic_box(SPECIES)
    free = box.copy()
    free.pbc = False
    e_box, _ = _energy_forces(model, box, cutoff)
    e_free, _ = _energy_forces(model, free, cutoff)
    assert abs(e_box[0] - e_free[0]) > 1e-3

    lone = Atoms("Si", positions=[[0.3, 0.2, 0.1]], cell=np.eye(3) * 2.9, pbc=True)
    isolated = Atoms("Si", positions=[[0.3, 0.2, 0.1]])
    e_lone, f_lone = _energy_forces(model, lone, cutoff)
    e_isolated, _ = _energy_forces(model, isolated, cutoff)
    assert abs(e_lone[0] - e_isolated[0]) > 1e-3
    assert_close(f_lone, np.zeros((1, 3)), TOLERANCES["float64"], "lone atom in a cubic cell: no force")
    e_strained, _ = _energy_forces(
        model, Atoms("Si", positions=[[0.3, 0.2, 0.1]], cell=np.eye(3) * 3.1, pbc=True), cutoff
    )
    assert abs(e_strained[0] - e_lone[0]) > 1e-6  # the energy follows the cell


def test_paper_preset_builds_the_papers_architecture():
    import torch

    spec = torchmdnet_spec()
    cfg = spec.preset("paper")
    species = (1, 6, 8)
    pot = spec.build(species, cfg["cutoff"], cfg["model"], fake_stats(species, cfg["cutoff"]))
    rep, head = pot.net.representation_model, pot.net.output_model
    assert type(rep).__name__ == "TorchMD_ET" and type(head).__name__ == "EquivariantScalar"
    assert (rep.hidden_channels, rep.num_layers, len(rep.attention_layers)) == (128, 6, 6)
    assert {a.num_heads for a in rep.attention_layers} == {8}
    assert {a.distance_influence for a in rep.attention_layers} == {"both"}
    assert {a.vector_cutoff for a in rep.attention_layers} == {False}
    assert type(rep.distance_expansion).__name__ == "ExpNormalSmearing"
    assert rep.distance_expansion.num_rbf == 32 and not rep.distance_expansion.trainable
    assert (rep.cutoff_lower, rep.cutoff_upper) == (0.0, 5.0)
    assert rep.neighbor_embedding is not None
    assert rep.activation == rep.attn_activation == "silu"
    assert pot.net.prior_model is None and float(pot.net.std) == 1.0 and float(pot.net.mean) == 0.0
    assert rep.embedding.num_embeddings == len(species)
    assert next(pot.parameters()).dtype == torch.float32
    train = cfg["train"]
    assert (train["batch_size"], train["lr"], train["optimizer"], train["amsgrad"], train["weight_decay"]) == (
        8,
        1e-3,
        "adamw",
        False,
        0.0,
    )
    assert (train["energy_weight"], train["force_weight"]) == (0.2, 0.8)
    assert (train["scheduler_factor"], train["scheduler_patience"], train["min_lr"]) == (0.8, 30, 1e-7)
    assert (train["epochs"], train["early_stop_patience"], train["dtype"]) == (5000, 300, "float32")
    from egbench_core.model.train import TrainConfig

    for name in PRESETS:
        TrainConfig.from_dict(PRESETS[name]["train"])


def test_unknown_model_setting_is_rejected():
    spec = torchmdnet_spec()
    with pytest.raises(ValueError, match="unknown TorchMD-Net ET settings"):
        spec.build((1, 6), 4.0, {**PRESETS["smoke"]["model"], "max_num_neighbors": 50}, fake_stats((1, 6), 4.0))
    with pytest.raises(ValueError, match="divisible"):
        spec.build((1, 6), 4.0, {**PRESETS["smoke"]["model"], "num_heads": 3}, fake_stats((1, 6), 4.0))
