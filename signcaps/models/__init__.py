"""The torch side, part one: capsule layers, the model registry, checkpoints."""
