"""e3nn import guard: lives in core (egbench_core.compat), shared by the e3nn-based plugins."""

from egbench_core.compat import import_e3nn

__all__ = ["import_e3nn"]
