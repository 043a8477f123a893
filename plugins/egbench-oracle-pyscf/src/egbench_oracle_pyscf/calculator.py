"""An ASE calculator over PySCF's Kohn–Sham DFT (the only module that imports pyscf and dftd3).

Energy (eV) and forces (eV/Å) of a molecule by restricted (spin 0) or unrestricted Kohn–Sham DFT
with the given functional and basis, density fitting optional, the integration grid's level, and,
when asked, Grimme's D3 dispersion (``dftd3``, damping "d3bj" or "d3zero") added on top.
"""

from __future__ import annotations

import os

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr, Hartree


class SCFNotConverged(RuntimeError):
    pass


class PySCFCalculator(Calculator):
    implemented_properties = ["energy", "forces"]

    def __init__(
        self,
        xc: str,
        basis: str,
        density_fit: bool = True,
        grid_level: int = 3,
        charge: int = 0,
        spin: int = 0,
        threads: int = 1,
        conv_tol: float = 1e-10,
        max_cycle: int = 100,
        **kw,
    ):
        super().__init__(**kw)
        self.xc, self.basis, self.density_fit, self.grid_level = xc, basis, bool(density_fit), int(grid_level)
        self.charge, self.spin, self.threads = int(charge), int(spin), int(threads)
        self.conv_tol, self.max_cycle = float(conv_tol), int(max_cycle)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from pyscf import dft, gto, lib

        if self.atoms.pbc.any():
            raise ValueError("the PySCF oracle computes molecules: the structure is periodic")
        lib.num_threads(self.threads)
        mol = gto.M(
            atom=[(s, tuple(p)) for s, p in zip(self.atoms.get_chemical_symbols(), self.atoms.positions)],
            basis=self.basis,
            unit="Angstrom",
            charge=self.charge,
            spin=self.spin,
            verbose=0,
        )
        mf = dft.RKS(mol) if self.spin == 0 else dft.UKS(mol)
        if self.density_fit:
            mf = mf.density_fit()
        mf.xc = self.xc
        mf.grids.level = self.grid_level
        mf.conv_tol = self.conv_tol
        mf.max_cycle = self.max_cycle
        energy = mf.kernel()
        if not mf.converged:
            raise SCFNotConverged(f"PySCF {self.xc}/{self.basis}: SCF did not converge in {self.max_cycle} cycles")
        grad = mf.nuc_grad_method().kernel()  # Hartree/Bohr
        self.results = {"energy": float(energy) * Hartree, "forces": -np.asarray(grad) * Hartree / Bohr}


def make_calculator(params: dict) -> Calculator:
    """The oracle's ASE calculator from a dataset's declaration (``[datasets.<id>.oracle]``)."""
    known = {"xc", "basis", "density_fit", "grid_level", "charge", "spin", "dispersion", "threads"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"pyscf oracle: unknown settings {unknown}; expected some of {sorted(known)}")
    # threads change no number: they come from the environment, not from the declaration (which is hashed)
    threads = int(params.get("threads") or os.environ.get("EGBENCH_ORACLE_THREADS", "1"))
    dft = PySCFCalculator(
        params["xc"],
        params["basis"],
        params.get("density_fit", True),
        params.get("grid_level", 3),
        params.get("charge", 0),
        params.get("spin", 0),
        threads,
    )
    dispersion = params.get("dispersion")
    if not dispersion:
        return dft
    if dispersion not in ("d3bj", "d3zero"):
        raise ValueError(f"pyscf oracle: dispersion {dispersion!r}; expected 'd3bj', 'd3zero' or none")
    from ase.calculators.mixing import SumCalculator
    from dftd3.ase import DFTD3

    return SumCalculator([dft, DFTD3(method=params["xc"], damping=dispersion)])
