"""What a capsule encodes: reconstructions and the dimension-perturbation grid of Sabour et al.

`explain_image` detects the hand in a picture, crops it through the shared preprocessing,
decodes the winning digit capsule, and decodes it again with each of its dimensions nudged by
-0.25 .. +0.25 in steps of 0.05 (paper, figure 4). The result is one PNG tiled with OpenCV so
its size follows exactly from the layout constants below (see `figure_size`).

It also says what the rejection rule (`signcaps.signs.rejection`, the checkpoint's, which export ships)
answers and why: for models with a pose decoder, the winner's decoded skeleton is drawn over the
observed one with the decision, its reason and their distance (the pose error) written on it, so a
refused hand shows what the capsule thought it saw.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from signcaps.runtime.explain_figure import (  # noqa: F401  (re-exported: the figure's layout lives torch-free)
    DELTAS,
    ExplainError,
    cell_size,
    dimension_changes,
    figure_paths,
    figure_size,
    find_hand,
    rank_dimensions,
    read_and_find_hand,
    render,
    shown_dimensions,
    verdict,
    write_png,
)

# ----------------------------------------------------------------------------- model helpers


def _as_batch(x: Any, dims: int = 3) -> "torch.Tensor":  # noqa: F821
    """One sample ((C, H, W) crop, (21, 3) pose) or a batch of them, as a float tensor with a batch axis."""
    import torch

    tensor = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    return tensor[None] if tensor.dim() == dims else tensor


def _inputs(model: Any, batch: Any, pose: Any = None) -> list:
    """The model's forward arguments from an image batch and/or a pose batch."""
    kinds = getattr(model, "inputs", ("image",))
    given = {"image": batch, "pose": pose}
    missing = [k for k in kinds if given[k] is None]
    if missing:
        raise ExplainError(f"this model needs its {' and '.join(missing)} input")
    return [_as_batch(given[k], 3 if k == "image" else 2) for k in kinds]


def _require_decoder(model: Any) -> None:
    if not (getattr(model, "has_decoder", False) or getattr(model, "has_pose_decoder", False)):
        raise ExplainError(f"{type(model).__name__} has no decoder: reconstructions need a capsule network")


def capsules(model: Any, batch: Any, pose: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(lengths (N, K), digit capsules (N, K, D)) for a float32 (N, C, H, W) or (C, H, W) input
    (and/or (N, 21, 3) poses for the models that read them)."""
    import torch

    _require_decoder(model)
    model.eval()
    with torch.no_grad():
        lengths, caps = model.forward_capsules(*_inputs(model, batch, pose))
    return lengths.float().numpy(), caps.float().numpy()


def _decoder(model: Any, kind: str):
    return model.reconstruct if kind == "image" else model.reconstruct_pose


def reconstruction(model: Any, batch: Any, pose: Any = None, kind: str = "image") -> np.ndarray:
    """Decoder output from each sample's winning (longest) capsule: images (N, C, H, W) in [0, 1],
    or with ``kind="pose"`` landmarks (N, 21, 3)."""
    import torch

    _require_decoder(model)
    model.eval()
    with torch.no_grad():
        _, caps = model.forward_capsules(*_inputs(model, batch, pose))
        return _decoder(model, kind)(caps).float().numpy()


def perturbation_grid(model: Any, crop_tensor: Any, deltas: tuple[float, ...] = DELTAS,
                      target: int | None = None, pose: Any = None, kind: str = "image") -> np.ndarray:
    """Decode the winning capsule (or `target`'s) with each dimension shifted by each delta.

    `crop_tensor`: one model input, (C, H, W) or (1, C, H, W) (and `pose`, (21, 3), for models
    that read landmarks). Returns (D, len(deltas), *decoded) float32: images (C, H, W) in [0, 1],
    or landmarks (21, 3) with ``kind="pose"``. Row d = dimension d, column j = that dimension plus
    deltas[j]. The decoder is always masked with the same class, so a perturbation never
    switches which capsule is drawn.
    """
    import torch

    _require_decoder(model)
    model.eval()
    with torch.no_grad():
        xs = [x[:1] for x in _inputs(model, crop_tensor, pose)]
        lengths, caps = model.forward_capsules(*xs)
        k = int(lengths[0].argmax()) if target is None else int(target)
        num_dims = caps.shape[2]
        steps = torch.tensor(deltas, dtype=caps.dtype)
        batch = caps.repeat(num_dims * len(deltas), 1, 1)  # (D*J, K, D)
        rows = torch.arange(num_dims).repeat_interleave(len(deltas))
        batch[torch.arange(len(batch)), k, rows] += steps.repeat(num_dims)
        decoded = _decoder(model, kind)(batch, torch.full((len(batch),), k, dtype=torch.long))
    return decoded.float().numpy().reshape(num_dims, len(deltas), *decoded.shape[1:])


# ----------------------------------------------------------------------------- the command's work


def explain_image(checkpoint: str | Path, image: str | Path, out: str | Path | None = None,
                  hand_model: str | Path | None = None, fallback: bool = False,
                  threshold: float | None = None) -> dict[str, Any]:
    """Detect and crop the hand in `image`, classify it, apply the checkpoint's rejection rule
    (``threshold`` overrides its accept) and write the explain PNG.

    Returns {"image", "png", "class" (the longest capsule, the one decoded), "class_index", "lengths"
    {class: length}, "status", "label" (the accepted sign, None when rejected), "best" (the winning
    sign), "reason", "pose_error" (pose-decoder models, else None), "rule", "hand", "handedness",
    "model", "checkpoint"}. Default PNG: explain-<image stem>.png beside the checkpoint.
    """
    from signcaps.hands.landmarks import normalize_pose
    from signcaps.hands.preprocess import crop_hand, to_tensor
    from signcaps.models.checkpoint import build_from_checkpoint, require_checkpoint_file
    from signcaps.signs.rejection import RejectionRule, RejectionRuleError, decide, pose_error

    require_checkpoint_file(checkpoint)
    png, pose_png = figure_paths(out, Path(checkpoint).parent, image, checkpoint)
    model, recipe, classes, state = build_from_checkpoint(checkpoint)
    try:
        rule = RejectionRule.from_meta(state.get("rejection"), [str(c) for c in classes]).with_accept(threshold)
    except RejectionRuleError as err:
        raise ExplainError(f"{checkpoint}: {err}") from None
    if not (getattr(model, "has_decoder", False) or getattr(model, "has_pose_decoder", False)):
        raise ExplainError(f"{checkpoint} is a '{recipe.model.name}' model without a decoder; "
                           f"explain needs a capsule network (capsnet, pose-capsnet, fused-capsnet, capsnet-sabour)")
    image = Path(image)
    rgb, hand = read_and_find_hand(image, recipe.detect, hand_model, fallback, "pose" in model.inputs,
                                   recipe.model.name)
    crop = crop_hand(rgb, None if hand is None else hand.landmarks, bool(hand and hand.is_left), recipe.crop)
    tensor = to_tensor(crop, recipe.crop)
    pose = None if hand is None else normalize_pose(hand.points, hand.is_left, recipe.crop.mirror_left)
    lengths = capsules(model, tensor, pose)[0][0]
    predicted = int(lengths.argmax())  # the longest capsule: what the decoders draw
    decoded = pose_err = None
    if getattr(model, "has_pose_decoder", False):
        decoded = reconstruction(model, tensor, pose, kind="pose")[0]
        pose_err = float(pose_error(decoded[None], pose[None])[0])
    decision = decide(lengths, [str(c) for c in classes], rule, pose_err)
    note = verdict(decision, pose_err)
    figures = []
    shown = {}
    if getattr(model, "has_decoder", False):
        recon = reconstruction(model, tensor, pose)[0]
        grid = perturbation_grid(model, tensor, target=predicted, pose=pose)
        shown["image"] = shown_dimensions(grid)
        input01 = np.clip(tensor * recipe.crop.std + recipe.crop.mean, 0, 1)
        figures.append((png, render(input01, recon, grid[shown["image"]["dims"]], lengths, classes, predicted,
                                    note=note, dim_labels=shown["image"]["dims"])))
    if decoded is not None:
        grid = perturbation_grid(model, tensor, target=predicted, pose=pose, kind="pose")
        shown["pose"] = shown_dimensions(grid, POSE_VISIBLE)
        target = png if not figures else pose_png
        pictures = pose_pictures(pose, decoded, grid[shown["pose"]["dims"]])
        figures.append((target, render(*pictures, lengths, classes, predicted, note=note,
                                       dim_labels=shown["pose"]["dims"])))
    for path, figure in figures:
        write_png(path, figure, user_named=out is not None and path == png)
    return {"image": str(image), "png": str(figures[0][0]), "pngs": [str(p) for p, _ in figures],
            "class": classes[predicted], "class_index": predicted,
            "lengths": {name: float(v) for name, v in zip(classes, lengths)}, "status": decision.status,
            "label": decision.label, "best": classes[decision.index], "reason": decision.reason,
            "pose_error": pose_err, "rule": rule.to_meta(), "hand": hand is not None,
            "handedness": None if hand is None else hand.handedness, "model": recipe.model.name,
            "checkpoint": str(checkpoint), "dimensions": shown}


POSE_CELL = 96  # skeleton tiles are drawn at grid-cell size, not upscaled
POSE_VISIBLE = 0.02  # a landmark moved by 2% of the hand's size: about a pixel in a grid tile


def pose_pictures(pose: np.ndarray, decoded: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skeleton drawings in `render`'s (C, H, W) [0, 1] format: the real landmarks, the winning
    capsule's decoded hand over them, and every perturbed decoding (one scale for the grid)."""
    from signcaps.live.overlay import pose_tile

    def as01(tile: np.ndarray) -> np.ndarray:
        return tile.transpose(2, 0, 1).astype(np.float32) / 255.0

    everything = np.concatenate([pose[:, :2], grid[..., :2].reshape(-1, 2)])
    bounds = (everything.min(axis=0), everything.max(axis=0))
    cells = np.stack([np.stack([as01(pose_tile(pose, g, POSE_CELL, bounds=bounds)) for g in row]) for row in grid])
    return as01(pose_tile(pose, None, POSE_CELL)), as01(pose_tile(pose, decoded, POSE_CELL)), cells
