"""egbench plugin registering the ``gfn2-xtb`` oracle: GFN2-xTB (tblite) as a reference calculator
that labels the frames a model visits. A dataset names it in its registry entry::

    [datasets.my-molecule.oracle]
    plugin = "gfn2-xtb"
    level = "GFN2-xTB"
    params = { accuracy = 1.0 }

Importing this module stays cheap: tblite is imported by :mod:`.calculator` when a calculator is made."""

from __future__ import annotations

from egbench_core.plugin_kit import oracle_plugin

__version__ = "0.1.0"

# gfn2_xtb_spec() returns the OracleSpec (tests use it); register_oracles is the hook that registers it
gfn2_xtb_spec, register_oracles = oracle_plugin(
    "gfn2-xtb",
    make="egbench_oracle_example.calculator:make",
    version=__version__,  # enters the oracle's id and every cell key using it
    requires=["tblite>=0.4"],
    description="GFN2-xTB tight binding (tblite): a cheap semi-empirical reference for molecules",
    citation="C. Bannwarth, S. Ehlert, S. Grimme, J. Chem. Theory Comput. 15, 1652 (2019)",
    licence="LGPL-3.0 (tblite)",
)
