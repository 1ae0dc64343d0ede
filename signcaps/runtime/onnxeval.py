"""A deployed (ONNX) model on a split of an image-folder dataset, torch-free: hands found and capsule lengths.

What `signcaps bench hands` (full vs lite hand model) and `signcaps calibrate` (reliability of
the capsule lengths) measure. The split is computed over every image of the folder with the
recipe's data settings (participant split of the digits dataset by default), so the same
participants are held out whichever hand model finds which hands; an image where no hand is
found counts as a miss, not as a smaller test set.

Which images are held out is the model's to say (`held_out`): a model exported by this version
stores its validation and test files in its metadata and is judged on exactly those; an older
one is judged on the split its recipe computes only when the folder is the data it was trained
on (same fingerprint). Otherwise the folder's test split could hold the model's own training
images, so anything but `--split all` is refused.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.data.folders import NEGATIVE
from signcaps.util.config import DataConfig


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
    negative_images: int = 0  # images of the folder's none/ part in the split (not in `images`)
    negative_lengths: np.ndarray | None = None  # (M, K) capsule lengths of those with a hand

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
                  show_progress: bool = True, signs: str | None = None) -> SplitLengths:
    """Detect, crop and classify every image of `split` (test | val | train | all) with an ONNX model."""
    from signcaps.data.crops import detect_and_crop
    from signcaps.data.folders import DatasetError, scan_folder
    from signcaps.hands.detector import HandDetector
    from signcaps.runtime.classifier import load_classifier
    from signcaps.util.assets import resolve_hand_model
    from signcaps.util.progress import progress_bar

    cfg = data_cfg or DataConfig()
    classifier = load_classifier(model, signs=signs)
    if split not in ("test", "val", "train", "all"):
        raise DatasetError(f"--split must be test, val, train or all, not {split!r}")
    scan = scan_folder(data or cfg.root, classifier.classes)
    root = scan.root
    files = scan.files if split == "all" else \
        [scan.files[i] for i in held_out(classifier.meta, scan, cfg, model)[split]]
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
    lengths, signs = np.asarray(lengths, np.float32), ~crops.negative
    negatives = sum(1 for _, label in files if label == NEGATIVE)
    return SplitLengths(classifier.classes, split, len(files) - negatives, crops.labels[signs], lengths[signs],
                        [p for p, s in zip(crops.paths, signs) if s], crops.skipped, detect_ms, negatives,
                        lengths[~signs])


def held_out(meta: dict[str, Any], scan: Any, cfg: DataConfig,
             model: str | Path | None = None) -> dict[str, np.ndarray]:
    """The model's train/val/test split of `scan` (see the module docstring), or DatasetError."""
    import dataclasses

    from signcaps.data.folders import DatasetError, fingerprint
    from signcaps.data.splits import published_split, split_indices, stored_split

    paths = [path.relative_to(scan.root).as_posix() for path, _ in scan.files]
    record = meta.get("split") if isinstance(meta.get("split"), dict) else None
    stored = stored_split(record, paths) or published_split(paths)  # a train/ valid/ test/ set: as published
    if stored is not None:
        return stored
    name = Path(model).name if model else "the default model"
    if meta.get("data_fingerprint") and meta["data_fingerprint"] == fingerprint(scan):
        settings = record or _recipe_split(meta.get("recipe"))
        if settings:
            keys = {"method": "split", "group_pattern": "group_pattern", "seed": "split_seed",
                    "val_fraction": "val_fraction", "test_fraction": "test_fraction"}
            cfg = dataclasses.replace(cfg, **{field: settings[key] for key, field in keys.items() if key in settings})
        labels = np.array([label for _, label in scan.files], np.int64)
        return split_indices(paths, labels, cfg, root=scan.root)
    why = ("lists held-out files none of which are in it" if record and record.get("test")
           else "stores no held-out files and was trained on other data (its data fingerprint differs)")
    raise DatasetError(f"{scan.root} cannot be split the way {name} was: the model {why}, so its test split could "
                       f"hold training images; pass --split all to use every image in {scan.root} as unseen data")


def _recipe_split(recipe_name: Any) -> dict[str, Any] | None:
    """The split settings of the shipped recipe a model names (older models stored only the name)."""
    from signcaps.data.splits import split_settings
    from signcaps.util.bundled import find_recipe
    from signcaps.util.config import load_recipe

    if not isinstance(recipe_name, str) or find_recipe(recipe_name) is None:
        return None
    return split_settings(load_recipe(recipe_name).data)


def evaluate_onnx(model: str | Path, data: str | Path | None, split: str, hand_model: str | None,
                  out_dir: str | Path | None, show_progress: bool = True, signs: str | None = None) -> dict[str, Any]:
    """`signcaps eval MODEL.onnx`: accuracy, per-class P/R/F1 and the confusion matrix of an exported model,
    torch-free, on the split it stores (`held_out`); `auto` = its test split where that is known, else all."""
    from signcaps.data.folders import DatasetError, scan_folder
    from signcaps.runtime.classifier import load_classifier
    from signcaps.util.metrics import classification_report
    from signcaps.util.outputs import claim_files, ensure_writable_dir
    from signcaps.util.report import plot_confusion

    target = ensure_writable_dir(Path(out_dir) if out_dir else Path(model).parent, "--out")  # before the work
    name = Path(model).stem
    # the confusion PNG's name is signcaps' pick: a user's file of that name is never replaced (the record)
    claim_files(target, [f"eval-{name}-confusion-{s}.png" for s in (("test", "all") if split == "auto" else (split,))],
                "--out")
    if split == "auto":
        classifier = load_classifier(model, signs=signs)
        try:
            held_out(classifier.meta, scan_folder(data or DataConfig().root, classifier.classes), DataConfig(), model)
            split = "test"
        except DatasetError:
            split = "all"
    result = split_lengths(model, data, split, hand_model, show_progress=show_progress, signs=signs)
    if not result.found:
        raise DatasetError(f"no hand found in any image of the {split} split")
    report = classification_report(result.labels, result.lengths.argmax(1), result.classes)
    png = plot_confusion(report, target / f"eval-{name}-confusion-{split}.png", f"{name} ({split})")
    classifier = load_classifier(model, signs=signs)
    return {"checkpoint": str(model), "data": str(data or DataConfig().root), "split": split, "report": report,
            "skipped": [f"{path} ({why})" for path, why in result.missed], "confusion_png": str(png),
            "mean_winner_length": float(result.lengths.max(1).mean()), **result.summary(),
            "rule": classifier.rule.to_meta(),
            "open_set": open_set_rows(classifier, result, data is None, hand_model, show_progress)}


def open_set_rows(classifier: Any, result: SplitLengths, own_data: bool, hand_model: str | Path | None,
                  show_progress: bool, rule: Any = None) -> list[dict[str, Any]]:
    """The model's rejection rule on the split: its signs accepted and right, the folder's none/ images
    refused and, on the model's own data, its recipe's external negatives held out as this split."""
    from signcaps.runtime.openset import model_recipe, rule_row, scored, split_negatives  # the same level: judged alike

    rule = rule or classifier.rule
    sets = [scored(f"signs ({result.split})", "signs", result.images, result.labels, result.lengths)]
    if result.negative_images:
        sets.append(scored(f"negatives: the folder's none/ ({result.split})", "negatives", result.negative_images,
                           np.full(len(result.negative_lengths), NEGATIVE), result.negative_lengths))
    recipe = model_recipe(classifier) if own_data else None
    external = split_negatives(classifier, recipe, result.split, hand_model, show_progress) if recipe else None
    if external is not None:
        sets.append(external)
    return [rule_row(s, classifier.classes, rule) for s in sets]
