"""The PySCF oracle on a real acetylacetone test frame reproduces the dataset's DFT labels (ORCA
PBE-D3(BJ)/def2-SVP), and is refused on a periodic structure. One DFT calculation (~1 min)."""

from __future__ import annotations

import egbench_oracle_pyscf
import numpy as np
import pytest

from egbench_core.plugins import load_catalog

ACAC = {"xc": "PBE", "basis": "def2-SVP", "density_fit": True, "grid_level": 3, "dispersion": "d3bj"}


def test_registers_the_oracle():
    cat = load_catalog(extra_plugins=[egbench_oracle_pyscf], entry_points=False)
    spec = cat.oracles["pyscf"]
    assert spec.plugin == "egbench_oracle_pyscf" and spec.citation and spec.licence


@pytest.mark.slow
def test_reproduces_acac_labels():
    cat = load_catalog(extra_plugins=[egbench_oracle_pyscf], entry_points=False)
    test = cat.datasets["acac"].load("test")
    atoms = test.to_atoms(0)
    atoms.calc = cat.oracles["pyscf"].make(ACAC)
    forces = atoms.get_forces()
    mae = np.abs(forces - test.forces[test.atoms_slice(0)]).mean()
    assert mae < 2e-3, mae  # eV/Å: measured 1.1 meV/Å
    assert abs(atoms.get_potential_energy() - test.energy[0] - 0.0074) < 0.002  # the +7.4 meV offset


def test_refuses_a_periodic_structure_and_unknown_settings():
    from ase.build import bulk
    from egbench_oracle_pyscf.calculator import make_calculator

    with pytest.raises(ValueError, match="unknown settings"):
        make_calculator({**ACAC, "functional": "PBE"})
    atoms = bulk("Si")
    atoms.calc = make_calculator({"xc": "PBE", "basis": "sto-3g"})
    with pytest.raises(ValueError, match="periodic"):
        atoms.get_potential_energy()
