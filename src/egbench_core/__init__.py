"""egbench: benchmark machine-learned interatomic potentials on static errors and forward MD."""

from __future__ import annotations

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402  - what plugin authors import

__all__ = ["hookimpl", "__version__"]
