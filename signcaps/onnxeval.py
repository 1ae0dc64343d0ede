"""A deployed (ONNX) model on a split of an image-folder dataset, torch-free: hands found and capsule lengths.

What `signcaps bench hands` (full vs lite hand model) and `signcaps calibrate` (reliability of
the capsule lengths) measure. The split is computed over every image of the folder with the
recipe's data settings (participant split of the digits dataset by default), so the same
participants are held out whichever hand model finds which hands; an image where no hand is
found counts as a miss, not as a smaller test set.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.config import DataConfig


@dataclass
class SplitLengths:
    """Per image of the split: its label and, where a hand was found, the model's capsule lengths."""

    classes: list[str]
    split: str
    images: int  # images in the split
    labels: np.ndarray  # (N,) of the images with a hand
    lengths: np.ndarray  # (N, K) capsule lengths of those images
    paths: list[str]
    missed: list[tuple[str, str]]  # (path, why): no hand found, unreadable
    detect_ms: float  # mean hand-detector time per image (IMAGE mode)

    @property
    def found(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> float:
        """Correct among the images with a hand."""
        return float((self.lengths.argmax(1) == self.labels).mean()) if self.found else 0.0

    @property
    def accuracy_all(self) -> float:
        """Correct among all images of the split (no hand = wrong)."""
        return float((self.lengths.argmax(1) == self.labels).sum() / self.images) if self.images else 0.0

    def summary(self) -> dict[str, Any]:
        return {"split": self.split, "images": self.images, "hands_found": self.found,
                "found_rate": round(self.found / self.images, 4) if self.images else 0.0,
                "accuracy_found": round(self.accuracy, 4), "accuracy_all": round(self.accuracy_all, 4),
                "detect_ms_per_image": round(self.detect_ms, 2)}


def split_lengths(model: str | Path | None = None, data: str | Path | None = None, split: str = "test",
                  hand_model: str | Path | None = None, data_cfg: DataConfig | None = None,
                  show_progress: bool = True) -> SplitLengths:
    """Detect, crop and classify every image of `split` (test | val | train | all) with an ONNX model."""
    from signcaps.assets import resolve_hand_model
    from signcaps.data import DatasetError, detect_and_crop, scan_folder, split_indices
    from signcaps.hands import HandDetector
    from signcaps.progress import progress_bar
    from signcaps.runtime import load_classifier

    cfg = data_cfg or DataConfig()
    classifier = load_classifier(model)
    root = Path(data or cfg.root).expanduser()
    scan = scan_folder(root, classifier.classes)
    if split not in ("test", "val", "train", "all"):
        raise DatasetError(f"--split must be test, val, train or all, not {split!r}")
    files = scan.files
    if split != "all":
        paths = [str(path.relative_to(scan.root)) for path, _ in scan.files]
        labels = np.array([label for _, label in scan.files], np.int64)
        files = [scan.files[i] for i in split_indices(paths, labels, cfg)[split]]
    if not files:
        raise DatasetError(f"no images in {root} ({split})")
    subset = dataclasses.replace(scan, files=files)
    detect_cfg = dataclasses.replace(classifier.detect_cfg, num_hands=1)
    started = time.perf_counter()
    with HandDetector(resolve_hand_model(hand_model), detect_cfg, mode="image") as detector, \
            progress_bar(f"hands in {root.name} ({split})", len(files), enabled=show_progress) as advance:
        crops = detect_and_crop(subset, detector, dataclasses.replace(classifier.crop_cfg, fallback_whole_image=False),
                                progress=advance)
    detect_ms = (time.perf_counter() - started) * 1000.0 / len(files)
    poses = crops.poses(classifier.crop_cfg.mirror_left) if classifier.needs_pose else None
    lengths = np.concatenate([classifier.classify_crops(crops.crops[i:i + 256],
                                                        None if poses is None else poses[i:i + 256])
                              for i in range(0, len(crops), 256)]) \
        if len(crops) else np.zeros((0, len(classifier.classes)), np.float32)
    return SplitLengths(classifier.classes, split, len(files), crops.labels, np.asarray(lengths, np.float32),
                        crops.paths, crops.skipped, detect_ms)
