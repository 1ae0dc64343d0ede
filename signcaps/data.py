"""Image-folder datasets: scanning, hand-crop cache, participant-aware splits, augmentation.

MediaPipe runs once per image and settings; the crops land in a cache file keyed by the
dataset contents and the crop/detection settings, so training, evaluation and every DDP rank
reuse them instead of re-detecting hands.
"""
from __future__ import annotations

from signcaps.errors import UserError

import hashlib
import json
import os
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signcaps.config import AugmentConfig, CropConfig, DataConfig, DetectConfig
from signcaps.preprocess import ImageReadError, crop_hand, read_image_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
CACHE_VERSION = 1


class DatasetError(UserError, ValueError):
    """A dataset folder that cannot be used as given (user error, one line)."""


@dataclass
class FolderScan:
    """What an image-folder dataset holds: one sub-folder per class."""

    root: Path
    classes: list[str]
    files: list[tuple[Path, int]]  # (path, class index)
    empty_classes: list[str] = field(default_factory=list)
    ignored: list[tuple[Path, str]] = field(default_factory=list)  # non-image files


@dataclass
class CropSet:
    """Cached hand crops of a dataset, aligned arrays plus a record of what was skipped."""

    classes: list[str]
    crops: np.ndarray  # (N, S, S, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64
    paths: list[str]  # relative to the dataset root
    fallback: np.ndarray  # (N,) bool: whole-image crop because no hand was found
    skipped: list[tuple[str, str]]  # (relative path, reason): unreadable or no hand
    fingerprint: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> "CropSet":
        return CropSet(self.classes, self.crops[index], self.labels[index], [self.paths[i] for i in index],
                       self.fallback[index], [], self.fingerprint)


def natural_key(text: str) -> list:
    """Sort 'IMG_2' before 'IMG_10', and class '10' after '9'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def scan_folder(root: str | Path, classes: list[str] | None = None) -> FolderScan:
    """List the images of a one-folder-per-class dataset.

    `classes` fixes the class order (e.g. a model's classes); a folder that is not among them
    is a clear error rather than a silently wrong label.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: natural_key(p.name))
    if not folders:
        raise DatasetError(f"{root} has no class sub-folders (expected one folder per class, e.g. 0/ 1/ … 9/)")
    names = [p.name for p in folders]
    if classes is None:
        classes = names
    else:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise DatasetError(f"{root} has class folder(s) {unknown} that the model does not know (classes: {classes})")
    scan = FolderScan(root, list(classes), [])
    for folder in folders:
        entries = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: natural_key(str(p)))
        images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
        scan.ignored += [(p, "not an image file name") for p in entries if p.suffix.lower() not in IMAGE_SUFFIXES]
        if not images:
            scan.empty_classes.append(folder.name)
        scan.files += [(p, classes.index(folder.name)) for p in images]
    if not scan.files:
        raise DatasetError(f"{root} holds no images")
    return scan


def fingerprint(scan: FolderScan) -> str:
    """Hash of every file's name, class and bytes: the identity of the training data.

    Content rather than timestamps, so a copied dataset keeps its cache and an exported
    model's fingerprint names the data, not the disk it was on.
    """
    digest = hashlib.sha256()
    for path, label in scan.files:
        try:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            content = "unreadable"
        digest.update(f"{path.relative_to(scan.root).as_posix()}|{scan.classes[label]}|{content}\n".encode())
    return digest.hexdigest()[:16]


def cache_path(data_cfg: DataConfig, scan: FolderScan, crop: CropConfig, detect: DetectConfig) -> Path:
    settings = f"{crop.cache_key}-d{detect.min_detection_confidence:g}-p{detect.min_presence_confidence:g}-c{detect.context_pad:g}"
    return Path(data_cfg.cache_dir) / f"{scan.root.name}-{fingerprint(scan)}-{settings}-v{CACHE_VERSION}.npz"


def load_cache(path: Path) -> CropSet:
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        return CropSet(meta["classes"], npz["crops"], npz["labels"].astype(np.int64), meta["paths"],
                       npz["fallback"].astype(bool), [tuple(s) for s in meta["skipped"]], meta["fingerprint"])


def save_cache(crops: CropSet, path: Path) -> None:
    """Atomic write: an interrupted `prepare` never leaves a half cache behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"classes": crops.classes, "paths": crops.paths, "skipped": crops.skipped, "fingerprint": crops.fingerprint}
    tmp = path.with_name(path.name + ".part.npz")
    np.savez(tmp, crops=crops.crops, labels=crops.labels, fallback=crops.fallback, meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)


def detect_and_crop(scan: FolderScan, detector, crop_cfg: CropConfig,
                    progress: Callable[[int], None] | None = None) -> CropSet:
    """Run the hand detector once per image; unreadable and hand-less files are recorded, not fatal."""
    crops, labels, paths, fallback, skipped = [], [], [], [], []
    for path, label in scan.files:
        rel = str(path.relative_to(scan.root))
        try:
            image = read_image_rgb(path)
            hands = detector.detect(image)
        except ImageReadError as err:
            skipped.append((rel, f"unreadable: {err}"))
        except (RuntimeError, ValueError) as err:  # one odd file must not end the batch
            skipped.append((rel, f"unreadable: hand detector failed ({type(err).__name__})"))
        else:
            if hands or crop_cfg.fallback_whole_image:
                hand = hands[0] if hands else None
                crops.append(crop_hand(image, hand.landmarks if hand else None, bool(hand and hand.is_left), crop_cfg))
                labels.append(label)
                paths.append(rel)
                fallback.append(hand is None)
            else:
                skipped.append((rel, "no hand found"))
        if progress:
            progress(1)
    size = crop_cfg.input_size
    array = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return CropSet(scan.classes, array, np.array(labels, np.int64), paths, np.array(fallback, bool), skipped, fingerprint(scan))


# ---------------------------------------------------------------------------------- splits

_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def participant_groups(paths: list[str], labels: np.ndarray, max_gap: int = 10) -> np.ndarray:
    """Group ids for datasets where each signer photographed the digits in order.

    Files sorted by their number form one participant while the digit keeps increasing and
    the numbers stay close; a falling digit or a jump starts a new one. Merging two signers
    into a group is harmless, splitting one would leak, so the rule errs on merging.
    """
    numbers = []
    for rel in paths:
        match = _NUMBER.search(Path(rel).stem)
        if match is None:
            raise DatasetError(f"participant split needs numbered file names; {rel} has no number (use split: stratified)")
        numbers.append(int(match.group(1)))
    order = sorted(range(len(paths)), key=lambda i: numbers[i])
    groups = np.zeros(len(paths), np.int64)
    group, prev = -1, None
    for i in order:
        if prev is None or not (labels[i] > labels[prev] and 0 < numbers[i] - numbers[prev] <= max_gap):
            group += 1
        groups[i] = group
        prev = i
    return groups


def pattern_groups(paths: list[str], pattern: str) -> np.ndarray:
    regex = re.compile(pattern)
    names = []
    for rel in paths:
        match = regex.search(rel)
        if match is None:
            raise DatasetError(f"group_pattern {pattern!r} does not match {rel}")
        names.append(match.group(1) if match.groups() else match.group(0))
    lookup = {name: i for i, name in enumerate(sorted(set(names)))}
    return np.array([lookup[n] for n in names], np.int64)


def split_indices(paths: list[str], labels: np.ndarray, cfg: DataConfig) -> dict[str, np.ndarray]:
    """Deterministic train/val/test index arrays; grouped splits keep each group on one side."""
    rng = np.random.default_rng(cfg.split_seed)
    if cfg.split == "stratified":
        parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
        for label in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == label))
            n_test = int(round(len(members) * cfg.test_fraction))
            n_val = int(round(len(members) * cfg.val_fraction))
            parts["test"] += members[:n_test].tolist()
            parts["val"] += members[n_test:n_test + n_val].tolist()
            parts["train"] += members[n_test + n_val:].tolist()
        return {k: np.array(sorted(v), np.int64) for k, v in parts.items()}
    if cfg.split == "participant":
        groups = participant_groups(paths, labels)
    elif cfg.split == "group":
        if not cfg.group_pattern:
            raise DatasetError("split: group needs data.group_pattern (a regex whose first group names the participant)")
        groups = pattern_groups(paths, cfg.group_pattern)
    else:
        raise DatasetError(f"unknown split {cfg.split!r}; choose participant, stratified or group")
    return split_by_groups(groups, cfg, rng)


def split_by_groups(groups: np.ndarray, cfg: DataConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    order = rng.permutation(np.unique(groups))
    total = len(groups)
    sizes = np.bincount(groups)
    assign, filled = {}, 0
    for g in order:
        frac = filled / total
        assign[g] = "test" if frac < cfg.test_fraction else "val" if frac < cfg.test_fraction + cfg.val_fraction else "train"
        filled += sizes[g]
    names = np.array([assign[g] for g in groups])
    return {k: np.flatnonzero(names == k) for k in ("train", "val", "test")}


# ---------------------------------------------------------------------------- augmentation

def build_augmenter(cfg: AugmentConfig):
    """albumentations pipeline for uint8 RGB crops, or None when disabled."""
    if not cfg.enabled:
        return None
    import albumentations as A
    import cv2

    return A.Compose([
        A.Affine(scale=(1 - cfg.scale, 1 + cfg.scale), translate_percent=(-cfg.translate, cfg.translate),
                 rotate=(-cfg.rotate, cfg.rotate), shear=(-cfg.shear, cfg.shear),
                 border_mode=cv2.BORDER_REPLICATE, p=cfg.affine_p),
        A.HorizontalFlip(p=cfg.hflip_p),
        A.RandomBrightnessContrast(brightness_limit=cfg.brightness, contrast_limit=cfg.contrast, p=cfg.color_p),
        A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 1.0), p=cfg.blur_p),
        A.GaussNoise(std_range=(0.02, 0.06), p=cfg.noise_p),
    ])


# ------------------------------------------------------------------------------- prepare

def prepare(root: str | Path, data_cfg: DataConfig, crop_cfg: CropConfig, detect_cfg: DetectConfig,
            hand_model: str | Path | None = None, classes: list[str] | None = None,
            refresh: bool = False, show_progress: bool = True) -> tuple[CropSet, FolderScan, Path]:
    """Crops of every image under `root`, from the cache when the same settings ran before."""
    scan = scan_folder(root, classes)
    path = cache_path(data_cfg, scan, crop_cfg, detect_cfg)
    if path.is_file() and not refresh:
        try:
            return load_cache(path), scan, path
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error):
            pass  # a damaged (truncated, half-written) cache is rebuilt below
    from signcaps.assets import resolve_hand_model
    from signcaps.hands import HandDetector
    from signcaps.outputs import ensure_writable_dir
    from signcaps.progress import progress_bar

    ensure_writable_dir(path.parent, "the crop cache folder (data.cache_dir)")  # before minutes of detection
    model_path = resolve_hand_model(hand_model)
    with HandDetector(model_path, detect_cfg, mode="image") as detector, \
            progress_bar(f"cropping hands in {scan.root.name}", len(scan.files), enabled=show_progress) as advance:
        crops = detect_and_crop(scan, detector, crop_cfg, advance)
    crops.skipped = [(str(p.relative_to(scan.root)), r) for p, r in scan.ignored] + crops.skipped
    save_cache(crops, path)
    return crops, scan, path


def class_report(crops: CropSet, scan: FolderScan) -> list[dict]:
    """Per class: images, hands found, fallbacks, unreadable files (the `data prepare` table)."""
    rows = []
    for index, name in enumerate(scan.classes):
        prefix = f"{name}{os.sep}"
        in_class = crops.labels == index
        skipped = [r for p, r in crops.skipped if p.startswith(prefix)]
        rows.append({
            "class": name,
            "images": sum(1 for _, label in scan.files if label == index),
            "hands": int((in_class & ~crops.fallback).sum()),
            "fallbacks": int((in_class & crops.fallback).sum()),
            "no_hand": sum(1 for r in skipped if r == "no hand found"),
            "unreadable": sum(1 for r in skipped if r.startswith("unreadable")),
            "ignored": sum(1 for r in skipped if r == "not an image file name"),
            "empty": name in scan.empty_classes,
        })
    return rows


class CropDataset:
    """torch-style Dataset: augmentation (training only) then the shared `to_tensor`."""

    def __init__(self, crops: np.ndarray, labels: np.ndarray, crop_cfg: CropConfig, augmenter=None) -> None:
        self.crops, self.labels, self.crop_cfg, self.augmenter = crops, labels, crop_cfg, augmenter

    def __len__(self) -> int:
        return len(self.labels)

    def reseed(self, seed: int) -> None:
        """albumentations keeps its own generator; seed it so a run (and its resume) is reproducible."""
        if self.augmenter is not None:
            self.augmenter.set_random_seed(seed % (2**32))

    def __getitem__(self, index: int):
        from signcaps.preprocess import to_tensor

        crop = self.crops[index]
        if self.augmenter is not None:
            crop = self.augmenter(image=crop)["image"]
        return to_tensor(crop, self.crop_cfg), int(self.labels[index])
