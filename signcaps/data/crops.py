"""Hand crops of a scanned dataset: MediaPipe runs once per image and settings.

The crops land in a cache file keyed by the dataset contents and the crop/detection settings,
so training, evaluation and every DDP rank reuse them instead of re-detecting hands.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from signcaps.data.folders import (
    NEGATIVE,
    NONE_FOLDERS,
    DatasetError,
    FolderScan,
    fingerprint,
    missing_signs,
    negative_folders,
    negative_subsets,
    scan_folder,
    scan_negative_folder,
)
from signcaps.hands.preprocess import ImageReadError, crop_hand, read_image_rgb
from signcaps.util.config import CropConfig, DataConfig, DetectConfig
from signcaps.util.inputs import natural_key

CACHE_VERSION = 2  # 2: hand landmarks, handedness and hand masks beside the crops


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
    points: np.ndarray | None = None  # (N, 21, 3) float32 landmarks in image pixels (x, y, z * width)
    left: np.ndarray | None = None  # (N,) bool: MediaPipe called the hand a left one
    masks: np.ndarray | None = None  # (N, S, S) uint8 hand mask of each crop (255 = hand)
    retakes: "Retakes | None" = None  # re-shot copies (data.retakes), for augment.retake_p

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def negative(self) -> np.ndarray:
        """(N,) bool: hands that sign none of the classes."""
        return self.labels == NEGATIVE

    def subset(self, index: np.ndarray) -> "CropSet":
        def pick(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[index]

        return CropSet(self.classes, self.crops[index], self.labels[index], [self.paths[i] for i in index],
                       self.fallback[index], [], self.fingerprint, pick(self.points), pick(self.left), pick(self.masks),
                       None if self.retakes is None else self.retakes.subset(index))

    def poses(self, mirror_left: bool) -> np.ndarray:
        """(N, 21, 3) normalised poses through `landmarks.normalize_poses` (the one pose path)."""
        from signcaps.hands.landmarks import normalize_poses

        if self.points is None or self.left is None:
            raise DatasetError("this crop cache has no hand landmarks; rebuild it with `signcaps data "
                               "prepare --refresh`")
        return normalize_poses(self.points, self.left, mirror_left)


def concat_crops(parts: list[CropSet]) -> CropSet:
    """One CropSet of several with the same classes and crop size (signs and negatives together).

    Parts without re-shot copies get empty ones (never found), so `augment.retake_p` only ever
    picks a real copy; the fingerprint names every part.
    """
    parts = [p for p in parts if len(p)] or parts[:1]
    first = parts[0]
    counts = {p.retakes.found.shape[1] for p in parts if p.retakes is not None}
    retakes = None
    if counts:
        count = max(counts)
        retakes = Retakes(*(np.concatenate(arrays) for arrays in zip(*(
            _retake_arrays(p, count) for p in parts))))
    fingerprint = first.fingerprint if len(parts) == 1 else hashlib.sha256(
        "+".join(p.fingerprint for p in parts).encode()).hexdigest()[:16]
    return CropSet(first.classes, np.concatenate([p.crops for p in parts]), np.concatenate([p.labels for p in parts]),
                   [path for p in parts for path in p.paths], np.concatenate([p.fallback for p in parts]),
                   [s for p in parts for s in p.skipped], fingerprint,
                   np.concatenate([p.points for p in parts]), np.concatenate([p.left for p in parts]),
                   np.concatenate([p.masks for p in parts]), retakes)


def _retake_arrays(part: CropSet, count: int) -> tuple[np.ndarray, ...]:
    if part.retakes is not None and part.retakes.found.shape[1] == count:
        r = part.retakes
        return r.crops, r.points, r.left, r.found
    n, size = len(part), part.crops.shape[1]
    return (np.zeros((n, count, size, size, 3), np.uint8), np.zeros((n, count, 21, 3), np.float32),
            np.zeros((n, count), bool), np.zeros((n, count), bool))


@dataclass
class Retakes:
    """Each photo re-shot `count` times (`scenes.random_retake`) and its hand detected again."""

    crops: np.ndarray  # (N, R, S, S, 3) uint8
    points: np.ndarray  # (N, R, 21, 3) float32
    left: np.ndarray  # (N, R) bool
    found: np.ndarray  # (N, R) bool: MediaPipe found the hand on that copy

    def subset(self, index: np.ndarray) -> "Retakes":
        return Retakes(self.crops[index], self.points[index], self.left[index], self.found[index])


def cache_path(data_cfg: DataConfig, scan: FolderScan, crop: CropConfig, detect: DetectConfig,
               hand_model: str | Path | None = None) -> Path:
    """The cache file of these crops: the data, the crop and detector settings, and which hand
    model found the hands (the lite one gives other landmarks, so it gets its own file)."""
    from signcaps.util.assets import hand_model_tag

    settings = (f"{crop.cache_key}-d{detect.min_detection_confidence:g}-p{detect.min_presence_confidence:g}"
                f"-c{detect.context_pad:g}-r{detect.retry_pad:g}{hand_model_tag(hand_model)}")
    return Path(data_cfg.cache_dir) / f"{scan.root.name}-{fingerprint(scan)}-{settings}-v{CACHE_VERSION}.npz"


def load_cache(path: Path) -> CropSet:
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        return CropSet(meta["classes"], npz["crops"], npz["labels"].astype(np.int64), meta["paths"],
                       npz["fallback"].astype(bool), [tuple(s) for s in meta["skipped"]], meta["fingerprint"],
                       npz["points"].astype(np.float32), npz["left"].astype(bool), npz["masks"])


def save_cache(crops: CropSet, path: Path) -> None:
    """Atomic write: an interrupted `prepare` never leaves a half cache behind."""
    from signcaps.util.outputs import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"classes": crops.classes, "paths": crops.paths, "skipped": crops.skipped, "fingerprint": crops.fingerprint}
    atomic_write(path, lambda tmp: np.savez(tmp, crops=crops.crops, labels=crops.labels, fallback=crops.fallback,
                                            points=crops.points, left=crops.left, masks=crops.masks,
                                            meta=np.array(json.dumps(meta))))


def crop_sample(image: np.ndarray, hand, crop_cfg: CropConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(crop, points, mask crop, left) of one image's hand, or of its centre square when `hand` is None.

    The mask goes through the same `crop_hand` as the pixels, so it stays aligned with the
    crop (mirroring included) whatever the crop settings.
    """
    from signcaps.hands.scenes import hand_mask

    if hand is None:
        size = crop_cfg.input_size
        crop = crop_hand(image, None, False, crop_cfg)
        return crop, np.zeros((21, 3), np.float32), np.full((size, size), 255, np.uint8), False
    crop = crop_hand(image, hand.landmarks, hand.is_left, crop_cfg)
    mask = (hand_mask(image, hand.landmarks) * 255 + 0.5).astype(np.uint8)
    mask_crop = crop_hand(np.repeat(mask[..., None], 3, axis=2), hand.landmarks, hand.is_left, crop_cfg)[..., 0]
    return crop, hand.points, mask_crop, hand.is_left


def detect_and_crop(scan: FolderScan, detector, crop_cfg: CropConfig,
                    progress: Callable[[int], None] | None = None) -> CropSet:
    """Run the hand detector once per image; unreadable and hand-less files are recorded, not fatal."""
    return _crop_set(scan, [crop_files(detector, scan.files, scan.root, scan.stretch_x, crop_cfg, progress)], crop_cfg)


@dataclass
class CroppedFiles:
    """What the detector made of some of a scan's files, in file order (one part of a CropSet)."""

    crops: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    paths: list = field(default_factory=list)
    fallback: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    points: list = field(default_factory=list)
    left: list = field(default_factory=list)
    masks: list = field(default_factory=list)


def crop_files(detector, files: list[tuple[Path, int]], root: Path, stretch_x: float, crop_cfg: CropConfig,
               progress: Callable[[int], None] | None = None) -> CroppedFiles:
    """The crop, landmarks and mask of each file's hand (or its skip reason)."""
    out = CroppedFiles()
    for path, label in files:
        rel = str(path.relative_to(root))
        try:
            image = stretch(read_image_rgb(path), stretch_x)
            hands = detector.detect(image)
        except ImageReadError as err:
            out.skipped.append((rel, f"unreadable: {err}"))
        except (RuntimeError, ValueError) as err:  # one odd file must not end the batch
            out.skipped.append((rel, f"unreadable: hand detector failed ({type(err).__name__})"))
        else:
            if hands or crop_cfg.fallback_whole_image:
                crop, marks, mask, is_left = crop_sample(image, hands[0] if hands else None, crop_cfg)
                for column, value in ((out.crops, crop), (out.points, marks), (out.masks, mask), (out.left, is_left),
                                      (out.labels, label), (out.paths, rel), (out.fallback, not hands)):
                    column.append(value)
            else:
                out.skipped.append((rel, "no hand found"))
        if progress:
            progress(1)
    return out


def _crop_set(scan: FolderScan, parts: list[CroppedFiles], crop_cfg: CropConfig) -> CropSet:
    def column(name: str) -> list:
        return [value for part in parts for value in getattr(part, name)]

    size = crop_cfg.input_size
    crops, masks = column("crops"), column("masks")
    return CropSet(scan.classes, np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
                   np.array(column("labels"), np.int64), column("paths"), np.array(column("fallback"), bool),
                   column("skipped"), fingerprint(scan), np.array(column("points"), np.float32).reshape(-1, 21, 3),
                   np.array(column("left"), bool), np.stack(masks) if masks else np.zeros((0, size, size), np.uint8))


def stretch(image: np.ndarray, factor: float) -> np.ndarray:
    """`image` with its width scaled by `factor` (1 = unchanged): photos exported squashed to squares."""
    if factor == 1.0:
        return image
    import cv2

    width = max(1, round(image.shape[1] * factor))
    return cv2.resize(image, (width, image.shape[0]), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


RETAKE_VERSION = 1


def retake_path(main_cache: Path, count: int) -> Path:
    return main_cache.with_name(f"{main_cache.stem}-retakes{count}-v{RETAKE_VERSION}.npz")


def retake_photos(detector, photos: list[tuple[str, np.ndarray]], root: Path, stretch_x: float, seed_text: str,
                  crop_cfg: CropConfig, count: int, progress: Callable[[int], None] | None = None) -> Retakes:
    """`count` re-shot copies of some cached photos (relative path, landmarks), MediaPipe run again on each.

    Each photo's copies are seeded by `seed_text` (the dataset fingerprint) and its path, so a cache
    rebuilds to the same bytes, in one process or in chunks on several.
    """
    from signcaps.hands.landmarks import NUM_JOINTS
    from signcaps.hands.scenes import hand_mask, random_retake

    n, size = len(photos), crop_cfg.input_size
    out = Retakes(np.zeros((n, count, size, size, 3), np.uint8), np.zeros((n, count, NUM_JOINTS, 3), np.float32),
                  np.zeros((n, count), bool), np.zeros((n, count), bool))
    for i, (rel, points) in enumerate(photos):
        image = stretch(read_image_rgb(root / rel), stretch_x)
        mask = hand_mask(image, points[:, :2])
        rng = np.random.default_rng(int(hashlib.sha256(os.fsencode(f"{seed_text}/{rel}")).hexdigest()[:8], 16))
        for r in range(count):
            shot = random_retake(image, mask, rng)
            hands = detector.detect(shot)
            if hands:
                try:
                    out.crops[i, r] = crop_hand(shot, hands[0].landmarks, hands[0].is_left, crop_cfg)
                except ValueError:
                    continue
                out.points[i, r], out.left[i, r], out.found[i, r] = hands[0].points, hands[0].is_left, True
        if progress:
            progress(1)
    return out


def load_or_make_retakes(crops: CropSet, scan: FolderScan, main_cache: Path, data_cfg: DataConfig,
                         crop_cfg: CropConfig, detect_cfg: DetectConfig, hand_model, show_progress: bool) -> Retakes:
    path = retake_path(main_cache, data_cfg.retakes)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return Retakes(npz["crops"], npz["points"], npz["left"], npz["found"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # a damaged cache is rebuilt below
    from signcaps.data.parallel import detect_chunks
    from signcaps.util.assets import resolve_hand_model
    from signcaps.util.progress import progress_bar

    label = f"re-shooting {data_cfg.retakes}x and detecting again"
    work = partial(retake_photos, root=scan.root, stretch_x=scan.stretch_x, seed_text=crops.fingerprint,
                   crop_cfg=crop_cfg, count=data_cfg.retakes)
    with progress_bar(label, len(crops), enabled=show_progress) as advance:
        parts = detect_chunks(work, list(zip(crops.paths, crops.points)), resolve_hand_model(hand_model), detect_cfg,
                              progress=advance)
    parts = parts or [work(None, [])]  # no photo: empty arrays of the right shapes
    retakes = Retakes(*(np.concatenate(arrays) for arrays in zip(*((r.crops, r.points, r.left, r.found)
                                                                     for r in parts))))
    from signcaps.util.outputs import atomic_write

    atomic_write(path, lambda tmp: np.savez(tmp, crops=retakes.crops, points=retakes.points, left=retakes.left,
                                            found=retakes.found))
    return retakes


# ------------------------------------------------------------------------------- prepare


def prepare(root: str | Path, data_cfg: DataConfig, crop_cfg: CropConfig, detect_cfg: DetectConfig,
            hand_model: str | Path | None = None, classes: list[str] | None = None,
            refresh: bool = False, show_progress: bool = True) -> tuple[CropSet, FolderScan, Path]:
    """Crops of every image under `root`, from the cache when the same settings ran before
    (with `data.retakes` re-shot copies of each, cached beside them)."""
    scan = scan_folder(root, classes, data_cfg.stretch_x)
    crops, path = crops_of(scan, data_cfg, crop_cfg, detect_cfg, hand_model, refresh, show_progress)
    if data_cfg.retakes > 0:
        crops.retakes = load_or_make_retakes(crops, scan, path, data_cfg, crop_cfg, detect_cfg, hand_model,
                                             show_progress)
    return crops, scan, path


def crops_of(scan: FolderScan, data_cfg: DataConfig, crop_cfg: CropConfig, detect_cfg: DetectConfig,
             hand_model: str | Path | None = None, refresh: bool = False,
             show_progress: bool = True) -> tuple[CropSet, Path]:
    """The crops of a scanned folder: from the cache when the same settings ran before, else detected now."""
    path = cache_path(data_cfg, scan, crop_cfg, detect_cfg, hand_model)
    crops = _cached_crops(path, refresh)
    if crops is None:
        crops = _detect_all(scan, path, crop_cfg, detect_cfg, hand_model, show_progress)
    return crops, path


def prepare_negatives(neg_cfg, classes: list[str], data_cfg: DataConfig, crop_cfg: CropConfig,
                      detect_cfg: DetectConfig, hand_model: str | Path | None = None, show_progress: bool = True,
                      warn: Callable[[str], None] | None = None) -> dict[str, CropSet]:
    """Crops of the external negatives (`negatives.root`) per split, labelled NEGATIVE (and the
    `negatives.signs` folders with their class); {} without a root. Paths are prefixed with the
    split folder's name, so they stay apart from the dataset's own.

    External negatives are made for one sign set: the default recipe's ASL letters are no digit, and
    its letters V, W, F, O are the digits 2, 6, 9, 0 (`negatives.signs`). A user's own signs are other
    signs: when the dataset lacks a class that `negatives.signs` names, every letter the recipe names
    (`negatives.classes`, and the `signs` folders of classes the dataset lacks) that is none of the
    dataset's classes is a negative, and `warn` says which: without photos of other real hands, a small
    custom model accepted L as A at 0.74 (issue 25). The `signs` folders of classes the dataset has stay
    those signs; the dataset's own none/ folder and the synthetic negatives stay as they are."""
    unknown = missing_signs(neg_cfg, classes)
    if unknown is None:
        return {}
    subsets = installed_negatives(neg_cfg.root, warn)
    if subsets is None:
        return {}
    folders, signs = negative_folders(neg_cfg, classes)
    if unknown:
        if warn:
            warn(f"negatives.root {neg_cfg.root} was made for the digits ({', '.join(unknown)} are not among your "
                 f"classes): its photos of {', '.join(folders)} train as hands that sign none of your classes "
                 f"(set negatives.classes to choose others, negatives.root=null to leave them out)")
        if not folders and not signs:
            return {}
    out = {}
    for split, folder in subsets.items():
        scan = scan_negative_folder(folder, folders, neg_cfg.stretch_x, signs, classes)
        crops, _ = crops_of(scan, data_cfg, crop_cfg, detect_cfg, hand_model, show_progress=show_progress)
        crops.paths = [f"{folder.name}/{p}" for p in crops.paths]
        out[split] = crops
    return out


def joined_classes(join_cfg, classes: list[str]) -> list[str]:
    """The vocabulary with a joined sign set (`data.join`): the dataset's classes, then each joined
    folder that is no handshape of theirs (`join.same`), in natural order."""
    if not join_cfg.root:
        return list(classes)
    from signcaps.data.datasets import resolve_root
    from signcaps.data.folders import split_layout

    root = resolve_root(join_cfg.root)
    if not root.is_dir():
        raise DatasetError(f"data.join.root not found: {root}")
    unknown = sorted({str(c) for c in join_cfg.same.values()} - set(classes))
    if unknown:
        raise DatasetError(f"data.join.same names {', '.join(unknown)}, which the dataset's classes "
                           f"({', '.join(classes)}) lack")
    names = {p.name for s in (split_layout(root) or [root]) for p in s.iterdir()
             if p.is_dir() and not p.name.startswith(".") and p.name.lower() not in NONE_FOLDERS}
    extra = sorted((n for n in names - set(join_cfg.same) if n not in classes), key=natural_key)
    return [*classes, *extra]


def prepare_joined(join_cfg, classes: list[str], data_cfg: DataConfig, crop_cfg: CropConfig,
                   detect_cfg: DetectConfig, hand_model: str | Path | None = None,
                   show_progress: bool = True) -> dict[str, CropSet]:
    """Crops of the joined sign set per split of its own (train/ valid/ test/, or all for training),
    labelled in the joint vocabulary `classes` (`joined_classes`), with `data.retakes` re-shot copies
    like the dataset's. Paths are prefixed with the split folder's name, as the negatives' are."""
    if not join_cfg.root:
        return {}
    from signcaps.data.datasets import known_stretch

    stretch = join_cfg.stretch_x if join_cfg.stretch_x is not None else known_stretch(join_cfg.root)
    out = {}
    for split, folder in negative_subsets(join_cfg.root).items():
        labels = {p.name: classes.index(str(join_cfg.same.get(p.name, p.name))) for p in folder.iterdir()
                  if p.is_dir() and str(join_cfg.same.get(p.name, p.name)) in classes}
        scan = scan_negative_folder(folder, (), stretch, labels, classes)
        crops, path = crops_of(scan, data_cfg, crop_cfg, detect_cfg, hand_model, show_progress=show_progress)
        if data_cfg.retakes > 0:
            crops.retakes = load_or_make_retakes(crops, scan, path, data_cfg, crop_cfg, detect_cfg, hand_model,
                                                 show_progress)
        crops.paths = [f"{folder.name}/{p}" for p in crops.paths]
        out[split] = dataclasses.replace(crops, classes=list(classes))
    return out


def installed_negatives(root: str, warn: Callable[[str], None] | None = None) -> dict[str, Path] | None:
    """`negative_subsets` of `negatives.root`, or None (and one warning) when it names a registered dataset
    that is not installed: a user's own folder trains without the default recipe's letters rather than
    fail for a dataset they never asked for (issue 29); a folder path that is not there stays an error."""
    from signcaps.data.datasets import DatasetNotInstalled, data_home, dataset_key

    try:
        return negative_subsets(root)
    except DatasetNotInstalled:
        if warn:
            warn(f"negatives.root {root} (dataset {dataset_key(root)}) is not installed in {data_home()}: training "
                 f"without its photos as negatives (your none/ folder and the synthetic hands still teach \"none\"); "
                 f"`signcaps data fetch {dataset_key(root)}` adds them, --set negatives.root=null silences this")
        return None


def _cached_crops(path: Path, refresh: bool) -> CropSet | None:
    if path.is_file() and not refresh:
        try:
            return load_cache(path)
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error):
            pass  # a damaged (truncated, half-written) cache is rebuilt
    return None


def _detect_all(scan: FolderScan, path: Path, crop_cfg: CropConfig, detect_cfg: DetectConfig,
                hand_model: str | Path | None, show_progress: bool) -> CropSet:
    from signcaps.data.parallel import detect_chunks
    from signcaps.util.assets import resolve_hand_model
    from signcaps.util.outputs import check_output_file, ensure_writable_dir
    from signcaps.util.progress import progress_bar

    ensure_writable_dir(path.parent, "the crop cache folder (data.cache_dir)", inputs=[scan.root])  # before the work
    check_output_file(path, "the crop cache")  # a FIFO or device under the cache's name: refused now, not at the end
    model_path = resolve_hand_model(hand_model)
    work = partial(crop_files, root=scan.root, stretch_x=scan.stretch_x, crop_cfg=crop_cfg)
    with progress_bar(f"cropping hands in {scan.root.name}", len(scan.files), enabled=show_progress) as advance:
        parts = detect_chunks(work, scan.files, model_path, detect_cfg, progress=advance)
    crops = _crop_set(scan, parts, crop_cfg)
    crops.skipped = [(str(p.relative_to(scan.root)), r) for p, r in scan.ignored] + crops.skipped
    save_cache(crops, path)
    return crops


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
    negatives = sum(1 for _, label in scan.files if label == NEGATIVE)
    if negatives:
        skipped = [r for p, r in crops.skipped if Path(p).parts[0].lower() in NONE_FOLDERS]
        rows.append({"class": "(none: negatives)", "images": negatives,
                     "hands": int((crops.negative & ~crops.fallback).sum()),
                     "fallbacks": int((crops.negative & crops.fallback).sum()),
                     "no_hand": sum(1 for r in skipped if r == "no hand found"),
                     "unreadable": sum(1 for r in skipped if r.startswith("unreadable")),
                     "ignored": sum(1 for r in skipped if r == "not an image file name"), "empty": False})
    return rows
