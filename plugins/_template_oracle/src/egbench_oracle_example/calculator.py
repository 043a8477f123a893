"""The ``gfn2-xtb`` oracle's calculator: tblite's ASE calculator at GFN2-xTB, with the settings a
dataset declares (``accuracy``, ``max_iterations``, ``electronic_temperature`` K, ``charge``,
``multiplicity``); any other key is refused, naming the known ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SETTINGS = ("accuracy", "max_iterations", "electronic_temperature", "charge", "multiplicity")


def make(params: Mapping[str, Any]):
    unknown = sorted(set(params) - set(SETTINGS))
    if unknown:
        raise ValueError(f"gfn2-xtb oracle: unknown settings {unknown}; known: {list(SETTINGS)}")
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", verbosity=0, **dict(params))
