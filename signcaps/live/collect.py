"""Record your own signs: hand crops from a camera or video into an image-folder dataset.

    signcaps collect --label 7 --out my-signs --source 0        # OUT/7/<date>-<time>-<00000>.png
    signcaps data prepare --src my-signs                        # detect + crop, like any dataset
    signcaps train --data my-signs

What is saved, and why: `data prepare` detects the hand again in every saved image (IMAGE
mode, with its `context_pad`) and then crops it with the recipe's margin. So the saved image
must hold the whole hand with room around it. `collect` saves `preprocess.crop_hand` of the
hand with margin 0.5 (a square twice the hand's size; the hand fills about half of it) at
160 x 160 px: larger than any recipe's margin (0.2 by default), so prepare's crop lies inside
the saved image and training sees the same pixels the live view would crop, and large enough
that MediaPipe finds the hand again (verified by the tests). Crops are never mirrored here;
`crop.mirror_left` is applied by prepare, as for every other dataset.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from signcaps.hands.preprocess import crop_hand, square_box
from signcaps.live.capture import CaptureError, ThreadedReader, open_source
from signcaps.util.config import CropConfig, DetectConfig
from signcaps.util.errors import UserError


class CollectError(UserError, ValueError):
    """Collect settings that cannot work (one line)."""


@dataclass
class CollectConfig:
    label: str
    out: str
    source: str = "0"
    every: int = 5  # keep every k-th frame that shows a hand
    max_crops: int = 100
    size: int = 160  # saved crop side in pixels
    margin: float = 0.5  # context per side, as a fraction of the hand's size
    window: bool = True
    fps: float | None = None
    stall_timeout: float = 10.0
    max_failures: int = 30
    hand_model: str | None = None
    detect: DetectConfig = field(default_factory=DetectConfig)

    def check(self) -> "CollectConfig":
        label = self.label.strip()
        if not label or label in (".", "..") or label.startswith(".") or re.search(r"[/\\:*?\"<>|\x00-\x1f]", label):
            raise CollectError(f"--label must be a plain folder name such as 7 or thumbs-up, got {self.label!r}")
        self.label = label
        if self.every < 1:
            raise CollectError(f"--every must be at least 1, got {self.every}")
        if self.max_crops < 1:
            raise CollectError(f"--max must be at least 1, got {self.max_crops}")
        if not 32 <= self.size <= 1024:
            raise CollectError(f"--size must be 32 to 1024 pixels, got {self.size}")
        if not 0.3 <= self.margin <= 1.5:
            raise CollectError("--margin must be 0.3 to 1.5 (prepare needs context to find the hand again), got "
                               f"{self.margin:g}")
        return self

    @property
    def crop_cfg(self) -> CropConfig:
        return CropConfig(input_size=self.size, margin=self.margin, mirror_left=False)


@dataclass
class CollectResult:
    folder: Path
    saved: int = 0
    frames: int = 0
    with_hand: int = 0
    files: list[str] = field(default_factory=list)
    reason: str = "end of input"  # end of input | max crops | quit | interrupted | stopped (error)
    error: UserError | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "saved": self.saved, "frames": self.frames, "with_hand": self.with_hand,
                "files": self.files, "reason": self.reason, "error": str(self.error) if self.error else None}


def collect(cfg: CollectConfig, log: Callable[[str], None] = lambda _msg: None,
            progress: bool = False) -> CollectResult:
    """Detect hands frame by frame (VIDEO mode) and save every `every`-th hand crop."""
    return _collect(cfg, log, progress)


def _collect(cfg: CollectConfig, log: Callable[[str], None], progress: bool) -> CollectResult:
    from signcaps.hands.detector import HandDetector
    from signcaps.live.window import why_no_window
    from signcaps.util.assets import resolve_hand_model

    cfg.check()
    from signcaps.live.capture import parse_source

    kind, target = parse_source(cfg.source)  # a missing file or an impossible camera fails before any folder is made
    folder = Path(cfg.out).expanduser() / cfg.label
    if kind in ("folder", "image", "video"):  # never add crops to the frames being read
        from signcaps.util.outputs import check_not_inputs

        check_not_inputs(folder, [target], "--out")
    from signcaps.util.outputs import ensure_writable_dir

    ensure_writable_dir(folder, "the label folder of --out")  # a file in the way, no permission: before the work
    hand_model = resolve_hand_model(cfg.hand_model, log=log)
    source = open_source(cfg.source, fps=cfg.fps, max_failures=cfg.max_failures)
    why = why_no_window() if cfg.window else None
    show = cfg.window and why is None
    if cfg.window and not show:
        log(f"{why}: collecting without a preview window")
    result = CollectResult(folder)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    index = 0
    crop_cfg = cfg.crop_cfg
    detector = HandDetector(hand_model, _one_hand(cfg.detect), mode="video")
    reader = ThreadedReader(source, stall_timeout=cfg.stall_timeout)
    try:
        while result.saved < cfg.max_crops:
            frame = reader.read()
            if frame is None:
                break
            result.frames += 1
            rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
            hands = detector.detect(rgb, frame.timestamp_ms)
            saved_now = False
            if hands:
                result.with_hand += 1
                if (result.with_hand - 1) % cfg.every == 0:
                    hand = hands[0]
                    crop = crop_hand(rgb, hand.landmarks, hand.is_left, crop_cfg)
                    path = _write_crop(folder, stamp, index, crop)
                    index = int(path.stem.rpartition("-")[2]) + 1
                    result.saved += 1
                    result.files.append(str(path))
                    saved_now = True
                    if progress and (result.saved % 10 == 0 or result.saved == cfg.max_crops):
                        log(f"{result.saved}/{cfg.max_crops} crops saved")
            if show:
                key = _preview(frame.image, hands, crop_cfg, result, cfg, saved_now)
                if key is None:
                    show = False
                    log("cannot show a window here: continuing without one")
                elif key in (ord("q"), 27):
                    result.reason = "quit"
                    break
        else:
            result.reason = "max crops"
    except KeyboardInterrupt:
        result.reason = "interrupted"
    except CaptureError as exc:
        result.reason, result.error = "stopped", exc
    finally:
        reader.close()
        detector.close()
        if show:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass
    return result


def _write_crop(folder: Path, stamp: str, index: int, crop) -> Path:
    """Saved as the first free ``<stamp>-<n>.png`` from ``index`` on, created exclusively
    (`outputs.write_new`): a second `collect` into the same label never replaces a crop, and a
    full disk leaves no half PNG in the dataset. Encoded by `outputs.write_image`: OpenCV never
    sees a label name that is not UTF-8."""
    import itertools

    from signcaps.util.outputs import write_image, write_new

    def write(tmp: Path) -> None:
        if not write_image(tmp, cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)):
            raise CollectError(f"cannot write a crop into {folder}")

    return write_new(folder, (f"{stamp}-{n:05d}.png" for n in itertools.count(index)), write)


def _one_hand(detect: DetectConfig) -> DetectConfig:
    import dataclasses

    return dataclasses.replace(detect, num_hands=1)


def _preview(image, hands, crop_cfg: CropConfig, result: CollectResult, cfg: CollectConfig,
             saved_now: bool) -> int | None:
    """Show the frame with the region being saved; returns the key pressed, None if no window works."""
    from signcaps.live.overlay import draw_status

    view = image.copy()
    if hands:
        box = square_box(hands[0].landmarks, crop_cfg.margin)
        colour = (60, 220, 60) if saved_now else (80, 200, 255)
        cv2.rectangle(view, (box.x0, box.y0), (box.x1, box.y1), colour, 3 if saved_now else 2)
    draw_status(view, None, note=f"'{cfg.label}': {result.saved}/{cfg.max_crops} saved  (q quits)")
    try:
        cv2.imshow("signcaps collect", view)
        return cv2.waitKey(1) & 0xFF
    except cv2.error:
        return None
