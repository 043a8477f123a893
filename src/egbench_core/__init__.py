"""egbench: benchmark machine-learned interatomic potentials on static errors and forward MD."""

from __future__ import annotations

__version__ = "0.1.0"

from egbench_core._moved import install as _install_moved_paths  # noqa: E402
from egbench_core.hookspecs import hookimpl  # noqa: E402  - what plugin authors import

_install_moved_paths()  # the module paths before 0.1's subpackages still import, with a warning

__all__ = ["hookimpl", "__version__"]
