"""Consumers of the live loop's annotated frames that write files: the annotated video.

They sit beside `capture.BackgroundStage` in spirit: the loop hands them frames and, when
pipelined, the encoding runs in its own thread so it overlaps the next frame's work.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from signcaps.errors import UserError


class WriterError(UserError, ValueError):
    """An output file that cannot be written (one line)."""


class VideoWriter:
    """Annotated frames -> video file (mp4v), optionally in a thread (encoding overlaps the loop)."""

    def __init__(self, path: str, fps: float, size: tuple[int, int], threaded: bool) -> None:
        from signcaps.outputs import temp_sibling

        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.path = str(Path(path).expanduser())
        # Written under a temporary name and renamed on close: a video already at --output
        # stays untouched until there is a new one to replace it.
        self._tmp = temp_sibling(Path(self.path))
        self.size = size
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
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
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
        self._writer.release()
        if self.frames and self._tmp.is_file():
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
