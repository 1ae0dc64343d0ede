"""The live window and its keys: showing annotated frames with OpenCV's highgui, reading keys.

A consumer of the loop's frames like the video writer (`writers.py`): the loop hands it each
annotated frame and gets back what the user asked for (quit, screenshot, pause). `collect`
uses `why_no_window` too, to preview without pulling in the live loop.

Keys (`KEYS`, listed in the window by h; `KEY_HINT` stays at the bottom of the window, so a
person who has never read the docs sees how to leave): q or Esc quits, s saves a screenshot,
p pauses (s and q work while paused), f toggles fullscreen, h shows the keys; while spelling
(`--compose` on letters) Backspace deletes the last letter and c clears the text.
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

from signcaps.util.errors import UserError


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


def why_no_window() -> str | None:
    """Why no window can open here, in words for the user (a headless OpenCV build, named, or no
    display); None when one can. The build is checked first: a probe of a headless cv2 would
    fail too, and blame the display."""
    from signcaps.util.environment import window_unavailable

    return window_unavailable() or (None if display_available() else "no usable display")


KEYS = (
    ("q / Esc", "quit"),
    ("p", "pause / resume"),
    ("s", "save a screenshot"),
    ("f", "fullscreen on / off"),
    ("h", "show / hide these keys"),
    ("Backspace", "delete the last letter (spelling, --compose)"),
    ("c", "clear the text (spelling, --compose)"),
)
BACKSPACE = (8, 127)  # waitKey's Backspace: 8 on X11 and Windows, 127 (DEL) on macOS
KEY_HINT = "q quit  p pause  s save  f fullscreen  h keys"  # drawn in the window only, never in videos or shots


def screen_size() -> tuple[int, int] | None:
    """(width, height) of the screen the window opens on, or None when it cannot be asked.

    OpenCV's highgui has no call for this; X11 and Windows answer through their C libraries
    (ctypes, no extra package). Elsewhere (macOS, Wayland) None: the window opens at frame size.
    """
    import ctypes
    import ctypes.util

    try:
        if sys.platform == "win32":
            user32 = ctypes.windll.user32  # type: ignore[attr-defined]
            return int(user32.GetSystemMetrics(0)), int(user32.GetSystemMetrics(1))
        if not os.environ.get("DISPLAY"):
            return None
        name = ctypes.util.find_library("X11")
        if not name:
            return None
        x11 = ctypes.CDLL(name)
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        for fn in (x11.XDefaultScreen, x11.XCloseDisplay):
            fn.argtypes = [ctypes.c_void_p]
        x11.XDisplayWidth.argtypes = x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
        display = x11.XOpenDisplay(None)
        if not display:
            return None
        try:
            screen = x11.XDefaultScreen(display)
            size = int(x11.XDisplayWidth(display, screen)), int(x11.XDisplayHeight(display, screen))
        finally:
            x11.XCloseDisplay(display)
        return size if size[0] > 0 and size[1] > 0 else None
    except (OSError, AttributeError, ValueError):
        return None


def fit_size(frame: tuple[int, int], screen: tuple[int, int] | None, fill: float = 0.9) -> tuple[int, int]:
    """The window's first size: the frame's own, scaled down (never up) to `fill` of the screen."""
    w, h = frame
    if screen is None:
        return w, h
    scale = min(1.0, fill * screen[0] / w, fill * screen[1] / h)
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


@dataclass
class Window:
    """One highgui window: opens at the frame's size (fitted to the screen), keeps the aspect
    ratio when resized, no toolbar; `f` toggles fullscreen and `h` the list of keys."""

    name: str = "signcaps live"
    open: bool = False
    fullscreen: bool = False
    help: bool = False

    def show(self, image: np.ndarray) -> bool:
        try:
            if not self.open:
                cv2.namedWindow(self.name, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
                cv2.resizeWindow(self.name, *fit_size((image.shape[1], image.shape[0]), screen_size()))
                self.open = True
            cv2.imshow(self.name, self._decorate(image))
            return True
        except cv2.error:
            self.open = False
            return False

    def _decorate(self, image: np.ndarray) -> np.ndarray:
        """The help box, or the one-line key hint; on a copy, so videos and screenshots stay clean."""
        from signcaps.live.overlay import draw_help, draw_hint

        if self.help:
            return draw_help(image.copy(), KEYS)
        return draw_hint(image.copy(), KEY_HINT)

    def toggle_fullscreen(self) -> None:
        self.fullscreen = not self.fullscreen
        try:
            cv2.setWindowProperty(self.name, cv2.WND_PROP_FULLSCREEN,
                                  cv2.WINDOW_FULLSCREEN if self.fullscreen else cv2.WINDOW_NORMAL)
        except cv2.error:
            self.fullscreen = not self.fullscreen

    def closed_by_user(self) -> bool:
        try:
            return cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def key(self, wait_ms: int = 1) -> int:
        """The key pressed within `wait_ms` (255: none); f and h act here and count as none."""
        key = cv2.waitKey(wait_ms) & 0xFF
        if key == ord("f"):
            self.toggle_fullscreen()
            return 255
        if key == ord("h"):
            self.help = not self.help
            return 255
        return key

    def close(self) -> None:
        if self.open:
            try:
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)
            except cv2.error:
                pass


def window_step(window: Window, image: np.ndarray, wait_ms: int = 1) -> str | None:
    """Show one frame and wait up to `wait_ms` for a key: "quit", "shot", "pause", "delete" (Backspace),
    "clear" (c) or None."""
    if not window.show(image):
        return None
    key = window.key(wait_ms)
    if key in (ord("q"), 27):
        return "quit"
    if key == ord("s"):
        return "shot"
    if key == ord("p"):
        return "pause"
    if key in BACKSPACE:
        return "delete"
    if key == ord("c"):
        return "clear"
    if window.closed_by_user():
        return "quit"
    return None


def paused_loop(window: Window, image: np.ndarray, index: int, screenshot_dir: str,
                log: Callable[[str], None]) -> str | None:
    """Hold the last frame until p (resume), s (screenshot) or q/Esc (quit); f and h still work."""
    from signcaps.live.overlay import draw_status

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
    """A new PNG in ``folder``, never over a file already there (`outputs.write_new`: created exclusively),
    encoded by `outputs.write_image` (OpenCV never sees a folder name that is not UTF-8)."""
    import itertools

    from signcaps.util.outputs import ensure_writable_dir, write_image, write_new

    path = ensure_writable_dir(folder, "--screenshots")
    stem = f"signcaps-{time.strftime('%Y%m%d-%H%M%S')}-f{index}"

    def write(tmp: Path) -> None:
        if not write_image(tmp, image):
            raise ScreenshotError(f"cannot write a screenshot into {path}")

    names = itertools.chain([f"{stem}.png"], (f"{stem}-{n}.png" for n in itertools.count(1)))
    return write_new(path, names, write)
