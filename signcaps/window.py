"""The live window and its keys: showing annotated frames with OpenCV's highgui, reading keys.

A consumer of the loop's frames like the video writer (`writers.py`): the loop hands it each
annotated frame and gets back what the user asked for (quit, screenshot, pause). `collect`
uses `display_available` too, to preview without pulling in the live loop.

Keys: q or Esc quits, s saves a screenshot, p pauses (s and q work while paused).
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from signcaps.errors import UserError


class ScreenshotError(UserError, OSError):
    """A screenshot that cannot be written (one line)."""


_WINDOW_PROBE: dict[tuple[str, str, str], bool] = {}


def display_available(probe: bool = True) -> bool:
    """Whether cv2.imshow can open a window here.

    Linux/BSD without $DISPLAY or $WAYLAND_DISPLAY: no. With one, a throw-away process opens
    and closes a window first (`probe`), because OpenCV's Qt backend aborts the whole process,
    not raising anything, when the display named there cannot be reached.
    """
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return False
    if not probe:
        return True
    key = (os.environ.get("DISPLAY", ""), os.environ.get("WAYLAND_DISPLAY", ""), os.environ.get("QT_QPA_PLATFORM", ""))
    if key not in _WINDOW_PROBE:
        import subprocess

        code = "import cv2; cv2.namedWindow('signcaps-probe'); cv2.waitKey(1); cv2.destroyAllWindows(); cv2.waitKey(1)"
        try:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=15)
            _WINDOW_PROBE[key] = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _WINDOW_PROBE[key] = False
    return _WINDOW_PROBE[key]


@dataclass
class Window:
    name: str = "signcaps live"
    open: bool = False

    def show(self, image: np.ndarray) -> bool:
        try:
            if not self.open:
                cv2.namedWindow(self.name, cv2.WINDOW_NORMAL)
                self.open = True
            cv2.imshow(self.name, image)
            return True
        except cv2.error:
            self.open = False
            return False

    def closed_by_user(self) -> bool:
        try:
            return cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def key(self, wait_ms: int = 1) -> int:
        return cv2.waitKey(wait_ms) & 0xFF

    def close(self) -> None:
        if self.open:
            try:
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)
            except cv2.error:
                pass


def window_step(window: Window, image: np.ndarray, wait_ms: int = 1) -> str | None:
    """Show one frame and wait up to `wait_ms` for a key: "quit", "shot", "pause" or None."""
    if not window.show(image):
        return None
    key = window.key(wait_ms)
    if key in (ord("q"), 27):
        return "quit"
    if key == ord("s"):
        return "shot"
    if key == ord("p"):
        return "pause"
    if window.closed_by_user():
        return "quit"
    return None


def paused_loop(window: Window, image: np.ndarray, index: int, screenshot_dir: str,
                log: Callable[[str], None]) -> str | None:
    """Hold the last frame until p (resume), s (screenshot) or q/Esc (quit)."""
    from signcaps.overlay import draw_status

    shown = image.copy()
    draw_status(shown, None, paused=True)
    while True:
        window.show(shown)
        key = window.key(30)
        if key in (ord("q"), 27) or window.closed_by_user():
            return "quit"
        if key == ord("p"):
            return None
        if key == ord("s"):
            saved = save_screenshot(image, screenshot_dir, index)
            log(f"screenshot: {saved}")


def save_screenshot(image: np.ndarray, folder: str, index: int) -> Path:
    path = Path(folder).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    target = path / f"signcaps-{time.strftime('%Y%m%d-%H%M%S')}-f{index}.png"
    if not cv2.imwrite(str(target), image):
        raise ScreenshotError(f"cannot write screenshot {target}")
    return target
