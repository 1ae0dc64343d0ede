"""Torch inference on model inputs: which tensors a model takes, batched prediction, the inputs of a crop set.

A leaf below training, evaluation, robustness and export, so none of them imports another for
these helpers.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from signcaps.data.crops import CropSet
from signcaps.util.config import Recipe


def select_inputs(model: nn.Module, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The tensors ``model.forward`` takes, in its order ("image" crops and/or "pose" landmarks)."""
    return [inputs[kind] for kind in getattr(model, "inputs", ("image",))]


def predict_lengths(model: nn.Module, inputs: dict[str, np.ndarray] | np.ndarray, device: torch.device,
                    batch_size: int = 256) -> np.ndarray:
    """Class-capsule lengths for model inputs ({"image": NxCxHxW, "pose": Nx21x3}; a bare array is
    the image), no augmentation, eval mode."""
    if isinstance(inputs, np.ndarray):
        inputs = {"image": inputs}
    kinds = getattr(model, "inputs", ("image",))
    count = len(inputs[kinds[0]])
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, count, batch_size):
            xs = [torch.from_numpy(np.ascontiguousarray(inputs[k][start:start + batch_size])).to(device) for k in kinds]
            out.append(model(*xs).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def inputs_of(crops: CropSet, recipe: Recipe) -> dict[str, np.ndarray]:
    """Every model input of a crop set, through the shared preprocessing (`to_batch`, `normalize_pose`)."""
    from signcaps.hands.preprocess import to_batch

    inputs = {"image": to_batch(crops.crops, recipe.crop)}
    if crops.points is not None:
        inputs["pose"] = crops.poses(recipe.crop.mirror_left)
    return inputs
