"""egbench plugin registering the ``example`` model: its presets, its ``build`` and one registration
call. Importing this module must stay cheap: :mod:`.model` (which imports torch) is loaded when a
model is built."""

from __future__ import annotations

from egbench_core.plugin_kit import model_plugin

from .presets import MODEL_KEYS, PRESETS

__version__ = "0.1.0"

# example_spec() returns the ModelSpec (tests use it); register_models is the hook that registers it
example_spec, register_models = model_plugin(
    "example",
    build="egbench_model_example.model:build",
    presets=PRESETS,
    settings=MODEL_KEYS,
    what="example",
    version=__version__,
    description="template plugin: minimal SchNet-style network",
    citation="Schütt et al., J. Chem. Phys. 148, 241722 (2018)",
    licence="MIT",
)
