"""Consumers of the live loop's annotated frames that write files: the annotated video.

They sit beside `capture.BackgroundStage` in spirit: the loop hands them frames and, when
pipelined, the encoding runs in its own thread so it overlaps the next frame's work.
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from signcaps.util.errors import UserError


class WriterError(UserError, ValueError):
    """An output file that cannot be written (one line)."""


MAX_VIDEO_SIDE = 8191  # OpenCV's mp4v (FFmpeg's MPEG-4 part 2) opens nothing above this, measured


class VideoWriter:
    """Annotated frames -> video file (mp4v), optionally in a thread (encoding overlaps the loop)."""

    def __init__(self, path: str, fps: float, size: tuple[int, int], threaded: bool) -> None:
        from signcaps.util.inputs import opencv_path
        from signcaps.util.outputs import new_temp_file

        opencv_path(Path(path).expanduser(), "video output")  # before any file is made
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.path = str(Path(path).expanduser())
        # Written under a temporary name (random, created exclusively) and renamed on close once
        # the file reads back: a video already at --output stays untouched until there is a good
        # new one to replace it.
        if max(size) > MAX_VIDEO_SIDE:  # said as such, not blamed on the encoder or the folder
            raise WriterError(f"cannot write video {self.path}: its frames are {size[0]}x{size[1]} pixels, larger "
                              f"than an mp4v video can be ({MAX_VIDEO_SIDE} pixels a side); use a smaller source "
                              f"(or --camera-size), or leave out --output")
        self._tmp = new_temp_file(Path(self.path))
        self.size = size
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        if not self._writer.isOpened():
            from signcaps.util.outputs import out_of_space

            self._tmp.unlink(missing_ok=True)
            if out_of_space(Path(self.path).parent):
                raise WriterError(f"cannot write video {self.path}: no space left on the device")
            raise WriterError(f"cannot write video {self.path} (OpenCV has no mp4v encoder for it, or the folder is "
                              "not writable)")
        self.frames = 0
        self.ms: list[float] = []
        self._queue: queue.Queue | None = queue.Queue(maxsize=8) if threaded else None
        self._error: BaseException | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="signcaps-writer", daemon=True)
            self._thread.start()

    def _encode(self, image: np.ndarray) -> None:
        t0 = time.perf_counter()
        if (image.shape[1], image.shape[0]) != self.size:  # a folder of differently sized frames
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1
        self.ms.append((time.perf_counter() - t0) * 1000.0)

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            image = self._queue.get()
            if image is None:
                return
            try:
                self._encode(image)
            except BaseException as exc:  # noqa: BLE001
                self._error = exc

    def write(self, image: np.ndarray) -> None:
        if self._queue is None:
            self._encode(image)
        else:
            self._queue.put(image)

    def close(self) -> None:
        """Finish the file and move it to its name, or raise WriterError (a full disk: OpenCV's
        writer drops frames silently, so the finished file is read back once before it counts)."""
        from signcaps.util.outputs import publish

        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
        self._writer.release()
        try:
            if not self.frames:
                return
            if self._error is not None or not self._reads_back():
                raise WriterError(f"cannot write video {self.path}: the file did not come out whole (no space left "
                                  "on the device?); an earlier file of that name was kept")
            publish(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)

    def _reads_back(self) -> bool:
        capture = cv2.VideoCapture(str(self._tmp))
        try:
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if capture.isOpened() else 0
            return count == self.frames and capture.read()[0]
        finally:
            capture.release()
