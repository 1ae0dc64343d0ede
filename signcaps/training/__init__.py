"""The torch side, part two: Dataset and augmentation, the training loop, evaluation sweeps, explain, export."""
