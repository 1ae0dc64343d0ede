"""The explain figure, torch-free: the input, the winning capsule's reconstruction, the capsule lengths
and the perturbation grid of Sabour et al. (figure 4), tiled with OpenCV so its size follows exactly
from the layout constants below (`figure_size`).

The grid shows only the capsule dimensions that change the reconstruction visibly (`rank_dimensions`):
on a trained model most of the 16 dimensions redraw the same picture at every delta, and a 16 x 11
grid of near-identical tiles hid the few that matter (issue 25). Used by `explain` on a checkpoint
(training/explain.py) and on an ONNX model (runtime/explain.py).
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


TOP_DIMENSIONS = 5  # grid rows shown: the dimensions whose perturbation changes the reconstruction most
# A tile differs visibly from its neighbour from about 8 grey levels (of 255) in some pixel; the shipped
# model's decoder stays below 2 at +-0.25 for every dimension (it draws nearly one picture per class).
VISIBLE = 8.0 / 255.0


def dimension_changes(grid: np.ndarray, deltas: tuple[float, ...] = DELTAS) -> np.ndarray:
    """(D,) how much each dimension changes the decoding of a (D, J, ...) perturbation grid: the largest
    absolute difference of any pixel (or landmark coordinate) between a perturbed decoding and the
    unperturbed one (delta 0)."""
    centre = deltas.index(0.0) if 0.0 in deltas else len(deltas) // 2
    flat = grid.reshape(grid.shape[0], grid.shape[1], -1).astype(np.float32)
    return np.abs(flat - flat[:, centre:centre + 1]).max(axis=(1, 2))


def rank_dimensions(grid: np.ndarray, top: int = TOP_DIMENSIONS, deltas: tuple[float, ...] = DELTAS) -> list[int]:
    """The `top` dimensions that change the decoding most (`dimension_changes`), best first."""
    change = dimension_changes(grid, deltas)
    return [int(d) for d in np.argsort(-change, kind="stable")[:top]]


def shown_dimensions(grid: np.ndarray, visible: float = VISIBLE, top: int = TOP_DIMENSIONS) -> dict[str, Any]:
    """What the figure's grid shows and how much it moves: {"dims": ranked dimensions, "change": their
    largest change, "visible": whether the best one reaches `visible`} (the JSON's `dimensions`)."""
    change = dimension_changes(grid)
    dims = rank_dimensions(grid, top)
    return {"dims": dims, "change": [round(float(change[d]), 4) for d in dims],
            "visible": bool(len(dims) and change[dims[0]] >= visible)}


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
           note: list[str] | None = None, dim_labels: list[int] | None = None) -> np.ndarray:
    """The explain figure as an (H, W, 3) uint8 RGB image; size = `figure_size`. ``note``: lines written on
    the reconstruction (the rule's decision and the pose error); ``dim_labels``: the capsule dimension each grid
    row shows (its label; default 0, 1, ...)."""
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
        _text(canvas, f"d{d if dim_labels is None else dim_labels[d]}", 8, y + cell // 2 + 5, 0.5)
        for j in range(columns):
            x = LABEL_W + PAD + j * (cell + PAD)
            canvas[y:y + cell, x:x + cell] = _rgb(grid01[d, j], cell)
    return canvas


def figure_paths(out: str | Path | None, beside: Path, image: str | Path,
                 model: str | Path | None) -> tuple[Path, Path]:
    """(the figure's PNG, the pose figure's PNG), checked before any work: -o, else
    explain-<image stem>.png in `beside` (the model's folder); names explain picks itself (the default,
    the pose figure) replace only its own files."""
    from signcaps.util.outputs import claim_files, ensure_writable_file

    png = Path(out) if out else Path(beside) / f"explain-{Path(image).stem}.png"
    if not cv2.haveImageWriter(str(png)):
        raise ExplainError(f"cannot write {png} (use a .png name in a writable folder)")
    ensure_writable_file(png, "-o", inputs=[p for p in (model, image) if p is not None])
    pose_png = png.with_name(f"{png.stem}-pose{png.suffix}")
    claim_files(png.parent, [pose_png.name] if out else [png.name, pose_png.name], "the folder of -o")
    return png, pose_png


def write_png(png: Path, figure: np.ndarray, user_named: bool = False) -> None:
    """Written under a temporary name and renamed: an existing PNG survives a failed write.
    ``user_named`` (``-o``): the file is the user's from now on (`outputs.atomic_write`)."""
    from signcaps.util.outputs import atomic_write, write_image

    bgr = cv2.cvtColor(figure, cv2.COLOR_RGB2BGR)

    def write(tmp: Path) -> None:
        if not write_image(tmp, bgr):
            raise ExplainError(f"cannot write {png} (use a .png name in a writable folder)")

    atomic_write(png, write, user_named=user_named)


def read_and_find_hand(image: Path, detect_cfg: Any, hand_model: str | Path | None, fallback: bool,
                       needs_pose: bool, model_name: Any) -> tuple[np.ndarray, Any]:
    """The photo (RGB) and its first hand (None: the centre square, which only `--fallback` on an
    image-only model may use); one ExplainError line for an unreadable photo or a missing hand."""
    from signcaps.hands.preprocess import ImageReadError, read_image_rgb

    try:
        rgb = read_image_rgb(image)
    except ImageReadError as err:
        raise ExplainError(str(err) if str(image) in str(err) else f"{image}: {err}") from None
    hand = find_hand(rgb, detect_cfg, hand_model)
    if hand is None and fallback and needs_pose:  # the centre square has no landmarks to read
        raise ExplainError(f"--fallback does not apply to a '{model_name}' model: it reads the hand's landmarks, "
                           f"which only a detected hand has, and MediaPipe detected none in {image}")
    if hand is None and not fallback:
        raise ExplainError(f"no hand found in {image}" + ("" if needs_pose else "; pass --fallback to explain the "
                                                                             "centre square of the image"))
    return rgb, hand


def find_hand(rgb: np.ndarray, detect_cfg: Any, hand_model: str | Path | None) -> Any:
    from signcaps.hands.detector import HandDetector
    from signcaps.util.assets import resolve_hand_model

    with HandDetector(resolve_hand_model(hand_model), detect_cfg, mode="image") as detector:
        hands = detector.detect(rgb)
    return hands[0] if hands else None
