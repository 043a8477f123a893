"""Train once, simulate once, score anywhere: each stage (train, evaluate, simulate) of a cell keyed by
the inputs and the code on its path (``code_paths``), stored and shared between cells."""
