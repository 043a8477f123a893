"""The SevenNet plugin: the model conformance kit (float64, through egbench's graph and autograd),
the same numbers as sevenn's own calculator, the checkpoint hash check, registration, and an acac
cell zero-shot and fine-tuned end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk
from egbench_model_sevennet import adapter, sevennet_specs
from egbench_model_sevennet.checkpoints import CHECKPOINTS, ELEMENTS

from egbench_core.model.graph import collate, graph_parts
from egbench_core.model.potential import evaluate
from egbench_core.plugins import load_catalog
from egbench_core.testing import ModelConformance, molecule
from egbench_core.testing.plugin_tests import (
    check_a_changed_checkpoint_is_refused,
    check_zero_shot_and_fine_tuned,
    one_torch_thread,  # noqa: F401 (autouse fixture)
)


class TestSevenNetZeroShotConformance(ModelConformance):
    spec = sevennet_specs("sevennet-0")[0]
    species = (1, 6, 8, 14)


class TestSevenNetFineTunedConformance(ModelConformance):
    """The fine-tuned spec: the same network, trainable (the force loss reaches its weights)."""

    spec = sevennet_specs("sevennet-0")[1]
    species = (1, 6, 8, 14)


def test_registered_zero_shot_and_fine_tuned_with_checkpoint_metadata():
    cat = load_catalog()
    for model_id, ckpt in CHECKPOINTS.items():
        zero, tuned = cat.models[model_id], cat.models[model_id + "-ft"]
        assert (zero.mode, tuned.mode) == ("zero-shot", "fine-tuned") and zero.plugin == "sevennet"
        assert ckpt.sha256[:12] in zero.version and "J. Chem. Theory Comput." in zero.citation
        assert zero.capabilities.elements == ELEMENTS and 84 not in ELEMENTS and 94 in ELEMENTS
        assert "train" not in zero.presets["quick"] and tuned.presets["quick"]["train"]["epochs"] == 4


def _own_calculator(model_id):
    from sevenn.calculator import SevenNetCalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calc = SevenNetCalculator(
            adapter.verify(model_id),
            device="cpu",
            **({"modal": CHECKPOINTS[model_id].modal} if CHECKPOINTS[model_id].modal else {}),
        )
    return calc


@pytest.mark.parametrize("model_id", ["sevennet-0", "sevennet-mf-0"])
def test_same_numbers_as_sevenns_own_calculator(model_id):
    """egbench's graph + autograd through the network equals sevenn's calculator, one structure at a
    time and batched, periodic and molecular."""
    net = adapter.load_network(model_id)
    si = bulk("Si", "diamond", a=5.43).repeat((2, 1, 1))
    si.rattle(0.05, seed=1)
    structures = [si, molecule((1, 6, 8))]
    parts = [graph_parts(a.positions, a.numbers, a.cell.array, a.pbc, 5.0) for a in structures]
    batched = evaluate(net, collate(parts, torch.float32), forces=True)
    start = 0
    for k, a in enumerate(structures):
        theirs = a.copy()
        theirs.calc = _own_calculator(model_id)
        assert float(batched["energy"][k]) == pytest.approx(theirs.get_potential_energy(), abs=1e-4)
        np.testing.assert_allclose(
            batched["forces"][start : start + len(a)].detach().numpy(), theirs.get_forces(), atol=1e-4
        )
        assert np.abs(theirs.get_forces()).max() > 0.1
        start += len(a)


def test_a_checkpoint_with_another_hash_is_refused(monkeypatch):
    assert CHECKPOINTS["sevennet-0"].sha256.startswith("7052cb42b7b3")
    check_a_changed_checkpoint_is_refused(CHECKPOINTS, "sevennet-0", adapter.load_network, monkeypatch)


@pytest.mark.slow
def test_zero_shot_and_fine_tuned_cells_on_acac(tmp_path, monkeypatch):
    """A smoke cell of each: zero-shot F MAE of a materials model on an organic molecule, then one
    epoch of fine-tuning on 40 frames lowers it; MD runs on egbench's batched engine."""
    # force MAE in eV/Å against acac's DFT labels, which SevenNet was never trained on
    check_zero_shot_and_fine_tuned("sevennet-0", tmp_path / "results", monkeypatch, zero_shot_force_mae=(0.1, 0.4))
