"""Built-in oracle: ASE's EMT, the generator of ``synthetic-emt`` (exact: no calibration)."""

from __future__ import annotations

from egbench_core.hookspecs import hookimpl
from egbench_core.interfaces import OracleSpec


def _emt(params):
    from ase.calculators.emt import EMT

    return EMT(**dict(params))


@hookimpl
def register_oracles(register):
    register(
        OracleSpec(
            name="emt",
            make=_emt,
            version="1",
            licence="LGPL-2.1 (ASE)",
            description="ASE's effective medium theory: the generator of synthetic-emt",
            citation="Jacobsen, Stoltze, Nørskov, Surf. Sci. 366, 394 (1996)",
        )
    )
