"""Loaded by every worker of a local Dask cluster as it starts (``LocalCluster(preload=...)``):
torch, the cell code, the plugin catalog and the frameworks of the run's models
(``ModelSpec.warm_up``, for the ids in ``EGBENCH_WARM_MODELS``) are imported once, while the client
is still planning, instead of inside the first cell each worker runs."""

from __future__ import annotations

import importlib
import logging
import os

log = logging.getLogger(__name__)

WARM_MODELS_ENV = "EGBENCH_WARM_MODELS"


def dask_setup(worker) -> None:  # noqa: ARG001 - distributed's preload signature
    from egbench_core.plugins import catalog

    importlib.import_module("egbench_core.run.execute")  # torch and the cell code
    models = catalog().models
    wanted = os.environ.get(WARM_MODELS_ENV, "")
    names = sorted(models) if wanted == "all" else [n for n in wanted.split(",") if n]
    for name in names:
        spec = models.get(name)
        if spec is None or spec.warm_up is None or spec.environment:
            continue
        try:
            spec.warm_up()
        except Exception as exc:  # noqa: BLE001 - the cell itself will report the real error
            log.warning("warming up model %s failed: %s", name, exc)
