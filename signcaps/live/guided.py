"""`signcaps adapt --source 0`: the live window asks for each sign in turn and records a few frames of it.

Every sign of the plan gets one *segment* of `hold` frames: the window shows "show 7" with a
countdown; the first `settle` frames of the segment give the signer time to change the hand (not
recorded); from the rest, every `every`-th frame *with a hand* is a shot, up to `shots`. A camera
and a recording follow the same rule, so a clip that shows the plan's signs in order for `hold`
frames each (tests/videos.py builds such clips from real photos) adapts exactly as the signer in
front of the camera would. Keys: n skips the current sign (it keeps the shipped behaviour), q quits
(nothing is written). A source that ends early leaves the signs after it without shots (they keep
the shipped behaviour; the command warns). The shots are kept in memory (crops and landmarks, no files) and adapted at
the end (`runtime.adapt`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from signcaps.live.capture import CaptureError, ThreadedReader, open_source, parse_source
from signcaps.runtime.adapt import AdaptError, Shots, sign_classes


@dataclass
class GuidedConfig:
    """One guided session: the source, the signs in the order asked, and the segment rule."""

    source: str = "0"
    plan: list[str] = field(default_factory=list)  # empty: every sign of the model, in its order
    hold: int = 60  # frames per sign (2 s at 30 fps)
    settle: int = 30  # frames at the start of each segment that are not recorded
    shots: int = 3  # shots per sign
    every: int = 5  # every k-th frame with a hand after the settle frames is a shot
    window: bool = True
    hand_model: str | None = None

    def check(self, classes: list[str]) -> "GuidedConfig":
        """Ranges and the plan's names, before the camera opens."""
        for name, value, low in (("--hold", self.hold, 1), ("--shots", self.shots, 1), ("--every", self.every, 1),
                                 ("--settle", self.settle, 0)):
            if value < low:
                raise AdaptError(f"{name} must be at least {low}, got {value}")
        if self.settle >= self.hold:
            raise AdaptError(f"--settle ({self.settle}) must be below --hold ({self.hold}): no frame would be recorded")
        unknown = [name for name in self.plan if name not in classes]
        if unknown:
            raise AdaptError(f"--plan names {', '.join(unknown)}, which are no signs of the model "
                             f"({', '.join(classes)})")
        if len(set(self.plan)) != len(self.plan):
            raise AdaptError("--plan names a sign twice")
        return self


@dataclass
class Segment:
    """Where the session is: which sign, which frame of its segment, the shots of it so far."""

    sign: str
    frame: int = 0
    taken: int = 0
    hands: int = 0


def record(cfg: GuidedConfig, classifier: Any, log: Callable[[str], None] = lambda _msg: None) -> Shots:
    """Run the session on `cfg.source`; the shots of every sign of the plan (skipped ones have none)."""
    from signcaps.hands.detector import HandDetector
    from signcaps.live.window import Window, why_no_window
    from signcaps.util.assets import resolve_hand_model

    classes = sign_classes(classifier)
    cfg.check(classes)
    plan = cfg.plan or classes
    parse_source(cfg.source)  # a missing file or an impossible camera: one line before anything opens
    crops, points, left, labels = [], [], [], []
    crop_cfg = dataclasses.replace(classifier.crop_cfg, fallback_whole_image=False)
    reader = ThreadedReader(open_source(cfg.source))  # a camera that cannot open fails before anything loads
    detector = window = None
    try:
        detector = HandDetector(resolve_hand_model(cfg.hand_model, log=log),
                                dataclasses.replace(classifier.detect_cfg, num_hands=1), mode="video")
        why = why_no_window() if cfg.window else None
        window = Window() if cfg.window and why is None else None
        if cfg.window and window is None:
            log(f"{why}: recording without a window")
        for sign in plan:
            segment = Segment(sign)
            while segment.frame < cfg.hold:
                frame = reader.read()
                if frame is None:
                    break
                rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
                hands = detector.detect(rgb, frame.timestamp_ms)
                if hands and segment.frame >= cfg.settle and segment.taken < cfg.shots:
                    if segment.hands % cfg.every == 0:
                        from signcaps.data.crops import crop_sample

                        crop, marks, _, is_left = crop_sample(rgb, hands[0], crop_cfg)
                        crops.append(crop)
                        points.append(marks)
                        left.append(is_left)
                        labels.append(classifier.classes.index(sign))
                        segment.taken += 1
                    segment.hands += 1
                segment.frame += 1
                key = _show(window, frame.image, segment, cfg, plan) if window else None
                if key == "quit":
                    raise AdaptError("quit before the end of the session: nothing written")
                if key == "skip":
                    log(f"skipped {sign}: it keeps the shipped behaviour")
                    break
            log(f"{sign}: {segment.taken} shot(s)")
            if segment.frame < cfg.hold and frame is None:
                log(f"the source ended at {sign} (the plan needs {len(plan)} x {cfg.hold} frames): the signs after "
                    "it get no shots")
                break
    except CaptureError as err:
        raise AdaptError(f"the source stopped: {err}") from None
    finally:
        reader.close()
        if detector is not None:
            detector.close()
        if window:
            window.close()
    return _shots(crops, points, left, labels, classifier, crop_cfg.input_size)


def _shots(crops: list, points: list, left: list, labels: list, classifier: Any, size: int) -> Shots:
    from signcaps.hands.landmarks import normalize_poses

    marks = np.array(points, np.float32).reshape(-1, 21, 3)
    return Shots(np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
                 normalize_poses(marks, np.array(left, bool), classifier.crop_cfg.mirror_left),
                 np.array(labels, np.int64), [])


def _show(window: Any, image: np.ndarray, segment: Segment, cfg: GuidedConfig, plan: list[str]) -> str | None:
    """The prompt on the frame; "quit", "skip" or None from the keys."""
    from signcaps.live.overlay import draw_status

    view = image.copy()
    step = plan.index(segment.sign) + 1
    if segment.frame < cfg.settle:
        text = f"show {segment.sign} ({step}/{len(plan)}): recording in {cfg.settle - segment.frame}"
    else:
        text = f"hold {segment.sign} ({step}/{len(plan)}): {segment.taken}/{cfg.shots} shots"
    scale = max(image.shape[1] / 640.0, 0.5)
    cv2.putText(view, text, (int(12 * scale), int(40 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale,
                (60, 220, 60), max(1, int(2 * scale)), cv2.LINE_AA)
    draw_status(view, None, note="n: skip this sign, q: quit")
    if not window.show(view):
        return None
    key = window.key(1)
    if key in (ord("q"), 27) or window.closed_by_user():
        return "quit"
    return "skip" if key == ord("n") else None
