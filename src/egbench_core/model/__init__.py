"""Models: the atomic graph, one path from a network's output to energies/forces/stress, the trainer,
normalisation statistics, predictions, pretrained and calculator-backed models."""
