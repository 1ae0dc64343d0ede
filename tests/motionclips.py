"""Clips of real photos moved along J, Z and other paths, and what the live loop sees in them.

A photo of a hand (an I or D of the ASL letters, a 1 of the digits, or another letter) is pasted
into 640x480 frames and moved along a path of `motionpaths`: a rest, the motion, a rest. The frames
go through the real MediaPipe hand model in VIDEO mode and the shipped letters model (the live
loop's `Recogniser`: crop, classify, smooth, the rejection rule), which gives per frame what
`MotionSpotter.update` is fed: time, landmarks, accepted label, best letter. Tracks are cached
(`.npz` named by the clip's settings) so the matrices of train/motion_eval.py rerun in seconds.

Photos are split by original photo (the letters' copies of one original stay together) into a
tuning half and a report half (`photo_sets`); digits by file order.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from conftest import HAND_MODEL, SHARED
from motionpaths import timeline
from videos import background_colour

LETTERS = SHARED / "datasets" / "asl-letters"
DIGITS = SHARED / "datasets" / "sign-language-digits"
FRAME = (640, 480)
MARGIN = 12  # pixels the hand keeps from the frame's edges
TRACK_VERSION = 2


def originals(letter: str) -> list[Path]:
    """One file per original photo of `letter` (train, valid, test), in split and number order."""
    found: dict[tuple[str, int], Path] = {}
    for rank, split in enumerate(("train", "valid", "test")):
        for path in sorted((LETTERS / split / letter).glob("*.jpg")):
            number = int(path.name.split("_jpg")[0][len(letter):])
            found.setdefault((str(rank), number), path)
    return [found[key] for key in sorted(found)]


def photo_sets(part: str, digits_every: int = 4) -> dict[str, list[Path]]:
    """The photos of each handshape for `part` "tune" (even originals, the first half of the 1s) or
    "report" (odd originals, the second half of the 1s); every `digits_every`-th 1."""
    pick = 0 if part == "tune" else 1
    ones = sorted((DIGITS / "1").glob("*.JPG"))
    half = len(ones) // 2
    ones = (ones[:half] if part == "tune" else ones[half:])[::digits_every]
    sets = {kind: originals(kind)[pick::2] for kind in ("I", "D", "Y", "L", "A")}
    return {**sets, "1": ones}


@dataclass(frozen=True)
class ClipSpec:
    photo: str  # path relative to ../shared
    kind: str  # the handshape the photo shows: I, D, 1, or another letter
    path: str  # motionpaths: J, Z or a distractor
    size: float  # the drawing's size in hand sizes (wrist to middle-finger base)
    duration: float  # seconds of motion
    fps: float
    mirror: bool  # the photo flipped left-right (a left hand)
    orient: float  # 1 or -1: Z and distractors drawn as they are or mirrored (J always hooks to the thumb side)
    seed: int  # where in the frame, jitter
    hand_px: float = 90.0  # the hand's size in the frame (wrist to middle-finger base, pixels)
    distort: float = 0.0  # how much the shape is turned, stretched and sheared (motionpaths.warp), 0..1
    corner_stops: bool = False  # the hand slows to a stop at the path's corners

    @property
    def expect(self) -> str | None:
        if self.kind == "I" and self.path == "J":
            return "J"
        if self.kind in ("D", "1") and self.path == "Z":
            return "Z"
        return None

    def key(self) -> str:
        text = json.dumps({**asdict(self), "version": TRACK_VERSION, "frame": FRAME}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class Track:
    """What the spotter is fed, per frame."""

    times: np.ndarray  # (n,) seconds
    landmarks: np.ndarray  # (n, 21, 2) pixels, NaN where no hand was found
    labels: list[str | None]
    best: list[str | None]

    def frames(self):
        for t, marks, label, best in zip(self.times, self.landmarks, self.labels, self.best):
            yield float(t), (None if np.isnan(marks).any() else marks), label, best


_STILL: dict[str, np.ndarray | None] = {}


def still_landmarks(photo: Path) -> np.ndarray | None:
    """The hand's landmarks in the photo's pixels (IMAGE mode), or None when MediaPipe finds none."""
    key = str(photo)
    if key not in _STILL:
        from signcaps.hands.detector import HandDetector

        image = cv2.imread(key, cv2.IMREAD_COLOR)
        with HandDetector(HAND_MODEL, mode="image") as detector:
            hands = detector.detect(np.ascontiguousarray(image[:, :, ::-1]))
        _STILL[key] = hands[0].landmarks.astype(np.float64) if hands else None
    return _STILL[key]


def frames(spec: ClipSpec) -> list[np.ndarray]:
    """The clip's BGR frames; raises ValueError when the photo shows no hand MediaPipe finds."""
    source = SHARED / spec.photo
    photo = cv2.imread(str(source), cv2.IMREAD_COLOR)
    marks = still_landmarks(source)
    if marks is None:
        raise ValueError(f"no hand in {spec.photo}")
    side = photo.shape[0]
    if spec.mirror:
        photo = cv2.flip(photo, 1)
        marks = np.column_stack([side - marks[:, 0], marks[:, 1]])
    size = float(np.linalg.norm(marks[9] - marks[0]))
    thumb = 1.0 if marks[5, 0] - marks[17, 0] >= 0 else -1.0
    direction = thumb if spec.path == "J" else spec.orient
    rng = np.random.default_rng(spec.seed)
    scale = spec.hand_px / size
    colour = background_colour(photo)
    for _ in range(20):  # shrink the photo until the hand stays in the frame all along the path
        offsets = timeline(spec.path, spec.fps, spec.duration, spec.size * size * scale, direction,
                           rng=np.random.default_rng(spec.seed), distort=spec.distort, corner_stops=spec.corner_stops)
        hand = marks * scale
        low = hand.min(axis=0) + offsets.min(axis=0)
        high = hand.max(axis=0) + offsets.max(axis=0)
        room = np.array(FRAME) - 2 * MARGIN - (high - low)
        if np.all(room > 0):
            break
        scale *= 0.9
    corner = MARGIN - low + rng.uniform(0, 1, 2) * room  # where the photo's top-left corner rests
    tile = side * scale
    return [_frame(photo, corner + off + tile / 2, scale, colour) for off in offsets]


def _frame(photo: np.ndarray, centre: np.ndarray, scale: float, colour: tuple[int, int, int]) -> np.ndarray:
    from videos import compose

    return compose(photo, FRAME, (float(centre[0]), float(centre[1])), scale, colour)


class Tracker:
    """MediaPipe (VIDEO mode, a fresh detector per clip) and the letters model, as `live` runs them."""

    def __init__(self) -> None:
        from signcaps.runtime.classifier import load_classifier

        self.classifier = load_classifier(None, signs="letters")

    def __call__(self, spec: ClipSpec) -> Track:
        from signcaps.hands.detector import HandDetector
        from signcaps.live.capture import Frame
        from signcaps.live.loop import LiveConfig
        from signcaps.live.recognise import Recogniser

        recognise = Recogniser(self.classifier, LiveConfig(window=False))
        times, marks, labels, best = [], [], [], []
        with HandDetector(HAND_MODEL, mode="video") as detector:
            for index, image in enumerate(frames(spec)):
                t = index / spec.fps
                rgb = np.ascontiguousarray(image[:, :, ::-1])
                hands = detector.detect(rgb, int(round(t * 1000)))
                result = recognise(rgb, hands, Frame(image, index, int(round(t * 1000))), {})
                times.append(t)
                if result.hands:
                    first = result.hands[0]
                    marks.append(first.hand.landmarks)
                    labels.append(first.label)
                    best.append(recognise.classes[first.best])
                else:
                    marks.append(np.full((21, 2), np.nan, np.float32))
                    labels.append(None)
                    best.append(None)
        return Track(np.array(times), np.array(marks, np.float32), labels, best)


def cached_track(spec: ClipSpec, cache: Path, tracker: Tracker | None) -> Track:
    """The clip's track from `cache`, computed (with `tracker`) and stored when missing."""
    path = cache / f"motion-{spec.key()}.npz"
    if path.is_file():
        data = np.load(path)
        names = [str(v) or None for v in data["labels"]], [str(v) or None for v in data["best"]]
        return Track(data["times"], data["landmarks"], *names)
    track = (tracker or Tracker())(spec)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, times=track.times, landmarks=track.landmarks,
                        labels=np.array([v or "" for v in track.labels]), best=np.array([v or "" for v in track.best]))
    tmp.replace(path)
    return track


def spot(track: Track, cfg=None) -> list[str]:
    """The letters a fresh MotionSpotter returns over the track."""
    from signcaps.signs.motion import MotionSpotter

    spotter = MotionSpotter(cfg)
    return [letter for letter in (spotter.update(*row) for row in track.frames()) if letter]
