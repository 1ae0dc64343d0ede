"""Latency per crop of torch, ONNX float and ONNX int8 on this machine (`signcaps bench model`).

Every number is the median over many timed calls after a warm-up, divided by the batch size.
Inputs are a fixed pseudo-random batch: none of the models has data-dependent control flow,
so the values do not change the work done. torch is optional: without a checkpoint (or
without torch installed) its row is left out.
"""
from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.errors import UserError
from signcaps.runtime import int8_sibling
from signcaps.timing import timings_ms

TORCH_THREADS = 2
BATCH_SIZES = (1, 32)


class BenchError(UserError, RuntimeError):
    """Nothing to benchmark, or a model that cannot be timed (one-line message)."""


def _row(engine: str, threads: int, batch_size: int, path: Path, times: np.ndarray) -> dict[str, Any]:
    return {"engine": engine, "threads": threads, "batch": batch_size, "path": str(path),
            "size_bytes": path.stat().st_size,
            "ms_per_crop": float(np.median(times)), "best_ms_per_crop": float(times.min()), "runs": int(len(times))}


def _min_runs(batch_size: int) -> int:
    return 30 if batch_size == 1 else 10


def _warmup(batch_size: int) -> int:
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
               budget_s: float) -> list[dict[str, Any]]:
    from signcaps.runtime import OnnxClassifier

    clf = OnnxClassifier(path, threads=threads)
    rows = []
    for batch_size in batch_sizes:
        x = sample_inputs(list(clf.inputs), clf.input_shape, batch_size)
        times = timings_ms(lambda: clf.classify(x), batch_size, warmup=_warmup(batch_size),  # noqa: B023  (called here)
                           min_runs=_min_runs(batch_size), budget_s=budget_s)
        rows.append(_row(engine, threads, batch_size, path, times))
    return rows


def _time_torch(checkpoint: Path, batch_sizes: tuple[int, ...], budget_s: float) -> list[dict[str, Any]]:
    try:
        import torch
    except ImportError:
        raise BenchError("torch is not installed: the torch column needs it (or leave out --checkpoint)") from None
    from signcaps.checkpoint import build_from_checkpoint

    model = build_from_checkpoint(checkpoint)[0]
    previous = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    rows = []
    try:
        with torch.inference_mode():
            for batch_size in batch_sizes:
                shape = tuple(getattr(model, "input_shape", (1, 1, 1)))
                x = [torch.from_numpy(v) for v in sample_inputs(model.inputs, shape, batch_size).values()]
                times = timings_ms(lambda: model(*x), batch_size, warmup=_warmup(batch_size),  # noqa: B023  (called here)
                                   min_runs=_min_runs(batch_size), budget_s=budget_s)
                rows.append(_row("torch float32", TORCH_THREADS, batch_size, checkpoint, times))
    finally:
        torch.set_num_threads(previous)
    return rows


def bench_model(checkpoint: str | Path | None = None, model: str | Path | None = None,
                int8_model: str | Path | None = None, batch_sizes: tuple[int, ...] = BATCH_SIZES,
                budget_s: float = 1.0, log: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    """Time every engine that is available; returns rows plus what they were measured on.

    ONNX float comes from ``model``, else from an export of ``checkpoint`` into a temporary
    folder, else from the shipped default. ONNX int8 comes from ``int8_model``, else from the
    `*.int8.onnx` next to the float model when there is one.
    """
    from signcaps.runtime import load_classifier

    checkpoint = Path(checkpoint) if checkpoint else None
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="signcaps-bench-") as tmp:
        if model is not None:
            float_path = Path(model)
        elif checkpoint is not None:
            from signcaps.export import export_checkpoint_onnx

            float_path = Path(tmp) / "model.onnx"
            log(f"exporting {checkpoint} to a temporary ONNX file")
            export_checkpoint_onnx(checkpoint, float_path)
        else:
            float_path = load_classifier(None).path
        if int8_model is not None:
            q_path: Path | None = Path(int8_model)
        else:
            q_path = int8_sibling(float_path) if int8_sibling(float_path).is_file() else None
            if q_path is None:
                notes.append("no int8 model (export with --int8, or pass --int8-model)")
        meta = load_classifier(float_path).meta
        if checkpoint is not None:
            log("timing torch")
            rows += _time_torch(checkpoint, batch_sizes, budget_s)
        else:
            notes.append("no torch row (pass --checkpoint)")
        for engine, path in (("onnx float32", float_path), ("onnx int8", q_path)):
            if path is None:
                continue
            for threads in (1, 2):
                log(f"timing {engine} with {threads} thread(s)")
                rows += _time_onnx(path, engine, threads, batch_sizes, budget_s)
        if model is None and checkpoint is not None:
            for row in rows:
                if row["engine"] == "onnx float32":
                    row["path"] = f"(temporary export of {checkpoint})"
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
