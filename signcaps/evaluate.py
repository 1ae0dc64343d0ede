"""Evaluate a checkpoint on any image-folder dataset through the training preprocessing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from signcaps.checkpoint import build_from_checkpoint
from signcaps.data import CropSet, DatasetError, prepare, split_indices
from signcaps.infer import inputs_of, predict_lengths
from signcaps.metrics import classification_report


def load_eval_crops(checkpoint: str | Path, data: str | Path | None, split: str, hand_model: str | None,
                    show_progress: bool = True) -> tuple[torch.nn.Module, Any, CropSet, str, list]:
    """The model and the crops it should be judged on (same crop settings as in training)."""
    model, recipe, classes, _ = build_from_checkpoint(checkpoint)
    root = Path(data) if data else Path(recipe.data.root)
    same_data = Path(recipe.data.root).resolve() == root.resolve()
    if split == "auto":
        split = "test" if same_data else "all"
    if split not in ("test", "val", "train", "all"):
        raise DatasetError(f"--split must be test, val, train, all or auto, not {split!r}")
    crops, _, _ = prepare(root, recipe.data, recipe.crop, recipe.detect, hand_model, classes=classes,
                          show_progress=show_progress)
    skipped = list(crops.skipped)
    if split != "all":
        crops = crops.subset(split_indices(crops.paths, crops.labels, recipe.data)[split])
    if len(crops) == 0:
        raise DatasetError(f"no usable images in {root} ({split})")
    return model, recipe, crops, split, skipped


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path | None, split: str, hand_model: str | None,
                        out_dir: str | Path | None, show_progress: bool = True) -> dict[str, Any]:
    from signcaps.checkpoint import require_checkpoint_file
    from signcaps.outputs import claim_files, ensure_writable_dir
    from signcaps.report import plot_confusion

    require_checkpoint_file(checkpoint)
    target = ensure_writable_dir(Path(out_dir) if out_dir else Path(checkpoint).parent, "--out",
                                 inputs=[data])  # before the work
    claim_files(target, [f"eval-confusion-{s}.png" for s in (("test", "all") if split == "auto" else (split,))],
                "--out")
    model, recipe, crops, split, skipped = load_eval_crops(checkpoint, data, split, hand_model, show_progress)
    lengths = predict_lengths(model, inputs_of(crops, recipe), torch.device("cpu"))
    report = classification_report(crops.labels, lengths.argmax(1), crops.classes)
    png = plot_confusion(report, target / f"eval-confusion-{split}.png",
                         f"{recipe.model.name} on {Path(data or recipe.data.root).name} ({split})")
    return {"checkpoint": str(checkpoint), "data": str(data or recipe.data.root), "split": split, "report": report,
            "skipped": skipped, "confusion_png": str(png), "mean_winner_length": float(np.max(lengths, 1).mean())}
