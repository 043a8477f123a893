"""Import e3nn the same way on e3nn 0.4.4 (next to mace-torch) and on e3nn 0.5/0.6 — for plugins.

e3nn 0.4.4 ``torch.load``s a constants file at import time, which torch >= 2.6 refuses in its
default weights-only mode unless ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set (``import mace``
sets it for the whole process). The variable is set only around the first import and restored
afterwards, so torch's safe loading stays on for everything else. Later e3nn versions do not
need it; setting it briefly is harmless there.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_KEY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


@contextlib.contextmanager
def torch_full_load_during_import() -> Iterator[None]:
    """Set ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the imports inside the block (e3nn 0.4.4's,
    mace's), then put back what was there: torch's safe loading stays on for everything else."""
    before = os.environ.get(_KEY)
    try:
        os.environ[_KEY] = "1"
        yield
    finally:
        if before is None:
            os.environ.pop(_KEY, None)
        else:
            os.environ[_KEY] = before


def import_e3nn():
    """Import and return the ``e3nn`` package (with ``o3``, ``nn`` and ``math`` loaded)."""
    if "e3nn.o3" not in sys.modules:
        with torch_full_load_during_import():
            import e3nn  # noqa: F401
            from e3nn import math, nn, o3  # noqa: F401
    import e3nn

    return e3nn
