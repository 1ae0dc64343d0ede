"""Hand detection over many stills on every core, with the bytes one process would give.

MediaPipe's IMAGE mode keeps no state between images, so the file list cut into chunks, each
chunk detected by whichever worker is free and the results put back in file order, equals one
process detecting the files in turn (`tests/test_data.py` compares them byte for byte).

One detector already keeps two cores busy (195% of a core on the 2-core machine of issue 24:
MediaPipe runs its model on a thread pool), so the default is one worker per two cores: on two
cores the work stays in this process, as fast as two workers and without their start-up.

Workers are started with `spawn`: forking a process whose MediaPipe graph already runs threads
can deadlock. Each makes its detector on its first chunk, so a bad hand model raises in the
caller like any other error. A worker that dies (killed, out of memory, or unable to start, as
under a script read from stdin) breaks the pool; the chunks left are then detected here, so the
result is the same and nothing hangs.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from signcaps.util.config import DetectConfig

T = TypeVar("T")
R = TypeVar("R")
CHUNK = 16  # images per task: small enough for an even finish and a lively progress bar
MIN_PER_WORKER = 48  # below this many images per extra process, starting it costs more than it saves
CORES_PER_DETECTOR = 2  # what one MediaPipe detector keeps busy (measured: 195% of a core)
WORKERS_ENV = "SIGNCAPS_WORKERS"

_DETECTOR: Any = None  # one per worker process, made on its first chunk


def worker_count(jobs: int, requested: int | None = None) -> int:
    """Processes for `jobs` images: `requested`, else $SIGNCAPS_WORKERS, else one per two cores for
    large sets (1 for small ones: a worker's start, about 2 s, must pay for itself)."""
    if requested is None and os.environ.get(WORKERS_ENV, "").strip().isdigit():
        requested = int(os.environ[WORKERS_ENV])
    if requested is not None:
        return max(1, min(requested, jobs))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores // CORES_PER_DETECTOR, jobs // MIN_PER_WORKER))


def _with_detector(work: Callable[[Any, list[T]], R], model_path: str, cfg: DetectConfig, chunk: list[T]) -> R:
    global _DETECTOR
    if _DETECTOR is None:
        from signcaps.hands.detector import HandDetector

        _DETECTOR = HandDetector(model_path, cfg, mode="image")
    return work(_DETECTOR, chunk)


def _here(work: Callable[[Any, list[T]], R], chunks: list[list[T]], model_path: str | Path, cfg: DetectConfig,
          progress: Callable[[int], None] | None) -> list[R]:
    from signcaps.hands.detector import HandDetector

    results = []
    with HandDetector(model_path, cfg, mode="image") as detector:
        for chunk in chunks:
            results.append(work(detector, chunk))
            if progress:
                progress(len(chunk))
    return results


def detect_chunks(work: Callable[[Any, list[T]], R], items: Sequence[T], model_path: str | Path, cfg: DetectConfig,
                  workers: int | None = None, progress: Callable[[int], None] | None = None) -> list[R]:
    """`work(detector, chunk)` for consecutive chunks of `items`, results in order.

    `work` must be a module-level function (or a `functools.partial` of one) so that worker
    processes can import it; with one worker everything runs here, in this process.
    """
    chunks = [list(items[i:i + CHUNK]) for i in range(0, len(items), CHUNK)]
    count = worker_count(len(items), workers)
    if count <= 1:
        return _here(work, chunks, model_path, cfg, progress)
    results: list[R] = []
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
    try:
        for chunk, result in zip(chunks, pool.map(partial(_with_detector, work, str(model_path), cfg), chunks)):
            results.append(result)
            if progress:
                progress(len(chunk))
    except BrokenProcessPool:
        results += _here(work, chunks[len(results):], model_path, cfg, progress)
    finally:  # on Ctrl-C too: queued chunks are dropped, not waited for
        pool.shutdown(wait=False, cancel_futures=True)
    return results
