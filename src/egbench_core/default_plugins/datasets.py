"""Built-in datasets: every ``[datasets.*]`` table of the merged registry (core's own file holds
the embedded acetylacetone set), plus the synthetic periodic EMT set generated on the fly."""

from __future__ import annotations

from egbench_core.data.datasets import GeneratedDataset, RegistryDataset, SplitInfo, register_tables
from egbench_core.data.synthetic import EMT_PARAMS, emt_oracle, generate_emt
from egbench_core.hookspecs import hookimpl


@hookimpl
def register_datasets(register, registry):
    # tables with a `plugin` key are registered by that plugin, with its own class; a wrong table
    # is registered as broken (BrokenSpec) while the other datasets work
    register_tables(register, registry, "", lambda name, table: RegistryDataset(name, table, registry))
    p = EMT_PARAMS
    register(
        GeneratedDataset(
            name="synthetic-emt",
            generate=generate_emt,
            params=p,
            oracle=emt_oracle,
            splits={
                "train": SplitInfo("train", p["train"], p["temperature_K"]),
                "val": SplitInfo("val", p["val"], p["temperature_K"]),
                "test": SplitInfo(
                    "test",
                    p["test"],
                    p["temperature_K"],
                    contiguous=True,
                    frame_spacing_fs=p["test_every"] * p["timestep_fs"],
                    tags=("test",),
                ),
            },
            elements=["Cu", "Au"],
            periodic=True,
            temperature_K=p["temperature_K"],
            timestep_fs=p["timestep_fs"],
            friction_per_ps=0.5,
            tags=("synthetic", "periodic", "oracle"),
            licence="CC0-1.0 (generated)",
            description="Cu24Au8 fcc alloy, 32 atoms, EMT-labelled Langevin MD at 600 K; generated on the fly, "
            "EMT oracle.",
            citation="Jacobsen, Stoltze, Nørskov, Surf. Sci. 366, 394 (1996) (EMT)",
        )
    )
