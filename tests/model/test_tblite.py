"""GFN2-xTB (tblite's ASE calculator, PyPI wheel ``tblite``) as a model without a plugin, through
the calculator-backed seam: ``--models 'ase:tblite.ase:TBLite?method=GFN2-xTB'`` on acac (the
embedded dataset, DFT labels). Skipped where tblite is not installed."""

from __future__ import annotations

import numpy as np
import pytest

from egbench_core.model.ase_models import ase_model
from egbench_core.model.calculator_model import CalculatorPotential
from egbench_core.plugins import load_catalog
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store
from egbench_core.testing import finite_difference_forces

pytest.importorskip("tblite.ase", reason="tblite is not installed (pip install tblite)")

XTB = "ase:tblite.ase:TBLite?method=GFN2-xTB&verbosity=0"


@pytest.fixture(scope="module")
def acac():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EGBENCH_OFFLINE", "1")
        ds = load_catalog(entry_points=False).datasets["acac"]
        return {s: ds.load(s) for s in ("train", "test")}


def test_gfn2_xtb_on_an_acac_frame(acac):
    frames = acac["test"].subset([0])
    pot = CalculatorPotential(ase_model(XTB))
    pot.offsets = {1: 0.0, 6: 0.0, 8: 0.0}  # raw GFN2-xTB energies
    energy, forces, raw = pot.predict(frames)
    assert energy[0] == raw[0]
    # the GFN2-xTB total energy of C5H8O2 (-22.9 Eh); DFT's reference sits elsewhere (-9391 eV)
    assert -640.0 < raw[0] < -600.0
    ref = frames.forces
    assert np.isfinite(forces).all() and forces.shape == ref.shape == (15, 3)
    # a semi-empirical method: the same physics as the DFT labels, not the same numbers
    assert np.corrcoef(forces.ravel(), ref.ravel())[0, 1] > 0.8
    assert 0.1 < np.abs(forces - ref).mean() < 0.6
    # its forces are -dE/dr (central differences through the same guarded calculator)
    atoms = frames.to_atoms(0)
    atoms.calc = pot.make_calculator()
    points = ((0, 0), (5, 1), (10, 2), (14, 0))
    fd = finite_difference_forces(atoms, points, 1e-3)
    np.testing.assert_allclose(fd, [forces[i, c] for i, c in points], rtol=0, atol=2e-4)


@pytest.mark.slow
def test_a_gfn2_xtb_cell_on_acac(tmp_path):
    cat = load_catalog(entry_points=False)
    cells = plan_cells(cat, XTB, "acac", "standard", preset="smoke")
    assert [c.model for c in cells] == ["ase-tblite-ase-tblite-method-gfn2-xtb-verbosity-0"]
    store = Store(tmp_path / "results")
    summary = run_cells(cells, cat, store, argv=["pytest"])
    assert (summary.done, summary.failed) == (1, 0), store.cells("failed")[0].error if summary.failed else ""
    row = store.cells("done")[0]
    ms = {(m["name"], m["split"]): m["value"] for m in store.metrics(row.key)}
    assert 0.1 < ms[("force_mae", "test")] < 0.6  # eV/Å against the DFT labels
    # one composition: the refit is one constant shift, so the energy error is GFN2-xTB's relative-energy error
    assert 0.0 < ms[("energy_mae", "test")] < 1.0
    # acac declares isolated-atom (DFT) energies; the calculator's offsets are least squares instead
    assert row.info["stats"]["e0_source"].startswith("least squares, undetermined")
    offsets = row.info["model"]["offsets_eV"]
    assert set(offsets) == {"1", "6", "8"}
    # E_ref ≈ E_xtb + Σ δ: the shift bridges GFN2-xTB's and DFT's energy zero (≈ -8770 eV for C5H8O2)
    assert -9000 < 8 * offsets["1"] + 5 * offsets["6"] + 2 * offsets["8"] < -8500
    assert all(r["failure"] == "" and r["steps_done"] == 20 for r in _replicas(store, row.key))


def _replicas(store, key):
    import json

    return json.loads(dict(store.artifacts(key))["md-summary"].read_text())
