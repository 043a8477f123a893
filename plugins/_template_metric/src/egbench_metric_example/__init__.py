"""egbench plugin registering the ``force_extremes`` metric: its value declarations, its ``compute``
and one registration call. Importing this module stays cheap: :mod:`.compute` (numpy) is imported
at the first cell scored."""

from __future__ import annotations

from egbench_core.interfaces import Shown, ValueSpec
from egbench_core.plugin_kit import metric_plugin

__version__ = "0.1.0"

MAX_FORCE_ERROR = ValueSpec(
    "max_force_error",
    "eV/Å",
    "lower",
    "largest absolute error of one force component over the split (the worst atom, not the mean)",
    per_split=True,
    shown=(Shown("static", 90, "max F err (meV/Å)", "meV/Å", 1, split=None),),
)
MD_MEAN_TEMPERATURE = ValueSpec(
    "md_mean_temperature",
    "K",
    "neither",
    "kinetic temperature averaged over every replica's saved frames (std: over the replicas' own means)",
    when="md",
    shown=(Shown("stability", 90, "MD <T> (K)", digits=0),),
)

# force_extremes_spec() returns the MetricSpec (tests use it); register_metrics is the hook that registers it
force_extremes_spec, register_metrics = metric_plugin(
    "force_extremes",
    compute="egbench_metric_example.compute:compute",
    values=(MAX_FORCE_ERROR, MD_MEAN_TEMPERATURE),
    version="1",
    description="template plugin: worst force error per split, mean MD temperature",
)
