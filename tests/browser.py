"""Headless Chromium driven over the DevTools protocol, with a fake camera that plays a clip.

Uses the system Chromium (Debian package `chromium`; never a downloaded browser) and the small
`websocket-client` package: launch with --remote-debugging-port=0, read the port Chromium picked
from DevToolsActivePort, talk JSON-RPC to the page target.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FRAME_BITS, FRAME_BLOCK = 12, 16  # the page's frame-number pattern (deploy/web/src/app.js)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def stamp_frame_number(frame_bgr: np.ndarray, number: int) -> np.ndarray:
    """Draw `number` as FRAME_BITS black/white blocks along the bottom-left edge (what the page decodes)."""
    h = frame_bgr.shape[0]
    for k in range(FRAME_BITS):
        frame_bgr[h - FRAME_BLOCK:h, k * FRAME_BLOCK:(k + 1) * FRAME_BLOCK] = 255 if number >> k & 1 else 0
    return frame_bgr


def write_y4m(path: Path, frames_bgr: list[np.ndarray], fps: int = 30) -> list[np.ndarray]:
    """Write an I420 Y4M clip for Chromium's fake camera; returns the frames as RGB after the same
    4:2:0 round trip (the pixels the page can see, up to the browser's YUV->RGB conversion)."""
    h, w = frames_bgr[0].shape[:2]
    decoded = []
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames_bgr:
            yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
            f.write(b"FRAME\n")
            f.write(yuv.tobytes())
            decoded.append(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420))
    return decoded


class Chromium:
    """One headless Chromium with one page; `with Chromium(...) as browser:`."""

    def __init__(self, executable: str, profile: Path, fake_video: Path | None = None,
                 size: tuple[int, int] = (900, 640)) -> None:
        self.profile = profile
        self.size = size
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--mute-audio", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                "--remote-debugging-port=0", f"--window-size={size[0]},{size[1]}",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
        if fake_video is not None:
            args.append(f"--use-file-for-fake-video-capture={fake_video}")
        args.append("about:blank")
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._id = 0
        self.ws = None

    def __enter__(self) -> "Chromium":
        import websocket

        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not marker.is_file() or len(marker.read_text().splitlines()) < 2:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start: "
                                   f"{self.process.stderr.read().decode()[-500:] if self.process.stderr else ''}")
            time.sleep(0.1)
        port = int(marker.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            targets = json.load(reply)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        # headless windows have a smaller viewport than --window-size: fix it for screenshots
        self.call("Emulation.setDeviceMetricsOverride", width=self.size[0], height=self.size[1], deviceScaleFactor=1,
                  mobile=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ws is not None:
            self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def call(self, method: str, **params: Any) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def goto(self, url: str) -> None:
        self.call("Page.enable")
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, poll: float = 0.25) -> Any:
        """Poll until `expression` is truthy; raises with the page's state when it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll)
        state = self.evaluate("JSON.stringify({state: window.signcaps && signcaps.state, error: window.signcaps && "
                              "signcaps.error, "
                              "frames: window.signcaps && signcaps.frames})")
        raise TimeoutError(f"waited {timeout:.0f} s for {expression}; page: {state}")

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))


def environment_ready(web_root: Path) -> str | None:
    """None when the browser test can run here, else the one-line reason to skip."""
    if find_chromium() is None:
        return "chromium is not installed (apt-get install chromium)"
    if not (web_root / "node_modules" / "onnxruntime-web").is_dir():
        return f"npm packages missing: run `npm ci` in {web_root}"
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "websocket-client is not installed (pip install websocket-client)"
    if os.environ.get("SIGNCAPS_SKIP_BROWSER"):
        return "SIGNCAPS_SKIP_BROWSER is set"
    return None
