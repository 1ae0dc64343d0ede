"""Frames from a camera, a video file, a folder of images or a stream URL, behind one interface.

`open_source("0")` opens camera 0, `open_source("clip.mp4")` a video, `open_source("frames/")`
the images of a folder in natural order ("f2" before "f10"), `open_source("rtsp://…")` a
stream. Every source yields `Frame`s (BGR uint8, an index and a timestamp in milliseconds) and
ends in one of three ways:

* normally: `read()` returns None (a file or folder is exhausted);
* the source cannot be opened: `CaptureError` from `open_source` (one line, no traceback);
* frames stop arriving (a camera unplugged, a stream stalled): `CaptureError` from `read()`
  after `max_failures` failed reads in a row, or from `ThreadedReader.read()` after
  `stall_timeout` seconds without a frame.

Timestamps: files and folders use frame index / fps (reproducible, what MediaPipe's VIDEO
mode wants for recorded video); cameras and streams use the monotonic clock since opening.

Only OpenCV and numpy here, like `preprocess`: the torch-free runtime path depends on it.
"""
from __future__ import annotations

import os

# FFMPEG prints its own errors ("Connection refused", "moov atom not found") to stderr; our
# one-line messages say the same thing. Must be set before OpenCV first initialises FFMPEG.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")

import queue
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from signcaps.hands.preprocess import ImageReadError, read_image_bgr
from signcaps.util import inputs
from signcaps.util.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
DEFAULT_FPS = 30.0
MAX_CAMERA_INDEX = 1023  # OpenCV takes the index as a C int; Linux numbers cameras from /dev/video0
STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")

try:  # silence "[ WARN] can't open camera by index" and friends; our message replaces them
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
except AttributeError:  # pragma: no cover - very old OpenCV
    pass


class CaptureError(UserError, RuntimeError):
    """A source that cannot be opened or stopped delivering frames (one line)."""


@dataclass
class Frame:
    image: np.ndarray  # BGR uint8, H x W x 3
    index: int  # 0-based position in the source
    timestamp_ms: int  # for MediaPipe VIDEO mode: strictly increasing
    read_ms: float = 0.0  # time spent reading and decoding this frame
    captured: float | None = None  # time.perf_counter() when the frame came to be (paced sources): latency's start


natural_key = inputs.natural_key  # 'f2' before 'f10' (the dataset scanner's rule)


class FrameSource:
    """Base of all sources: `read()` -> Frame, or None at a normal end."""

    kind: str = "source"  # camera | video | folder | stream
    name: str = "source"  # for messages: "camera 0", "clip.mp4", …
    fps: float = DEFAULT_FPS
    frame_count: int | None = None  # known length (files, folders), else None
    live: bool = False  # frames arrive in real time (camera, stream): drop rather than queue

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) when known before the first frame."""
        return None

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CvSource(FrameSource):
    """Camera index, video file or stream URL through cv2.VideoCapture."""

    def __init__(self, target: int | str, kind: str, name: str, fps: float | None = None,
                 max_failures: int = 30, request_size: tuple[int, int] | None = None,
                 open_timeout_s: float = 10.0, decode_threads: int | None = None) -> None:
        self.kind, self.name = kind, name
        self.live = kind in ("camera", "stream")
        self.max_failures = max(1, int(max_failures))
        threads = [cv2.CAP_PROP_N_THREADS, int(decode_threads)] if decode_threads and kind != "camera" else []
        if isinstance(target, str):
            from signcaps.util.inputs import opencv_path

            target = opencv_path(target, "--source")
        if kind == "stream":
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(open_timeout_s * 1000), *threads]
            self._cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
        else:
            self._cap = cv2.VideoCapture(target, cv2.CAP_ANY, threads) if threads else cv2.VideoCapture(target)
            if threads and not self._cap.isOpened():  # a backend that does not take the setting
                self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            self._cap.release()
            if kind == "camera":
                raise CaptureError(f"cannot open camera {target} (no such device, or it is busy or not permitted); "
                                   f"pass --source with another index, a video file, a folder of images or a URL")
            if kind == "stream":
                raise CaptureError(f"cannot open stream {name} (unreachable, refused or not a video stream)")
            raise CaptureError(f"cannot open video {name} (not a video OpenCV/FFMPEG can decode)")
        if request_size and kind == "camera":
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, request_size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, request_size[1])
        reported = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = float(fps) if fps else (reported if 1.0 <= reported <= 1000.0 else DEFAULT_FPS)
        if kind == "video":
            count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.frame_count = count if count > 0 else None
        self._index = 0
        self._t0 = time.monotonic()
        self._last_ts = -1

    @property
    def size(self) -> tuple[int, int] | None:
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        return (w, h) if w > 0 and h > 0 else None

    def read(self) -> Frame | None:
        failures = 0
        while True:
            start = time.perf_counter()
            ok, image = self._cap.read()
            read_ms = (time.perf_counter() - start) * 1000.0
            if ok and image is not None and image.size:
                break
            if not self.live:
                return None  # end of the file
            failures += 1
            if failures >= self.max_failures:
                what = "camera" if self.kind == "camera" else "stream"
                raise CaptureError(f"{self.name} stopped delivering frames ({failures} reads in a row failed; "
                                   f"{what} unplugged, closed or stalled)")
            time.sleep(0.01)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        if self.live:
            ts = int((time.monotonic() - self._t0) * 1000.0)
        else:
            ts = int(round(self._index * 1000.0 / self.fps))
        ts = max(ts, self._last_ts + 1)
        self._last_ts = ts
        frame = Frame(image, self._index, ts, read_ms)
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


class FolderSource(FrameSource):
    """Images of a folder (not recursive) in natural order; unreadable files are skipped and counted."""

    kind = "folder"

    def __init__(self, paths: list[Path], name: str, fps: float | None = None) -> None:
        self.name = name
        self.paths = paths
        self.fps = float(fps) if fps else DEFAULT_FPS
        self.frame_count = len(paths)
        self.skipped: list[str] = []
        self._pos = 0
        self._index = 0

    def read(self) -> Frame | None:
        while self._pos < len(self.paths):
            path = self.paths[self._pos]
            self._pos += 1
            start = time.perf_counter()
            try:  # the shared reader: no libjpeg noise on the terminal, no decompression bombs
                image = read_image_bgr(path)
            except ImageReadError:
                self.skipped.append(path.name)
                continue
            read_ms = (time.perf_counter() - start) * 1000.0
            frame = Frame(image, self._index, int(round(self._index * 1000.0 / self.fps)), read_ms)
            self._index += 1
            return frame
        return None


class PacedSource(FrameSource):
    """A recorded source played at a camera's pace: frame n is released `n / fps` seconds after the
    first, and stamped with that moment (`Frame.captured`) so the loop can measure capture-to-result
    latency. It counts as live: a loop that falls behind drops frames as it would from a camera.
    Decoding happens after the release, as a camera's driver decodes after the exposure.
    """

    live = True

    def __init__(self, inner: FrameSource, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"pace must be a positive frame rate, got {fps}")
        self.inner, self.fps = inner, float(fps)
        self.kind, self.name, self.frame_count = inner.kind, f"{inner.name} at {fps:g} fps", inner.frame_count
        self._start: float | None = None
        self._count = 0

    @property
    def size(self) -> tuple[int, int] | None:
        return self.inner.size

    @property
    def skipped(self) -> list[str]:
        return getattr(self.inner, "skipped", [])

    def read(self) -> Frame | None:
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        due = self._start + self._count / self.fps
        if due > now:
            time.sleep(due - now)
        frame = self.inner.read()
        if frame is None:
            return None
        self._count += 1
        frame.captured = due
        return frame

    def close(self) -> None:
        self.inner.close()


def parse_source(spec: str | int) -> tuple[str, int | str]:
    """('camera', 0) | ('stream', url) | ('folder', path) | ('image', path) | ('video', path)."""
    text = str(spec).strip()
    if not text:  # Path("") is the current folder: never what a blank --source meant
        raise CaptureError(f"--source is blank ({str(spec)!r}): pass a camera index like 0, a video file, a folder "
                           f"of images or a URL")
    index = inputs.ascii_int(text)
    if index is not None:
        if index > MAX_CAMERA_INDEX:
            raise CaptureError(f"camera index {text} is out of range (0 to {MAX_CAMERA_INDEX})")
        return "camera", index
    if text.lower().startswith(STREAM_PREFIXES) or "://" in text:
        return "stream", text
    path = Path(text).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise CaptureError(f"cannot read --source {text}: {err.strerror or type(err).__name__}") from None
    if mode is None:
        raise CaptureError(f"no such file or folder: {text} (--source takes a camera index like 0, a video file, "
                           f"a folder of images or a URL)")
    if stat.S_ISDIR(mode):
        return "folder", str(path)
    if not stat.S_ISREG(mode):  # never opened: a FIFO would block, a device is not a video file
        camera = re.fullmatch(r"/dev/video([0-9]+)", str(path))
        hint = f"; for that camera pass its index: --source {camera.group(1)}" if camera else ""
        raise CaptureError(f"--source {text} is {inputs.file_kind(mode)}, not a video file, a folder of images, a "
                           f"camera index or a URL{hint}")
    return ("image" if path.suffix.lower() in IMAGE_SUFFIXES or _image_content(path) else "video"), str(path)


def _image_content(path: Path) -> bool:
    """Whether the file holds an image whatever its name (`preprocess.looks_like_image`): its size
    limits then apply, where a video decoder would decode a PNG bomb named .mp4 to gigabytes."""
    from signcaps.hands.preprocess import looks_like_image

    try:
        with open(path, "rb") as handle:
            return looks_like_image(handle.read(16))
    except OSError:
        return False


def open_source(spec: str | int, fps: float | None = None, max_failures: int = 30,
                request_size: tuple[int, int] | None = None, decode_threads: int | None = None) -> FrameSource:
    """Open any kind of source; `fps` overrides the rate of files/folders (timestamps, output video).

    `decode_threads` caps FFMPEG's decoding threads of videos and streams (None: OpenCV's choice, one
    per core): the live loop decodes with one, because a 640x480 frame took 0.27 ms of CPU that way
    against 0.29-0.41 ms over two threads, which only compete with MediaPipe for the cores."""
    kind, target = parse_source(spec)
    if kind == "camera":
        return CvSource(target, "camera", f"camera {target}", fps, max_failures, request_size)
    if kind == "stream":
        return CvSource(target, "stream", str(target), fps, max_failures, decode_threads=decode_threads)
    path = Path(target)
    if kind == "folder":
        paths = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                       key=lambda p: natural_key(p.name))
        if not paths:
            raise CaptureError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return FolderSource(paths, str(path), fps)
    if kind == "image":
        return FolderSource([path], str(path), fps)
    return CvSource(str(path), "video", str(path), fps, max_failures, decode_threads=decode_threads)


_END = object()


class BackgroundStage:
    """One producer thread feeding a bounded queue: the shared shape of the live pipeline stages.

    `produce()` runs in the thread until it returns None (the end, seen by every later `get`) or
    raises (the exception is re-raised in the consumer). With `drop_oldest`, a full queue drops
    its oldest item instead of blocking, so a live camera never lags behind.
    """

    def __init__(self, produce, depth: int, name: str, drop_oldest: bool = False) -> None:
        self._produce = produce
        self._drop_oldest = drop_oldest
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if self._drop_oldest and item is not _END and not isinstance(item, BaseException):
                    try:
                        self._queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._produce()
                if item is None:
                    self._put(_END)
                    return
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def get(self, timeout: float | None) -> object | None:
        """The next item, None at the end; raises queue.Empty after `timeout` seconds without one."""
        item = self._queue.get(timeout=timeout)
        if item is _END:
            self._queue.put(_END)  # further gets keep returning None
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, join_timeout: float = 1.0) -> bool:
        """Stop the thread; True when it has ended."""
        self._stop.set()
        self._thread.join(timeout=join_timeout)
        return not self._thread.is_alive()


class ThreadedReader:
    """Reads a source in a background thread so decoding overlaps the caller's work.

    OpenCV releases the GIL while it decodes, so on two cores the next frame is ready by the
    time the current one is processed. Files are read completely (the queue blocks when full);
    live sources keep only the newest frames (older ones are dropped and counted), so the
    display never lags behind the camera. `read()` raises CaptureError when no frame arrives
    within `stall_timeout` seconds, whatever the source is blocked on.
    """

    def __init__(self, source: FrameSource, depth: int = 4, stall_timeout: float | None = 10.0) -> None:
        self.source = source
        self.stall_timeout = stall_timeout
        self._stage = BackgroundStage(source.read, depth, "signcaps-capture", drop_oldest=source.live)

    @property
    def dropped(self) -> int:
        return self._stage.dropped

    def read(self) -> Frame | None:
        try:
            return self._stage.get(self.stall_timeout)
        except queue.Empty:
            raise CaptureError(f"no frame from {self.source.name} for {self.stall_timeout:g} s "
                               f"(source stalled or disconnected)") from None

    def close(self) -> None:
        if self._stage.close():  # a read blocked inside a driver keeps its capture
            self.source.close()

    def __enter__(self) -> "ThreadedReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
