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

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from signcaps.hands.preprocess import unit_to_rgb
from signcaps.util.errors import UserError

DELTAS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(-5, 6))  # 11 columns

# Layout of the PNG, in pixels.
CELL_TARGET = 80  # crops are upscaled by an integer factor to at least this many pixels
PAD = 4  # gap between cells and around the grid
LABEL_W = 56  # row labels ("d0" .. "d15")
LABEL_H = 24  # column labels ("-0.25" .. "+0.25")
CAPTION_H = 24  # captions above the input / reconstruction / lengths header
HEADER_CELLS = 2  # input and reconstruction are shown HEADER_CELLS x bigger than grid cells


class ExplainError(UserError, ValueError):
    """A checkpoint or image that cannot be explained (no decoder, no hand)."""


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


# ----------------------------------------------------------------------------- rendering


def cell_size(input_size: int) -> int:
    return input_size * max(1, math.ceil(CELL_TARGET / input_size))


def figure_size(input_size: int, dims: int = 16, columns: int = len(DELTAS)) -> tuple[int, int]:
    """(height, width) of the explain PNG for this crop size and grid."""
    cell = cell_size(input_size)
    width = LABEL_W + columns * cell + (columns + 1) * PAD
    header = PAD + CAPTION_H + HEADER_CELLS * cell + PAD
    height = header + LABEL_H + dims * (cell + PAD) + PAD
    return height, width


def _rgb(image01: np.ndarray, size: int) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (size, size, 3) uint8, nearest-neighbour upscaled (pixels stay crisp)."""
    return cv2.resize(unit_to_rgb(image01), (size, size), interpolation=cv2.INTER_NEAREST)


def _text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.45, centre_w: int | None = None) -> None:
    """Black text with baseline y; centred in [x, x + centre_w) when given."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    if centre_w is not None:
        (tw, _), _ = cv2.getTextSize(text, font, scale, 1)
        x += max(0, (centre_w - tw) // 2)
    cv2.putText(canvas, text, (int(x), int(y)), font, scale, (0, 0, 0), 1, cv2.LINE_AA)


def _note(canvas: np.ndarray, lines: list[str], x: int, y: int, width: int) -> None:
    """Lines of text on a light band at the top of a picture (the decision on the decoded skeleton)."""
    if not lines:
        return
    height = 6 + 16 * len(lines)
    band = canvas[y:y + height, x:x + width]
    band[:] = (band.astype(np.uint16) * 1 // 4 + 191).astype(np.uint8)
    for k, line in enumerate(lines):
        _text(canvas, line, x + 4, y + 16 * (k + 1), 0.42)


def verdict(decision: Any, pose_err: float | None = None) -> list[str]:
    """The rule's answer in words: "ok: 3" / "? below threshold" / "none: pose disagrees", then the pose error."""
    if decision.status == "ok":
        first = f"ok: {decision.label}"
    else:
        first = f"{'none' if decision.status == 'none' else '?'}: {decision.reason}"
    return [first] + ([f"pose error {pose_err:.2f}"] if pose_err is not None else [])


def render(input01: np.ndarray, recon01: np.ndarray, grid01: np.ndarray, lengths: np.ndarray,
           classes: list[str], predicted: int, deltas: tuple[float, ...] = DELTAS,
           note: list[str] | None = None) -> np.ndarray:
    """The explain figure as an (H, W, 3) uint8 RGB image; size = `figure_size`. ``note``: lines written on
    the reconstruction (the rule's decision and the pose error)."""
    input_size = input01.shape[-1]
    dims, columns = grid01.shape[:2]
    cell = cell_size(input_size)
    height, width = figure_size(input_size, dims, columns)
    canvas = np.full((height, width, 3), 255, np.uint8)

    # header: model input, reconstruction, capsule lengths
    big = HEADER_CELLS * cell
    top = PAD + CAPTION_H
    x = LABEL_W + PAD
    for caption, image in (("input", input01), (f"reconstruction ({classes[predicted]})", recon01)):
        canvas[top:top + big, x:x + big] = _rgb(image, big)
        _text(canvas, caption, x, top - 7, centre_w=big)
        x += big + PAD
    _note(canvas, note or [], LABEL_W + PAD + big + PAD, top, big)
    bars_x = x + 8 * PAD
    label_w = 8 * max(len(c) for c in classes) + 12
    bar_max = max(20, width - PAD - bars_x - label_w - 48)
    _text(canvas, f"capsule lengths: predicted {classes[predicted]} ({lengths[predicted]:.3f})", bars_x, top - 7)
    row_h = big / len(classes)
    for i, (name, value) in enumerate(zip(classes, lengths)):
        y0 = int(top + i * row_h)
        y1 = max(y0 + 1, int(top + (i + 1) * row_h) - 2)
        scale = min(0.45, max(0.25, row_h / 40))
        _text(canvas, name, bars_x, y1 - 1, scale)
        colour = (200, 60, 40) if i == predicted else (90, 120, 200)
        x0 = bars_x + label_w
        cv2.rectangle(canvas, (x0, y0), (x0 + max(1, int(bar_max * float(value))), y1), colour, -1)
        _text(canvas, f"{value:.2f}", x0 + int(bar_max * float(value)) + 4, y1 - 1, scale)

    # perturbation grid with column (delta) and row (dimension) labels
    grid_top = PAD + CAPTION_H + big + PAD + LABEL_H
    _text(canvas, "dim", 8, grid_top - 7)
    for j, delta in enumerate(deltas):
        x = LABEL_W + PAD + j * (cell + PAD)
        _text(canvas, f"{delta:+.2f}" if delta else "0", x, grid_top - 7, centre_w=cell)
    for d in range(dims):
        y = grid_top + d * (cell + PAD)
        _text(canvas, f"d{d}", 8, y + cell // 2 + 5, 0.5)
        for j in range(columns):
            x = LABEL_W + PAD + j * (cell + PAD)
            canvas[y:y + cell, x:x + cell] = _rgb(grid01[d, j], cell)
    return canvas


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
    from signcaps.hands.preprocess import ImageReadError, crop_hand, read_image_rgb, to_tensor
    from signcaps.models.checkpoint import build_from_checkpoint, require_checkpoint_file
    from signcaps.signs.rejection import RejectionRule, RejectionRuleError, decide, pose_error
    from signcaps.util.outputs import claim_files, ensure_writable_file

    require_checkpoint_file(checkpoint)
    png = Path(out) if out else Path(checkpoint).parent / f"explain-{Path(image).stem}.png"
    if not cv2.haveImageWriter(str(png)):
        raise ExplainError(f"cannot write {png} (use a .png name in a writable folder)")
    ensure_writable_file(png, "-o", inputs=[checkpoint, image])
    pose_png = png.with_name(f"{png.stem}-pose{png.suffix}")
    # names explain picks itself (the default beside the checkpoint, the pose figure) replace only its own files
    claim_files(png.parent, [pose_png.name] if out else [png.name, pose_png.name], "the folder of -o")
    model, recipe, classes, state = build_from_checkpoint(checkpoint)
    try:
        rule = RejectionRule.from_meta(state.get("rejection"), [str(c) for c in classes]).with_accept(threshold)
    except RejectionRuleError as err:
        raise ExplainError(f"{checkpoint}: {err}") from None
    if not (getattr(model, "has_decoder", False) or getattr(model, "has_pose_decoder", False)):
        raise ExplainError(f"{checkpoint} is a '{recipe.model.name}' model without a decoder; "
                           f"explain needs a capsule network (capsnet, pose-capsnet, fused-capsnet, capsnet-sabour)")
    image = Path(image)
    try:
        rgb = read_image_rgb(image)
    except ImageReadError as err:
        raise ExplainError(str(err) if str(image) in str(err) else f"{image}: {err}") from None
    hand = _find_hand(rgb, recipe.detect, hand_model)
    if hand is None and (not fallback or "pose" in model.inputs):
        raise ExplainError(f"no hand found in {image}" + ("" if "pose" in model.inputs else
                                                           "; pass --fallback to explain the centre square "
                                                           "of the image"))
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
    if getattr(model, "has_decoder", False):
        recon = reconstruction(model, tensor, pose)[0]
        grid = perturbation_grid(model, tensor, target=predicted, pose=pose)
        input01 = np.clip(tensor * recipe.crop.std + recipe.crop.mean, 0, 1)
        figures.append((png, render(input01, recon, grid, lengths, classes, predicted, note=note)))
    if decoded is not None:
        grid = perturbation_grid(model, tensor, target=predicted, pose=pose, kind="pose")
        target = png if not figures else pose_png
        figures.append((target, render(*pose_pictures(pose, decoded, grid), lengths, classes, predicted, note=note)))
    for path, figure in figures:
        _write_png(path, figure)
    return {"image": str(image), "png": str(figures[0][0]), "pngs": [str(p) for p, _ in figures],
            "class": classes[predicted], "class_index": predicted,
            "lengths": {name: float(v) for name, v in zip(classes, lengths)}, "status": decision.status,
            "label": decision.label, "best": classes[decision.index], "reason": decision.reason,
            "pose_error": pose_err, "rule": rule.to_meta(), "hand": hand is not None,
            "handedness": None if hand is None else hand.handedness, "model": recipe.model.name,
            "checkpoint": str(checkpoint)}


POSE_CELL = 96  # skeleton tiles are drawn at grid-cell size, not upscaled


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


def _write_png(png: Path, figure: np.ndarray) -> None:
    """Written under a temporary name and renamed: an existing PNG survives a failed write."""
    from signcaps.util.outputs import atomic_write, write_image

    bgr = cv2.cvtColor(figure, cv2.COLOR_RGB2BGR)

    def write(tmp: Path) -> None:
        if not write_image(tmp, bgr):
            raise ExplainError(f"cannot write {png} (use a .png name in a writable folder)")

    atomic_write(png, write)


def _find_hand(rgb: np.ndarray, detect_cfg: Any, hand_model: str | Path | None) -> Any:
    from signcaps.hands.detector import HandDetector
    from signcaps.util.assets import resolve_hand_model

    with HandDetector(resolve_hand_model(hand_model), detect_cfg, mode="image") as detector:
        hands = detector.detect(rgb)
    return hands[0] if hands else None
