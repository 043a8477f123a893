"""egbench plugin registering the ``example`` model. Importing this module must stay cheap."""
from egbench_core import hookimpl
from egbench_core.interfaces import Capabilities, ModelSpec

PRESETS = {
    "smoke": {"cutoff": 4.0, "model": {"features": 16, "interactions": 1, "rbf": 8},
              "train": {"epochs": 3, "batch_size": 8, "lr": 5e-3}},
    "quick": {"cutoff": 5.0, "model": {"features": 32, "interactions": 2, "rbf": 16},
              "train": {"epochs": 30, "batch_size": 8, "lr": 3e-3}},
    "paper": {"cutoff": 5.0, "model": {"features": 64, "interactions": 3, "rbf": 32},
              "train": {"epochs": 1000, "batch_size": 8, "lr": 1e-3, "early_stop_patience": 50}},
}


def build(species, cutoff, params, stats):
    from .model import SchNetLike  # the framework import happens here, not at registration

    return SchNetLike(n_species=len(species), cutoff=cutoff, **params)


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="example", build=build, presets=PRESETS, version="0.1.0",
        description="template plugin: minimal SchNet-style network",
        citation="Schütt et al., J. Chem. Phys. 148, 241722 (2018)", licence="MIT",
        capabilities=Capabilities(periodic=True, stress=True),
    ))
