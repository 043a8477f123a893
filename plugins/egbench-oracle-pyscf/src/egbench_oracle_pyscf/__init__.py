"""egbench oracle plugin ``pyscf``: Kohn–Sham DFT (PySCF) with optional D3 dispersion (dftd3).

A dataset declares it with its level of theory and settings, e.g. acetylacetone's labels
(PBE-D3(BJ)/def2-SVP, ORCA)::

    [datasets.acac.oracle]
    plugin = "pyscf"
    level = "PBE-D3(BJ)/def2-SVP"
    params = { xc = "PBE", basis = "def2-SVP", density_fit = true, grid_level = 3, dispersion = "d3bj" }

Importing this module is cheap: pyscf and dftd3 are imported when a calculator is made.
"""

from __future__ import annotations

from egbench_core import hookimpl
from egbench_core.interfaces import OracleSpec

__version__ = "0.1.0"

CITATION = (
    "Q. Sun et al., Recent developments in the PySCF program package, J. Chem. Phys. 153, 024109 (2020); "
    "S. Grimme, S. Ehrlich, L. Goerigk, J. Comput. Chem. 32, 1456 (2011) (D3(BJ))"
)


def make(params):
    from .calculator import make_calculator

    return make_calculator(params)


@hookimpl
def register_oracles(register):
    register(
        OracleSpec(
            name="pyscf",
            make=make,
            version=__version__,
            citation=CITATION,
            licence="Apache-2.0 (PySCF), LGPL-3.0 (dftd3)",
            requires=["pyscf>=2.6", "dftd3>=1.0"],
            description="Kohn-Sham DFT of a molecule (RKS/UKS, density fitting, D3 dispersion)",
        )
    )
