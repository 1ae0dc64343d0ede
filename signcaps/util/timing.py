"""Wall-clock timing of a repeated call: the one helper `bench` and `export` (int8 latency) share.

A leaf module (numpy only), so the benchmark and the exporter do not import each other for it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timings_ms(run: Callable[[], Any], batch_size: int, warmup: int = 10, min_runs: int = 30,
               max_runs: int = 2000, budget_s: float = 1.0) -> np.ndarray:
    """Milliseconds per crop of each timed ``run()`` call (one call processes ``batch_size`` crops).

    Runs at least ``min_runs`` timed calls and keeps going until ``budget_s`` seconds have
    passed (or ``max_runs`` calls), so fast models get many samples and slow ones stay bounded.
    """
    for _ in range(warmup):
        run()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - started < budget_s):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return np.asarray(times) * 1000.0 / batch_size


def ms_per_crop(run: Callable[[], Any], batch_size: int, **kwargs: Any) -> float:
    """Median milliseconds per crop (see ``timings_ms``)."""
    return float(np.median(timings_ms(run, batch_size, **kwargs)))
