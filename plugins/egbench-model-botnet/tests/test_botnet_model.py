"""The BOTNet plugin: core's conformance kit on the smoke preset, the body order of the
architecture, smoothness at the cutoff, and the paper preset."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from egbench_model_botnet import PRESETS, botnet_spec

from egbench_core.testing import ModelConformance, fake_stats
from egbench_core.testing.plugin_tests import ModelPluginChecks, fast_e3nn_builds  # noqa: F401 (autouse fixture)

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning"),  # e3nn scripts its codegen
    pytest.mark.filterwarnings("ignore:The TorchScript type system:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

SPECIES = (1, 6, 8)


class TestBOTNetConformance(ModelConformance):
    spec = botnet_spec()
    preset = "smoke"


# --------------------------------------------------------------------------------------
# body order
# --------------------------------------------------------------------------------------
def _cluster():
    """Four atoms (H, C, O, C) all within 2.6 Å of each other: every subset is fully connected
    at the 4 Å cutoff used below."""
    from ase import Atoms

    pos = np.array([[0.0, 0.0, 0.0], [1.1, 0.2, -0.1], [0.3, 1.3, 0.4], [-0.5, 0.4, 1.2]])
    return Atoms(numbers=[1, 6, 8, 6], positions=pos)


def _model(num_interactions: int, nonlinear_readout: bool):
    import torch

    params = {
        **PRESETS["smoke"]["model"],
        "hidden_irreps": "4x0e+4x1o",
        "radial_mlp": [4],
        "num_interactions": num_interactions,
        "nonlinear_readout": nonlinear_readout,
    }
    torch.manual_seed(1)
    model = botnet_spec().build(SPECIES, 4.0, params, fake_stats(SPECIES, 4.0))
    return model.to(torch.float64).eval()


def _subset_energies(model, atoms) -> dict[tuple[int, ...], float]:
    """Energy (normalised model units) of every non-empty subset of ``atoms``, each computed as
    a separate structure."""
    import torch

    from egbench_core.model.graph import atoms_to_graph

    out = {}
    for k in range(1, len(atoms) + 1):
        for subset in itertools.combinations(range(len(atoms)), k):
            g = atoms_to_graph(atoms[list(subset)], 4.0, dtype=torch.float64, species=SPECIES)
            with torch.no_grad():
                out[subset] = float(model(g)[0])
    return out


def _cluster_term(energies, subset) -> float:
    """The |S|-body term of S by inclusion–exclusion: V(S) = Σ_{T ⊆ S} (-1)^{|S|-|T|} E(T)."""
    return sum(
        (-1) ** (len(subset) - len(t)) * energies[t]
        for k in range(1, len(subset) + 1)
        for t in itertools.combinations(subset, k)
    )


def test_one_layer_is_two_body():
    e = _subset_energies(_model(1, nonlinear_readout=True), _cluster())
    assert abs(_cluster_term(e, (0, 1))) > 1e-4  # there are pair terms...
    for triple in itertools.combinations(range(4), 3):  # ...but no three-body terms
        assert abs(_cluster_term(e, triple)) < 1e-10, triple
    assert abs(_cluster_term(e, (0, 1, 2, 3))) < 1e-10


def test_body_order_grows_by_one_per_layer():
    e = _subset_energies(_model(2, nonlinear_readout=False), _cluster())
    assert max(abs(_cluster_term(e, t)) for t in itertools.combinations(range(4), 3)) > 1e-5  # three-body
    assert abs(_cluster_term(e, (0, 1, 2, 3))) < 1e-10  # but not four-body


def test_nonlinear_last_readout_breaks_strict_body_order():
    e = _subset_energies(_model(2, nonlinear_readout=True), _cluster())
    assert abs(_cluster_term(e, (0, 1, 2, 3))) > 1e-7


def test_energy_is_sum_of_layer_readouts():
    import torch

    from egbench_core.model.graph import atoms_to_graph

    model = _model(2, nonlinear_readout=True)
    g = atoms_to_graph(_cluster(), 4.0, dtype=torch.float64, species=SPECIES)
    with torch.no_grad():
        parts = model.energy_contributions(g)
        assert parts.shape == (1, 2)
        assert torch.allclose(parts.sum(-1), model(g))
    assert [type(r).__name__ for r in model.readouts] == ["Linear", "NonLinearReadout"]


def test_energy_is_smooth_at_the_cutoff():
    """A neighbour just inside the cutoff contributes (almost) nothing: no jump when it leaves."""
    import torch
    from ase import Atoms

    from egbench_core.model.graph import atoms_to_graph

    model = _model(2, nonlinear_readout=True)
    base = _cluster()[:2]
    energies = []
    for r in (4.0 - 1e-3, 4.0 + 1e-3):
        atoms = base + Atoms("O", positions=[base.positions[0] + [0.0, 0.0, -r]])
        g = atoms_to_graph(atoms, 4.0, dtype=torch.float64, species=SPECIES)
        with torch.no_grad():
            energies.append(float(model(g)[0]))
    assert abs(energies[0] - energies[1]) < 1e-9


# --------------------------------------------------------------------------------------
# presets and plugin plumbing
# --------------------------------------------------------------------------------------
def test_paper_preset_builds_the_papers_architecture():
    from e3nn import o3

    cfg = PRESETS["paper"]
    assert cfg["cutoff"] == 5.0
    t = cfg["train"]
    assert (t["lr"], t["amsgrad"], t["weight_decay"], t["force_weight"], t["ema_decay"]) == (
        0.01,
        True,
        5e-7,
        10.0,
        0.99,
    )
    model = botnet_spec().build(SPECIES, cfg["cutoff"], cfg["model"], fake_stats(SPECIES, cfg["cutoff"]))
    hidden = o3.Irreps("32x0e+32x1o+32x2e+32x3o")
    assert len(model.interactions) == len(model.readouts) == 5
    assert [inter.irreps_out for inter in model.interactions] == [hidden] * 5
    assert [inter.residual for inter in model.interactions] == [False, True, True, True, True]
    assert model.spherical_harmonics.irreps_out == o3.Irreps.spherical_harmonics(3)
    assert model.radial_embedding.out_dim == 8 and model.radial_embedding.envelope.p == 6.0
    assert [type(r).__name__ for r in model.readouts] == ["Linear"] * 4 + ["NonLinearReadout"]
    assert model.readouts[-1].linear_1.irreps_out == o3.Irreps("16x0e")
    assert sum(p.numel() for p in model.parameters()) == 438512


def test_unknown_model_setting_is_rejected():
    with pytest.raises(ValueError, match="unknown BOTNet settings"):
        botnet_spec().build(
            SPECIES, 4.0, {**PRESETS["smoke"]["model"], "hiden_irreps": "8x0e"}, fake_stats(SPECIES, 4.0)
        )


class TestRegistration(ModelPluginChecks):
    # entry point "botnet-model": the dataset plugin egbench-data-botnet owns the name "botnet"
    plugin = "botnet-model"
    module = "egbench_model_botnet"
    models = ("botnet",)
    heavy = ("torch", "e3nn")


def test_torch_safe_loading_is_restored(monkeypatch):
    import os

    from egbench_model_botnet import _e3nn

    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    _e3nn.import_e3nn()
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
