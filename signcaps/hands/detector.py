"""MediaPipe HandLandmarker (Tasks API) behind a small, typed interface.

IMAGE mode treats every picture independently (image folders); VIDEO mode tracks the hand
between frames, which is about twice as fast on streams.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from signcaps.hands.landmarks import HAND_CONNECTIONS  # noqa: F401  (re-exported: drawing code imports it from here)
from signcaps.util.config import DetectConfig
from signcaps.util.errors import UserError

# MediaPipe segfaults on very large images (a 20000 x 20000 still, padded for context, killed the
# process) and gains nothing from them: the palm detector sees 192 x 192, the landmark model a
# 224 x 224 crop. Larger frames are shrunk to this longest side before detection; the landmarks
# are mapped back to the original pixels, so crops are still cut from the full-resolution image.
MAX_DETECT_SIDE = 1920

class HandModelError(UserError, RuntimeError):
    """The hand model file cannot be loaded by MediaPipe."""


@dataclass(frozen=True)
class Hand:
    """One detected hand, in pixel coordinates of the frame it was found in."""

    landmarks: np.ndarray  # (21, 2) float32, x and y in pixels
    handedness: str  # "Left" or "Right", as MediaPipe labels it
    score: float
    depth: np.ndarray | None = None  # (21,) float32, MediaPipe's z in the pixel units of x (z * width)

    @property
    def points(self) -> np.ndarray:
        """(21, 3) float32 x, y, z in frame pixels: the input of `landmarks.normalize_pose`."""
        depth = self.depth if self.depth is not None else np.zeros(len(self.landmarks), np.float32)
        return np.concatenate([self.landmarks, depth[:, None]], axis=1).astype(np.float32)

    @property
    def is_left(self) -> bool:
        return self.handedness == "Left"

    @property
    def box(self) -> tuple[int, int, int, int]:
        x0, y0 = self.landmarks.min(axis=0)
        x1, y1 = self.landmarks.max(axis=0)
        return int(x0), int(y0), int(x1), int(y1)


class HandDetector:
    """Finds hands in RGB uint8 images.

    `mode="image"` pads still images by `context_pad` before detection, because the palm
    detector misses hands that fill the whole picture (83% -> 99% found on the digits data).
    A still where no hand is found is tried once more with `retry_pad` (a different context,
    hence a different scale for the palm detector) before it counts as "no hand".
    """

    def __init__(self, model_path: str | Path, cfg: DetectConfig | None = None, mode: str = "image") -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.cfg = cfg or DetectConfig()
        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', not {mode!r}")
        self.mode = mode
        running_mode = vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=running_mode,
            num_hands=self.cfg.num_hands,
            min_hand_detection_confidence=self.cfg.min_detection_confidence,
            min_hand_presence_confidence=self.cfg.min_presence_confidence,
            min_tracking_confidence=self.cfg.min_tracking_confidence,
        )
        try:
            with quiet_native_stderr():
                self._landmarker = vision.HandLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise HandModelError(f"MediaPipe cannot load hand model {model_path}: {first}") from None
        self._last_ts = -1
        self._first_call = True

    def detect(self, image_rgb: np.ndarray, timestamp_ms: int | None = None) -> list[Hand]:
        """Hands in `image_rgb`, best score first. VIDEO mode needs increasing timestamps."""
        scale = min(1.0, MAX_DETECT_SIDE / max(image_rgb.shape[:2]))
        if scale < 1.0:
            size = (max(1, round(image_rgb.shape[1] * scale)), max(1, round(image_rgb.shape[0] * scale)))
            image_rgb = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
        if self.mode == "video":
            hands = self._detect(image_rgb, 0.0, timestamp_ms)
        else:
            hands = self._detect(image_rgb, self.cfg.context_pad, None)
            if not hands and self.cfg.retry_pad >= 0 and self.cfg.retry_pad != self.cfg.context_pad:
                hands = self._detect(image_rgb, self.cfg.retry_pad, None)
        if scale < 1.0:  # back to the pixels of the full-resolution frame (depth is in x's units)
            hands = [replace(h, landmarks=h.landmarks / np.float32(scale), depth=h.depth / np.float32(scale))
                     for h in hands]
        return hands

    def _detect(self, image_rgb: np.ndarray, context_pad: float, timestamp_ms: int | None) -> list[Hand]:
        import mediapipe as mp

        pad = int(round(context_pad * max(image_rgb.shape[:2]))) if context_pad > 0 else 0
        if pad:
            image_rgb = cv2.copyMakeBorder(image_rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image_rgb))
        # LiteRT logs its delegate setup on the first inference
        with quiet_native_stderr() if self._first_call else nullcontext():
            self._first_call = False
            if self.mode == "image":
                result = self._landmarker.detect(mp_image)
            else:
                ts = self._last_ts + 1 if timestamp_ms is None else max(int(timestamp_ms), self._last_ts + 1)
                self._last_ts = ts
                result = self._landmarker.detect_for_video(mp_image, ts)
        h, w = image_rgb.shape[:2]
        hands = []
        for marks, handed in zip(result.hand_landmarks, result.handedness):
            xyz = np.array([[p.x * w - pad, p.y * h - pad, p.z * w] for p in marks], dtype=np.float32)
            best = handed[0]
            hands.append(Hand(xyz[:, :2].copy(), best.category_name, float(best.score), xyz[:, 2].copy()))
        return sorted(hands, key=lambda hand: -hand.score)

    def close(self) -> None:
        with quiet_native_stderr():
            self._landmarker.close()

    def __enter__(self) -> "HandDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# fd 2 is one per process: two threads swapping it at once could leave it pointing at /dev/null.
_NATIVE_STDERR_LOCK = threading.RLock()


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """`_redirect_native_stderr`, one thread at a time (the image reader runs in its own thread)."""
    with _NATIVE_STDERR_LOCK, _redirect_native_stderr():
        yield


@contextmanager
def _redirect_native_stderr() -> Iterator[None]:
    """Send what native libraries write to file descriptor 2 to /dev/null; Python keeps stderr.

    MediaPipe's LiteRT prints INFO/WARNING lines ("Creating LiteRT environment", "Input tensor
    memory is not aligned", …) straight to fd 2 when a detector is created, first runs and
    closes; GLOG/TF environment variables do not reach it. Python's own `sys.stderr` (our
    messages, the summary, tracebacks) is re-pointed at the real stderr meanwhile.
    Wraps detector creation, its first inference and close. Set SIGNCAPS_NATIVE_LOGS=1 to see
    the native lines.
    """
    if os.environ.get("SIGNCAPS_NATIVE_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        yield
        return
    try:
        is_fd2 = sys.stderr.fileno() == 2
    except (OSError, AttributeError, ValueError):
        is_fd2 = False  # e.g. a test runner's captured stream: it does not use fd 2
    old = sys.stderr
    replacement = None
    if is_fd2:
        replacement = open(saved, "w", buffering=1, closefd=False, encoding=getattr(old, "encoding", None) or "utf-8",
                           errors="backslashreplace")
        sys.stderr = replacement
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        if replacement is not None:
            replacement.flush()
            sys.stderr = old
        os.dup2(saved, 2)
        os.close(saved)
