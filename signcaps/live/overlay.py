"""Drawing the live view: hand boxes and skeletons, the predicted digit, capsule-length bars, FPS.

Everything is drawn in place on a BGR uint8 frame with OpenCV primitives (about a millisecond
at 640x480) and scales with the frame height, so any frame size works. The layout:

    +----------------+-------------------------------+-------------------------+
    | 3  len 0.94    |                               | processing 61.2 fps     |
    |    Right hand  |         [box + skeleton]      |                         |
    | 0 ▇     |  |   |               "3"             |                         |
    | 1 ▇▇    |  |   |                               |                         |
    | …       |  |   |                               |                         |
    | 9 ▇     |  |   |                               |                         |
    |    none|sign   |                               |                         |
    | crop|rec       |  (--explain)                  |                         |
    +----------------+-------------------------------+-------------------------+
    |            q quit  p pause  s save  f fullscreen  h keys (window only)   |

One panel per hand slot: slot 0 at the left edge, slot 1 at the right edge (below the FPS).
A rejected hand shows "?" in orange when its winning capsule is below the threshold (a sign may
be there) and "none" in red when the rejection rule says it signs nothing; the bars stay the
capsule lengths either way, with the threshold ("sign" from there) and the rule's none_below
("none" below it) marked and labelled under them. With more than `MAX_BARS` classes (the letters)
the panel shows the `TOP_K` longest capsules, longest first, and says so ("top 5 of 24"): 24 bars
at 640x480 would be too thin to read. The JSON lines keep every length.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from signcaps.hands.detector import HAND_CONNECTIONS

FONT = cv2.FONT_HERSHEY_SIMPLEX
# BGR colours, one per hand slot, then the shared ones.
SLOT_COLOURS = ((80, 200, 255), (255, 160, 80), (120, 255, 120), (200, 120, 255))
WIN = (60, 220, 60)  # the winning capsule
BAR = (170, 170, 170)
UNSURE = (0, 190, 255)  # winner below the threshold: "?"
NONE = (70, 70, 235)  # the rejection rule says: no sign
TEXT = (255, 255, 255)
SHADOW = (0, 0, 0)


@dataclass
class HandView:
    """What the overlay needs to know about one hand (decoupled from the pipeline types)."""

    slot: int
    landmarks: np.ndarray | None  # (21, 2) pixels; None = the slot's hand is missing this frame
    box: tuple[int, int, int, int] | None  # crop square x0, y0, x1, y1
    lengths: np.ndarray | None  # (K,) smoothed capsule lengths
    label: str | None  # None = below the threshold ("?")
    handedness: str = ""
    crop: np.ndarray | None = None  # RGB model-input crop (--explain)
    reconstruction: np.ndarray | None = None  # RGB decoder image (--explain)
    pose_tile: np.ndarray | None = None  # RGB: input skeleton and the decoded one (--explain, pose models)
    status: str | None = None  # ok | uncertain | none (rejection.decide); None: "ok" with a label, else "uncertain"
    reason: str = ""  # the rule's reason for a rejection (shown with --explain)
    pose_error: float | None = None  # the winner's decoded skeleton vs the observed one (--explain)
    best: int | None = None  # the winning sign's bar (None: the longest capsule)

    @property
    def shown_status(self) -> str:
        if self.status is not None:
            return self.status
        return "ok" if self.label is not None else "uncertain"


def answer_text(view: HandView) -> tuple[str, tuple[int, int, int] | None]:
    """What to write for a hand and in which colour (None: the slot's): the sign, "?" or "none"."""
    status = view.shown_status
    if status == "none":
        return "none", NONE
    if status == "uncertain" or view.label is None:
        return "?", UNSURE
    return view.label, None


def scale_for(shape: tuple[int, ...]) -> float:
    """Drawing scale: 1.0 at 480 px frame height (plain floats: called many times per frame)."""
    return min(max(shape[0] / 480.0, 0.35), 4.0)


def _line(s: float) -> int:
    """Line thickness for thin strokes (borders, the threshold mark): 1 px at 480 p, 2 at 720 p and up."""
    return max(1, int(round(s)))


def _text(img: np.ndarray, text: str, org: tuple[int, int], size: float, colour=TEXT, thick: int = 1) -> None:
    """Text with a dark drop shadow, readable on any background.

    The shadow is the same text shifted, not a thicker stroke: OpenCV 5 renders fonts whose
    advance depends on the thickness, so a thicker outline would not line up with the text.
    """
    shift = max(1, int(round(size * 2)))
    cv2.putText(img, text, (org[0] + shift, org[1] + shift), FONT, size, SHADOW, thick, cv2.LINE_AA)
    cv2.putText(img, text, org, FONT, size, colour, thick, cv2.LINE_AA)


def _darken(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, keep: float = 0.35) -> None:
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 > x0 and y1 > y0:
        roi = img[y0:y1, x0:x1]
        cv2.convertScaleAbs(roi, dst=roi, alpha=keep)


def draw_hand(img: np.ndarray, view: HandView, threshold: float) -> None:
    """Crop box, skeleton and the predicted digit next to the hand."""
    if view.landmarks is None or view.box is None:
        return
    s = scale_for(img.shape)
    colour = SLOT_COLOURS[view.slot % len(SLOT_COLOURS)]
    x0, y0, x1, y1 = view.box
    cv2.rectangle(img, (x0, y0), (x1, y1), colour, max(1, int(round(2 * s))), cv2.LINE_AA)
    pts = np.round(view.landmarks).astype(np.int32)
    lines = [np.array([pts[a], pts[b]]) for a, b in HAND_CONNECTIONS]
    cv2.polylines(img, lines, False, colour, max(1, int(round(2 * s))), cv2.LINE_AA)
    radius = max(2, int(round(3 * s)))
    for x, y in pts:
        cv2.circle(img, (int(x), int(y)), radius, TEXT, -1, cv2.LINE_AA)
    text, shown = answer_text(view)
    size = (1.0 if text == "none" else 1.6) * s
    thick = max(2, int(round(3 * s)))
    (tw, th), _ = cv2.getTextSize(text, FONT, size, thick)
    tx = int(np.clip(x0, 0, max(img.shape[1] - tw, 0)))
    ty = y0 - int(6 * s) if y0 - th - int(6 * s) > 0 else min(y1 + th + int(6 * s), img.shape[0] - 2)
    _text(img, text, (tx, ty), size, shown or colour, thick)


EXPLAIN_H = 70  # the explain tiles' band, at scale 1
DECISION_H = 26  # the decision, its reason and the pose error under them (two lines)


MAX_LABEL = 14  # characters of a class name beside its bar; longer ones end in "."
MAX_BARS = 12  # up to this many classes every capsule has its bar; beyond it only the TOP_K longest
TOP_K = 5


def bar_rows(count: int) -> int:
    """How many bars a panel shows for `count` classes."""
    return count if count <= MAX_BARS else TOP_K


def shown_bars(lengths: np.ndarray | None, count: int) -> list[int]:
    """The classes whose bars are drawn, in order: all of them, or the TOP_K longest capsules, longest first."""
    if count <= MAX_BARS:
        return list(range(count))
    if lengths is None:
        return []
    return [int(i) for i in np.argsort(-np.asarray(lengths, np.float32), kind="stable")[:TOP_K]]


def bar_label(name: str) -> str:
    """A class name as it fits beside its bar (OpenCV's fonts are ASCII: no ellipsis)."""
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "."


def label_width(classes: list[str] | int, s: float) -> int:
    """Pixels for the bar labels: the widest class name (26 px at scale 1 for the digits' one character)."""
    if isinstance(classes, int) or not classes:
        return int(round(26 * s))
    widest = max(cv2.getTextSize(bar_label(str(c)), FONT, 0.45 * s, _line(s))[0][0] for c in classes)
    return max(int(round(26 * s)), widest + int(round(8 * s)))


def panel_size(img_shape: tuple[int, ...], classes: list[str] | int, explain: bool) -> tuple[int, int]:
    """(width, height) of a hand's panel; `classes` (the names, or only their count) sets the labels' width."""
    s = scale_for(img_shape)
    count = classes if isinstance(classes, int) else len(classes)
    row = max(8, int(round(18 * s)))
    width = int(round(124 * s)) + label_width(classes, s)
    notes = 1 + (count > MAX_BARS)  # the lines' labels; "top 5 of 24"
    height = (int(round(44 * s)) + (bar_rows(count) + notes) * row
              + (int(round((EXPLAIN_H + DECISION_H) * s)) if explain else 0) + int(round(6 * s)))
    return width, height


def _fitting(candidates: tuple[str, ...], size: float, room: int) -> str:
    """The first text that fits `room` pixels (the longest wording first), else the last."""
    for text in candidates:
        if cv2.getTextSize(text, FONT, size, 1)[0][0] <= room:
            return text
    return candidates[-1]


def draw_panel(img: np.ndarray, view: HandView, classes: list[str], threshold: float, x: int, y: int,
               explain: bool = False, none_below: float = 0.0) -> None:
    """The big answer and one labelled bar per class capsule at (x, y); the winning sign highlighted."""
    s = scale_for(img.shape)
    width, height = panel_size(img.shape, classes, explain)
    _darken(img, x, y, x + width, y + height)
    pad = int(round(6 * s))
    colour = SLOT_COLOURS[view.slot % len(SLOT_COLOURS)]
    header = int(round(40 * s))
    if view.lengths is None:
        _text(img, "no hand", (x + pad, y + int(header * 0.7)), 0.7 * s, TEXT, max(1, int(round(2 * s))))
        lengths = np.zeros(len(classes), np.float32)
        best = -1
    else:
        lengths = np.clip(np.asarray(view.lengths, np.float32), 0.0, 1.0)
        best = int(np.argmax(lengths)) if view.best is None else int(view.best)
        big, shown = answer_text(view)
        size, thick = (0.7 if big == "none" else 1.3) * s, max(2, int(round(3 * s)))
        wide = cv2.getTextSize(big, FONT, size, thick)[0][0]
        number_x = x + int(round(60 * s))  # the winner's length and the handedness, right of the big answer
        if wide > number_x - x - pad:  # a long class name ("three", "I love you"): the numbers move right,
            number_x = x + width - int(round(60 * s))
            room = number_x - x - pad - int(round(4 * s))
            big = bar_label(big) if wide > room else big
            while cv2.getTextSize(big, FONT, size, thick)[0][0] > room and size > 0.35 * s:
                size *= 0.9  # and the name shrinks rather than run over them or the panel's edge
        _text(img, big, (x + pad, y + header - int(4 * s)), size, shown or colour, thick)
        room = x + width - pad - number_x
        length_text = _fitting((f"len {lengths[best]:.2f}", f"{lengths[best]:.2f}"), 0.45 * s, room)
        _text(img, length_text, (number_x, y + int(header * 0.55)), 0.45 * s, TEXT, _line(s))
        if view.handedness:  # MediaPipe's "Left"/"Right", written out
            hand = _fitting((f"{view.handedness} hand", view.handedness, view.handedness[0]), 0.45 * s, room)
            _text(img, hand, (number_x, y + header - int(4 * s)), 0.45 * s, colour, _line(s))
    row = max(8, int(round(18 * s)))
    label_w = label_width(classes, s)
    bar_x0 = x + pad + label_w
    bar_w = width - 2 * pad - label_w
    picked = shown_bars(None if view.lengths is None else lengths, len(classes))
    rows = bar_rows(len(classes))
    for k, i in enumerate(picked):
        top = y + header + k * row
        name = classes[i]
        winner = i == best
        _text(img, bar_label(str(name)), (x + pad, top + row - int(4 * s)), 0.45 * s, TEXT, _line(s))
        length = int(round(float(lengths[i]) * bar_w))
        fill = (answer_text(view)[1] or WIN) if winner else BAR
        inset_top, inset_bottom = max(1, int(round(2 * s))), max(2, int(round(3 * s)))
        cv2.rectangle(img, (bar_x0, top + inset_top), (bar_x0 + bar_w, top + row - inset_bottom), (70, 70, 70),
                      _line(s))
        if length > 0:
            cv2.rectangle(img, (bar_x0, top + inset_top), (bar_x0 + length, top + row - inset_bottom), fill, -1)
    bottom = y + header + rows * row
    tx = bar_x0 + int(round(threshold * bar_w))  # the threshold as a thin vertical line
    cv2.line(img, (tx, y + header), (tx, bottom), UNSURE, _line(s))
    nx = None
    if none_below > 0:  # below this line the rule answers "none"
        nx = bar_x0 + int(round(none_below * bar_w))
        cv2.line(img, (nx, y + header), (nx, bottom), NONE, _line(s))
    _label_lines(img, tx, nx, bottom + row - int(5 * s), bar_x0, bar_x0 + bar_w, s)
    if len(classes) > MAX_BARS:
        _text(img, f"top {rows} of {len(classes)}", (x + pad, bottom + 2 * row - int(5 * s)), 0.4 * s, TEXT,
              _line(s))
    if explain:
        top = y + header + (rows + 1 + (len(classes) > MAX_BARS)) * row + pad
        draw_explain(img, view, x + pad, top, int(round(64 * s)), width - 2 * pad)
        if view.lengths is not None:
            draw_decision(img, view, x + pad, top + int(round(EXPLAIN_H * s)))


def _label_lines(img: np.ndarray, tx: int, nx: int | None, base: int, left: int, right: int, s: float) -> None:
    """Under the bars, what the two lines mean: "sign" starts at the threshold (a longer winning capsule is
    answered), "none" ends at the rule's none_below (all capsules shorter: no sign); between them is "?"."""
    size = 0.35 * s
    sign_w = cv2.getTextSize("sign", FONT, size, _line(s))[0][0]
    sign_x = min(tx + int(2 * s), right - sign_w)
    _text(img, "sign", (sign_x, base), size, UNSURE, _line(s))
    if nx is not None:
        none_w = cv2.getTextSize("none", FONT, size, _line(s))[0][0]
        none_x = max(left - int(round(4 * s)), min(nx - none_w - int(2 * s), sign_x - none_w - int(3 * s)))
        _text(img, "none", (none_x, base), size, NONE, _line(s))


def decision_lines(view: HandView) -> list[str]:
    """The decision in words (--explain): what was answered, the pose error when measured, and why."""
    text, _ = answer_text(view)
    first = text + (f"  pose err {view.pose_error:.2f}" if view.pose_error is not None else "")
    return [first, view.reason] if view.reason else [first]


def draw_decision(img: np.ndarray, view: HandView, x: int, y: int) -> None:
    """Two small lines under the explain tiles: the answer (+ pose error), then the rule's reason."""
    s = scale_for(img.shape)
    colour = answer_text(view)[1] or TEXT
    for k, line in enumerate(decision_lines(view)):
        _text(img, line, (x, y + int(round((10 + 12 * k) * s))), 0.35 * s, colour if k == 0 else TEXT, _line(s))


def draw_explain(img: np.ndarray, view: HandView, x: int, y: int, side: int, width: int | None = None) -> None:
    """The model-input crop, its live capsule reconstruction and (pose models) the decoded skeleton, side by side."""
    pictures = ([p for p in (view.crop, view.reconstruction, view.pose_tile) if p is not None]
                if view.crop is not None else [])
    if width is not None and pictures:  # shrink the tiles so all of them fit the panel
        side = max(8, min(side, (width - 4 * (len(pictures) - 1)) // len(pictures)))
    for k, picture in enumerate(pictures):
        x0 = x + k * (side + 4)
        if picture is None:
            continue
        _paste(img, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), x0, y, side)
        cv2.rectangle(img, (x0, y), (x0 + side, y + side), (90, 90, 90), 1)
    s = scale_for(img.shape)
    if view.crop is not None:
        _text(img, "in", (x + 2, y + side - 3), 0.35 * s)
    if view.reconstruction is not None:
        _text(img, "recon", (x + side + 6, y + side - 3), 0.35 * s)
    if view.pose_tile is not None:
        _text(img, "pose", (x + (len(pictures) - 1) * (side + 4) + 2, y + side - 3), 0.35 * s)


INPUT_BONES = (150, 150, 150)  # RGB: the landmarks the model read
DECODED_BONES = (60, 220, 90)  # RGB: what the winning capsule decodes to


def pose_tile(pose: np.ndarray, decoded: np.ndarray | None, size: int, margin: float = 0.12,
              bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """RGB picture of a normalised pose (grey) and a decoded one (green) drawn over it.

    Both are in wrist-centred, wrist-to-knuckle units; x and y are drawn as on screen, z is
    dropped. One scale for both, so a decoded hand that is too small or turned shows as such;
    `bounds` (x/y minimum and maximum) fixes the scale across several tiles.
    """
    from signcaps.hands.landmarks import HAND_CONNECTIONS

    tile = np.full((size, size, 3), 24, np.uint8)
    poses = [np.asarray(pose, np.float32)[:, :2]]
    poses += [np.asarray(decoded, np.float32)[:, :2]] if decoded is not None else []
    everything = np.concatenate(poses)
    lo, hi = bounds if bounds is not None else (everything.min(axis=0), everything.max(axis=0))
    scale = (1 - 2 * margin) * size / max(float((hi - lo).max()), 1e-6)
    offset = size / 2.0 - scale * (lo + hi) / 2.0
    thickness = max(1, size // 48)
    for points, colour in zip(poses, (INPUT_BONES, DECODED_BONES)):
        pixels = np.round((points * scale + offset) * 4).astype(np.int32)
        for a, b in HAND_CONNECTIONS:
            cv2.line(tile, tuple(pixels[a]), tuple(pixels[b]), colour, thickness, cv2.LINE_AA, shift=2)
    return tile


def _paste(img: np.ndarray, picture: np.ndarray, x: int, y: int, side: int) -> None:
    tile = cv2.resize(picture, (side, side), interpolation=cv2.INTER_NEAREST)
    h, w = img.shape[:2]
    x1, y1 = min(x + side, w), min(y + side, h)
    if x1 > x and y1 > y and x >= 0 and y >= 0:
        img[y:y1, x:x1] = tile[: y1 - y, : x1 - x]


def draw_status(img: np.ndarray, fps: float | None, paused: bool = False, note: str | None = None) -> None:
    """The processing rate in the top-right corner (frames this machine recognised per second, not the
    video's own rate); PAUSED and short notes (e.g. "saved shot.png") at the bottom."""
    s = scale_for(img.shape)
    if fps is not None:
        text = f"processing {fps:.1f} fps"
        (tw, th), _ = cv2.getTextSize(text, FONT, 0.6 * s, _line(s))
        _text(img, text, (img.shape[1] - tw - int(8 * s), th + int(8 * s)), 0.6 * s, TEXT, _line(s))
    bottom = img.shape[0] - int(10 * s)
    if paused:
        _text(img, "PAUSED (p)", (int(8 * s), bottom), 0.7 * s, UNSURE, max(1, int(round(2 * s))))
    if note:
        (tw, _), _ = cv2.getTextSize(note, FONT, 0.5 * s, _line(s))
        _text(img, note, (max(img.shape[1] - tw - int(8 * s), 0), bottom), 0.5 * s, TEXT, _line(s))


def draw_hint(img: np.ndarray, text: str) -> np.ndarray:
    """A short hint at the bottom centre (the window's keys, always there: "q quit  p pause ...")."""
    s = scale_for(img.shape)
    size = 0.45 * s
    (tw, _), _ = cv2.getTextSize(text, FONT, size, _line(s))
    if tw > img.shape[1] - int(16 * s):  # a narrow frame: a smaller font rather than a cut hint
        size *= (img.shape[1] - int(16 * s)) / tw
        (tw, _), _ = cv2.getTextSize(text, FONT, size, _line(s))
    _text(img, text, (max((img.shape[1] - tw) // 2, 0), img.shape[0] - int(8 * s)), size, TEXT, _line(s))
    return img


def draw_help(img: np.ndarray, keys: tuple[tuple[str, str], ...]) -> np.ndarray:
    """The window's keys in a dark box at the centre of the frame."""
    s = scale_for(img.shape)
    size, thick = 0.6 * s, _line(s)
    row = int(round(30 * s))
    pad = int(round(14 * s))
    key_w = max(cv2.getTextSize(k, FONT, size, thick)[0][0] for k, _ in keys) + int(round(16 * s))
    text_w = max(cv2.getTextSize(t, FONT, size, thick)[0][0] for _, t in keys)
    width = min(img.shape[1], key_w + text_w + 2 * pad)
    height = min(img.shape[0], row * (len(keys) + 1) + 2 * pad)
    x0, y0 = (img.shape[1] - width) // 2, (img.shape[0] - height) // 2
    _darken(img, x0, y0, x0 + width, y0 + height, keep=0.25)
    _text(img, "keys", (x0 + pad, y0 + pad + int(row * 0.7)), size, UNSURE, thick)
    for i, (key, what) in enumerate(keys, start=1):
        base = y0 + pad + i * row + int(row * 0.7)
        _text(img, key, (x0 + pad, base), size, WIN, thick)
        _text(img, what, (x0 + pad + key_w, base), size, TEXT, thick)
    return img


def draw_frame(img: np.ndarray, views: list[HandView], classes: list[str], threshold: float, slots: int,
               fps: float | None = None, explain: bool = False, paused: bool = False,
               note: str | None = None, none_below: float = 0.0) -> np.ndarray:
    """Everything for one frame, in place; `slots` panels are always drawn ("no hand" when empty)."""
    s = scale_for(img.shape)
    by_slot = {v.slot: v for v in views}
    width, _ = panel_size(img.shape, classes, explain)
    margin = int(round(8 * s))
    top_right = int(round(34 * s))  # below the FPS text
    for slot in range(slots):
        view = by_slot.get(slot) or HandView(slot, None, None, None, None)
        if slot % 2 == 0:
            x, y = margin, margin
        else:
            x, y = img.shape[1] - width - margin, top_right
        if slot >= 2:  # rarely used: further slots below the first two
            _, height = panel_size(img.shape, classes, explain)
            y += height + margin
        draw_panel(img, view, classes, threshold, x, y, explain, none_below)
    for view in views:  # hands last: a hand under a panel stays visible
        draw_hand(img, view, threshold)
    draw_status(img, fps, paused, note)
    return img


def draw_number(img: np.ndarray, building: str, progress: float, last: str | None = None) -> np.ndarray:
    """The number being composed (live --compose) at the bottom left, with a bar filling while a
    sign is held towards being committed; the last finished number, dimmed, while none is built."""
    s = scale_for(img.shape)
    size, thick = 1.0 * s, max(2, int(round(2 * s)))
    text = building + "_" if building else (f"= {last}" if last else "_")
    (tw, th), _ = cv2.getTextSize(text, FONT, size, thick)
    pad = int(round(8 * s))
    x0, y1 = int(round(8 * s)), img.shape[0] - int(round(34 * s))
    y0 = y1 - th - 3 * pad
    _darken(img, x0, y0, x0 + tw + 2 * pad, y1)
    _text(img, text, (x0 + pad, y1 - 2 * pad), size, TEXT if building else BAR, thick)
    if progress > 0:
        bar_y = y1 - pad
        cv2.rectangle(img, (x0 + pad, bar_y), (x0 + pad + int(round(progress * tw)), bar_y + max(2, int(round(3 * s)))),
                      WIN, -1)
    return img


def draw_spelling(img: np.ndarray, text: str, progress: float) -> np.ndarray:
    """The text being spelled (live --compose on letters) at the bottom left, drawn as numbers are, with the
    bar filling while a letter is held towards being committed. A text wider than the frame shows its end
    (the newest letters), led by "..."."""
    s = scale_for(img.shape)
    size, thick = 1.0 * s, max(2, int(round(2 * s)))
    room = img.shape[1] - int(round(32 * s))
    shown = text
    while len(shown) > 4 and cv2.getTextSize(shown + "_", FONT, size, thick)[0][0] > room:
        shown = shown[1:]
    if shown != text:
        shown = "..." + shown[3:]
    return draw_number(img, shown, progress)
