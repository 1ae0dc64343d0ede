"""The torch row of `signcaps bench model --checkpoint`: the checkpoint's model timed in torch,
beside its ONNX export, through the torch-free `signcaps.runtime.bench`."""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from signcaps.runtime.bench import BATCH_SIZES, bench_model, min_runs, sample_inputs, timing_row, warmup_runs
from signcaps.util.timing import timings_ms

TORCH_THREADS = 2


def bench_checkpoint(checkpoint: str | Path, model: str | Path | None = None, int8_model: str | Path | None = None,
                     batch_sizes: tuple[int, ...] = BATCH_SIZES, budget_s: float = 1.0,
                     log: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    """`bench_model` with a torch row; without ``model`` the float ONNX is a temporary export of the checkpoint."""
    from signcaps.training.export import export_checkpoint_onnx

    checkpoint = Path(checkpoint)
    with tempfile.TemporaryDirectory(prefix="signcaps-bench-") as tmp:
        label = None
        if model is None:
            model = Path(tmp) / "model.onnx"
            label = f"(temporary export of {checkpoint})"
            log(f"exporting {checkpoint} to a temporary ONNX file")
            export_checkpoint_onnx(checkpoint, model)
        log("timing torch")
        rows = time_torch(checkpoint, batch_sizes, budget_s)
        return bench_model(model, int8_model, batch_sizes, budget_s, log, torch_rows=rows, model_label=label)


def time_torch(checkpoint: Path, batch_sizes: tuple[int, ...], budget_s: float) -> list[dict[str, Any]]:
    from signcaps.models.checkpoint import build_from_checkpoint

    model = build_from_checkpoint(checkpoint)[0]
    previous = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    rows = []
    try:
        with torch.inference_mode():
            for batch_size in batch_sizes:
                shape = tuple(getattr(model, "input_shape", (1, 1, 1)))
                x = [torch.from_numpy(v) for v in sample_inputs(model.inputs, shape, batch_size).values()]
                times = timings_ms(lambda: model(*x), batch_size, warmup=warmup_runs(batch_size),  # noqa: B023  (called here)
                                   min_runs=min_runs(batch_size), budget_s=budget_s)
                rows.append(timing_row("torch float32", TORCH_THREADS, batch_size, checkpoint, times))
    finally:
        torch.set_num_threads(previous)
    return rows
