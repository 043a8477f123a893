"""Forward molecular dynamics: the ASE engine, the batched engine, the replicas both share, the ASE
calculator over a trained potential, and observers replayed over stored frames.

``egbench_core.md`` was one module before 0.1's subpackages: its names still resolve here, from
``egbench_core.md.ase_engine``, with a ``DeprecationWarning``."""

from __future__ import annotations

from egbench_core._moved import forward


def __getattr__(name: str) -> object:
    return forward(__name__, "egbench_core.md.ase_engine", name)
