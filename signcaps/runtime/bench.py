"""Latency per crop of ONNX float and ONNX int8 on this machine (`signcaps bench model`).

Every number is the median over many timed calls after a warm-up, divided by the batch size.
Inputs are a fixed pseudo-random batch: none of the models has data-dependent control flow,
so the values do not change the work done. The torch row (`--checkpoint`) is timed on the
training side (`signcaps.training.torch_bench`) and handed in: this module never needs torch.
"""
from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.runtime.classifier import int8_sibling
from signcaps.util.timing import timings_ms

BATCH_SIZES = (1, 32)


def timing_row(engine: str, threads: int, batch_size: int, path: Path, times: np.ndarray) -> dict[str, Any]:
    return {"engine": engine, "threads": threads, "batch": batch_size, "path": str(path),
            "size_bytes": path.stat().st_size,
            "ms_per_crop": float(np.median(times)), "best_ms_per_crop": float(times.min()), "runs": int(len(times))}


def min_runs(batch_size: int) -> int:
    return 30 if batch_size == 1 else 10


def warmup_runs(batch_size: int) -> int:
    return 10 if batch_size == 1 else 3


def sample_batch(shape: tuple[int, int, int], batch_size: int) -> np.ndarray:
    """A deterministic float32 batch in the normalised input range."""
    rng = np.random.default_rng(0)
    return rng.uniform(-1.0, 1.0, size=(batch_size, *shape)).astype(np.float32)


def sample_inputs(kinds: tuple[str, ...] | list[str], image_shape: tuple[int, int, int],
                  batch_size: int) -> dict[str, np.ndarray]:
    """Deterministic inputs for every kind a model reads: image crops and/or (21, 3) poses."""
    shapes = {"image": image_shape, "pose": (21, 3)}
    return {kind: sample_batch(shapes[kind], batch_size) for kind in kinds}


def _time_onnx(path: Path, engine: str, threads: int, batch_sizes: tuple[int, ...],
               budget_s: float, signs: str | None = None) -> list[dict[str, Any]]:
    from signcaps.runtime.classifier import OnnxClassifier

    clf = OnnxClassifier(path, threads=threads, signs=signs)
    rows = []
    for batch_size in batch_sizes:
        x = sample_inputs(list(clf.inputs), clf.input_shape, batch_size)
        times = timings_ms(lambda: clf.classify(x), batch_size, warmup=warmup_runs(batch_size),  # noqa: B023  (called here)
                           min_runs=min_runs(batch_size), budget_s=budget_s)
        rows.append(timing_row(engine, threads, batch_size, path, times))
    return rows


def bench_model(model: str | Path | None = None, int8_model: str | Path | None = None,
                batch_sizes: tuple[int, ...] = BATCH_SIZES, budget_s: float = 1.0,
                log: Callable[[str], None] = lambda _msg: None, torch_rows: list[dict[str, Any]] | None = None,
                model_label: str | None = None, signs: str | None = None) -> dict[str, Any]:
    """Time every ONNX engine that is available; returns rows plus what they were measured on.

    ONNX float comes from ``model``, else from the shipped default (``model_label`` names it in
    the rows when it is a temporary export). ONNX int8 comes from ``int8_model``, else from the
    `*.int8.onnx` next to the float model when there is one. ``torch_rows``, timed by the training
    side, come first and give the summary its torch comparison. ``signs``: a joint model's mode (its
    view adds the selection of the mode's capsules to the graph, timed with it).
    """
    from signcaps.runtime.classifier import load_classifier

    rows: list[dict[str, Any]] = list(torch_rows or [])
    notes: list[str] = [] if torch_rows else ["no torch row (pass --checkpoint)"]
    float_path = Path(model) if model is not None else load_classifier(None).path
    if int8_model is not None:
        q_path: Path | None = Path(int8_model)
    else:
        q_path = int8_sibling(float_path) if int8_sibling(float_path).is_file() else None
        if q_path is None:
            notes.insert(0, "no int8 model (export with --int8, or pass --int8-model)")
    meta = load_classifier(float_path, signs=signs).meta
    for engine, path in (("onnx float32", float_path), ("onnx int8", q_path)):
        if path is None:
            continue
        for threads in (1, 2):
            log(f"timing {engine} with {threads} thread(s)")
            for row in _time_onnx(path, engine, threads, batch_sizes, budget_s, signs):
                rows.append({**row, "path": model_label} if model_label and engine == "onnx float32" else row)
    summary = _summary(rows)
    return {
        "model": meta.get("model"), "architecture": meta.get("architecture"), "parameters": meta.get("parameters"),
        "input": [meta.get("channels"), meta.get("input_size"), meta.get("input_size")],
        "machine": _machine(), "rows": rows, "summary": summary, "notes": notes,
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def best(engine: str, batch: int) -> dict[str, Any] | None:
        found = [r for r in rows if r["engine"] == engine and r["batch"] == batch]
        return min(found, key=lambda r: r["ms_per_crop"]) if found else None

    onnx1 = best("onnx float32", 1)
    torch1 = best("torch float32", 1)
    onnx1_t1 = next((r for r in rows if r["engine"] == "onnx float32" and r["batch"] == 1 and r["threads"] == 1), None)
    result: dict[str, Any] = {
        "onnx_float_batch1_ms": onnx1_t1["ms_per_crop"] if onnx1_t1 else None,
        "target_ms": 2.0,
        "target_met": bool(onnx1_t1 and onnx1_t1["ms_per_crop"] < 2.0),
        "best_onnx_threads_batch1": onnx1["threads"] if onnx1 else None,
    }
    if onnx1_t1 and torch1:
        result["speedup_vs_torch_batch1"] = torch1["ms_per_crop"] / onnx1_t1["ms_per_crop"]
        result["faster_than_torch"] = onnx1_t1["ms_per_crop"] < torch1["ms_per_crop"]
    return result


def _machine() -> dict[str, Any]:
    import onnxruntime

    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__}
    from importlib import metadata

    try:  # the installed version, read without importing torch (2 s, and absent from the base install)
        info["torch"] = metadata.version("torch")
    except metadata.PackageNotFoundError:
        info["torch"] = None
    return info
