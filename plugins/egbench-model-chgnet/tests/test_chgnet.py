"""The CHGNet plugin: the model conformance kit (through egbench's graph and autograd, at float32
tolerances: CHGNet computes in float32), agreement with chgnet's own calculator, molecules
independent of their box, the checkpoint hash check, and acac cells zero-shot and fine-tuned."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from ase.build import bulk
from egbench_model_chgnet import adapter, chgnet_specs
from egbench_model_chgnet.checkpoints import CHECKPOINTS

from egbench_core.plugins import load_catalog
from egbench_core.testing import ModelConformance, molecule
from egbench_core.testing.plugin_tests import (
    check_a_changed_checkpoint_is_refused,
    check_zero_shot_and_fine_tuned,
    one_torch_thread,  # noqa: F401 (autouse fixture)
)

# CHGNet computes in float32 whatever dtype it is handed: energies of tens of eV keep ~1e-5 eV,
# forces ~1e-5 eV/Å; finite differences need a wider step
FLOAT32_INSIDE = {
    "float64": {"atol": 2e-4, "rtol": 1e-4},
    "float32": {"atol": 2e-4, "rtol": 1e-4},
    "finite_difference": {"atol": 5e-3, "rtol": 1e-2, "step": 1e-2},
}


class TestCHGNetZeroShotConformance(ModelConformance):
    spec = chgnet_specs("chgnet-0.3")[0]
    species = (1, 6, 8, 14)
    tolerances = FLOAT32_INSIDE


class TestCHGNetFineTunedConformance(ModelConformance):
    spec = chgnet_specs("chgnet-0.3")[1]
    species = (1, 6, 8, 14)
    tolerances = FLOAT32_INSIDE


def test_registered_with_checkpoint_metadata():
    cat = load_catalog()
    for model_id, ckpt in CHECKPOINTS.items():
        spec, tuned = cat.models[model_id], cat.models[model_id + "-ft"]
        assert (spec.mode, tuned.mode) == ("zero-shot", "fine-tuned") and spec.plugin == "chgnet"
        assert not spec.calculator_backed and not spec.capabilities.stress
        assert ckpt.sha256[:12] in spec.version and "Nat. Mach. Intell." in spec.citation
        assert spec.capabilities.elements == tuple(range(1, 95))


@pytest.mark.parametrize("model_id", sorted(CHECKPOINTS))
def test_same_numbers_as_chgnets_own_calculator(model_id):
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    si = bulk("Si", "diamond", a=5.43).repeat((2, 1, 1))
    si.rattle(0.05, seed=1)
    ours = si.copy()
    ours.calc = adapter.make_calculator(model_id)
    with contextlib.redirect_stdout(io.StringIO()):
        own = CHGNetCalculator(
            CHGNet.load(model_name=CHECKPOINTS[model_id].chgnet_name, verbose=False), use_device="cpu"
        )
    theirs = si.copy()
    theirs.calc = own
    assert ours.get_potential_energy() == pytest.approx(theirs.get_potential_energy(), abs=1e-5)
    np.testing.assert_allclose(ours.get_forces(), theirs.get_forces(), atol=1e-5)
    assert np.abs(ours.get_forces()).max() > 0.1


def test_egbench_autograd_through_chgnet_gives_chgnets_forces():
    """The model-seam route (adapter.CHGNetEnergy): energy as a function of an AtomicGraph, forces
    by egbench's autograd, equal to CHGNet's own, one structure at a time and batched."""
    from egbench_core.model.graph import collate, graph_parts
    from egbench_core.model.potential import evaluate

    energy = adapter.load_energy("chgnet-0.3")
    si = bulk("Si", "diamond", a=5.43).repeat((2, 1, 1))
    si.rattle(0.05, seed=1)
    structures = [si, molecule((1, 6, 8))]
    parts = [graph_parts(a.positions, a.numbers, a.cell.array, a.pbc, 5.0) for a in structures]
    batched = evaluate(energy, collate(parts, torch.float64), forces=True)
    start = 0
    for k, (a, p) in enumerate(zip(structures, parts)):
        one = evaluate(energy, collate([p], torch.float64), forces=True)
        ref = a.copy()
        ref.calc = adapter.make_calculator("chgnet-0.3")
        assert float(one["energy"][0]) == pytest.approx(ref.get_potential_energy(), abs=1e-5)
        np.testing.assert_allclose(one["forces"].numpy(), ref.get_forces(), atol=2e-5)
        assert float(batched["energy"][k]) == pytest.approx(float(one["energy"][0]), abs=1e-5)
        np.testing.assert_allclose(batched["forces"][start : start + len(a)].numpy(), one["forces"].numpy(), atol=2e-5)
        start += len(a)


def test_a_molecule_does_not_feel_its_box(monkeypatch):
    mol = molecule((1, 6, 8))
    mol.calc = adapter.make_calculator("chgnet-0.3")
    e, f = mol.get_potential_energy(), mol.get_forces()
    monkeypatch.setattr(adapter, "VACUUM", 15.0)
    wide = mol.copy()
    wide.calc = adapter.make_calculator("chgnet-0.3")
    assert wide.get_potential_energy() == pytest.approx(e, abs=1e-4)
    np.testing.assert_allclose(wide.get_forces(), f, atol=5e-4)


def test_a_checkpoint_with_another_hash_is_refused(monkeypatch):
    assert CHECKPOINTS["chgnet-0.3"].sha256.startswith("d14ab7c0f093")
    check_a_changed_checkpoint_is_refused(CHECKPOINTS, "chgnet-0.3", adapter.load_energy, monkeypatch)


@pytest.mark.slow
def test_zero_shot_and_fine_tuned_cells_on_acac(tmp_path, monkeypatch):
    # force MAE in eV/Å against acac's DFT labels, which CHGNet was never trained on
    check_zero_shot_and_fine_tuned("chgnet-0.3", tmp_path / "results", monkeypatch, zero_shot_force_mae=(0.1, 0.5))
