"""Planning and running cells: the cross product, the executors (local, Dask, SLURM), what a cell
executes, the protocol presets, devices, seeds, progress and the provenance of every number."""
