"""Image-folder datasets: scanning, hand-crop cache, participant-aware splits, augmentation.

MediaPipe runs once per image and settings; the crops land in a cache file keyed by the
dataset contents and the crop/detection settings, so training, evaluation and every DDP rank
reuse them instead of re-detecting hands.
"""
from __future__ import annotations

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

from signcaps import inputs
from signcaps.config import CropConfig, DataConfig, DetectConfig
from signcaps.errors import UserError
from signcaps.preprocess import ImageReadError, crop_hand, read_image_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
CACHE_VERSION = 2  # 2: hand landmarks, handedness and hand masks beside the crops
# A dataset's folder of hands that sign none of its classes (MediaPipe Model Maker asks for one too);
# its images are negatives (label NEGATIVE), never a class of their own.
NONE_FOLDERS = ("none", "_none")
NEGATIVE = -1
NONE_CLASS = "none"  # the name of the explicit "no sign" output of a model trained with negatives.mode: class


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
    stretch_x: float = 1.0  # image widths are scaled by this before detection (undoes a squashed export)

    def label_name(self, label: int) -> str:
        return "none" if label == NEGATIVE else self.classes[label]


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
        from signcaps.landmarks import normalize_poses

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


natural_key = inputs.natural_key  # 'IMG_2' before 'IMG_10', class '10' after '9' (ASCII digits only)


def scan_folder(root: str | Path, classes: list[str] | None = None) -> FolderScan:
    """List the images of a one-folder-per-class dataset.

    `classes` fixes the class order (e.g. a model's classes); a folder that is not among them
    is a clear error rather than a silently wrong label. `root` may name a registered dataset
    (`digits`): its fetched copy (`datasets.resolve_root`).
    """
    from signcaps.datasets import resolve_root

    root = resolve_root(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    everything = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: natural_key(p.name))
    folders = [p for p in everything if p.name.lower() not in NONE_FOLDERS]
    if not folders:
        raise DatasetError(f"{root} has no class sub-folders (expected one folder per class, e.g. 0/ 1/ … 9/)")
    names = [p.name for p in folders]
    if classes is None:
        classes = names
    else:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise DatasetError(f"{root} has class folder(s) {unknown} that the model does not know "
                               f"(classes: {classes})")
    scan = FolderScan(root, list(classes), [])
    for folder in everything:
        label = classes.index(folder.name) if folder in folders else NEGATIVE
        images = _folder_images(folder, scan)
        if not images and label != NEGATIVE:
            scan.empty_classes.append(folder.name)
        scan.files += [(p, label) for p in images]
    if not any(label != NEGATIVE for _, label in scan.files):
        raise DatasetError(f"{root} holds no images")
    return scan


def _folder_images(folder: Path, scan: FolderScan) -> list[Path]:
    """The images under `folder`, in natural order; other files are recorded as ignored."""
    entries = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: natural_key(str(p)))
    scan.ignored += [(p, "not an image file name") for p in entries if p.suffix.lower() not in IMAGE_SUFFIXES]
    return [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]


def scan_negative_folder(root: str | Path, classes: tuple[str, ...] = (), stretch_x: float = 1.0,
                         signs: dict[str, int] | None = None, sign_classes: list[str] | None = None) -> FolderScan:
    """Every image in the chosen class folders of `root` (all of them when `classes` is empty), each
    labelled NEGATIVE: photos of other signs, which the model must answer with "none". `signs` maps
    further folders to class indices of `sign_classes`: photos of the same source that show a sign."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"negatives folder not found: {root}")
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: natural_key(p.name))
    if classes and not set(classes) & {p.name for p in folders}:
        raise DatasetError(f"negatives folder {root} has none of the class folders {list(classes)}")
    signs = signs or {}
    scan = FolderScan(root, list(sign_classes or []), [], stretch_x=stretch_x)
    for folder in folders:
        if folder.name in signs:
            scan.files += [(p, signs[folder.name]) for p in _folder_images(folder, scan)]
        elif (not classes and not signs) or folder.name in classes:
            scan.files += [(p, NEGATIVE) for p in _folder_images(folder, scan)]
    if not scan.files:
        raise DatasetError(f"negatives folder {root} holds no images")
    return scan


def fingerprint(scan: FolderScan) -> str:
    """Hash of every file's name, class and bytes: the identity of the training data.

    Content rather than timestamps, so a copied dataset keeps its cache and an exported
    model's fingerprint names the data, not the disk it was on.
    """
    from signcaps.outputs import file_digest

    digest = hashlib.sha256()
    for path, label in scan.files:
        try:  # in blocks; a file too large to be an image (read_image refuses it) counts by its size
            size = path.stat().st_size
            content = file_digest(path) if size <= inputs.MAX_IMAGE_BYTES else f"too large: {size} bytes"
        except OSError:
            content = "unreadable"
        digest.update(f"{path.relative_to(scan.root).as_posix()}|{scan.label_name(label)}|{content}\n".encode())
    if scan.stretch_x != 1.0:
        digest.update(f"stretch_x={scan.stretch_x:g}".encode())
    return digest.hexdigest()[:16]


def cache_path(data_cfg: DataConfig, scan: FolderScan, crop: CropConfig, detect: DetectConfig,
               hand_model: str | Path | None = None) -> Path:
    """The cache file of these crops: the data, the crop and detector settings, and which hand
    model found the hands (the lite one gives other landmarks, so it gets its own file)."""
    from signcaps.assets import hand_model_tag

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
    from signcaps.outputs import atomic_write

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
    from signcaps.scenes import hand_mask

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
    crops, labels, paths, fallback, skipped, points, left, masks = [], [], [], [], [], [], [], []
    for path, label in scan.files:
        rel = str(path.relative_to(scan.root))
        try:
            image = stretch(read_image_rgb(path), scan.stretch_x)
            hands = detector.detect(image)
        except ImageReadError as err:
            skipped.append((rel, f"unreadable: {err}"))
        except (RuntimeError, ValueError) as err:  # one odd file must not end the batch
            skipped.append((rel, f"unreadable: hand detector failed ({type(err).__name__})"))
        else:
            if hands or crop_cfg.fallback_whole_image:
                crop, marks, mask, is_left = crop_sample(image, hands[0] if hands else None, crop_cfg)
                crops.append(crop)
                points.append(marks)
                masks.append(mask)
                left.append(is_left)
                labels.append(label)
                paths.append(rel)
                fallback.append(not hands)
            else:
                skipped.append((rel, "no hand found"))
        if progress:
            progress(1)
    size = crop_cfg.input_size
    array = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return CropSet(scan.classes, array, np.array(labels, np.int64), paths, np.array(fallback, bool), skipped,
                   fingerprint(scan), np.array(points, np.float32).reshape(-1, 21, 3), np.array(left, bool),
                   np.stack(masks) if masks else np.zeros((0, size, size), np.uint8))


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


def retake_crops(crops: CropSet, scan: FolderScan, detector, crop_cfg: CropConfig, count: int,
                 progress: Callable[[int], None] | None = None) -> Retakes:
    """`count` re-shot copies of every cached photo, with MediaPipe run again on each copy.

    Seeded by the dataset fingerprint and the file, so a cache rebuilds to the same bytes.
    """
    from signcaps.landmarks import NUM_JOINTS
    from signcaps.scenes import hand_mask, random_retake

    n, size = len(crops), crop_cfg.input_size
    out = Retakes(np.zeros((n, count, size, size, 3), np.uint8), np.zeros((n, count, NUM_JOINTS, 3), np.float32),
                  np.zeros((n, count), bool), np.zeros((n, count), bool))
    for i, rel in enumerate(crops.paths):
        image = stretch(read_image_rgb(scan.root / rel), scan.stretch_x)
        mask = hand_mask(image, crops.points[i, :, :2])
        rng = np.random.default_rng(int(hashlib.sha256(f"{crops.fingerprint}/{rel}".encode()).hexdigest()[:8], 16))
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
    from signcaps.assets import resolve_hand_model
    from signcaps.hands import HandDetector
    from signcaps.progress import progress_bar

    label = f"re-shooting {data_cfg.retakes}x and detecting again"
    with HandDetector(resolve_hand_model(hand_model), detect_cfg, mode="image") as detector, \
            progress_bar(label, len(crops), enabled=show_progress) as advance:
        retakes = retake_crops(crops, scan, detector, crop_cfg, data_cfg.retakes, advance)
    from signcaps.outputs import atomic_write

    atomic_write(path, lambda tmp: np.savez(tmp, crops=retakes.crops, points=retakes.points, left=retakes.left,
                                            found=retakes.found))
    return retakes


# ---------------------------------------------------------------------------------- splits

_NUMBER = re.compile(r"([0-9]+)(?!.*[0-9])")  # ASCII digits: int() of "²" fails


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
            raise DatasetError(f"participant split needs numbered file names; {rel} has no number (use "
                               "split: stratified)")
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
    regex = re.compile(pattern)  # checked by config.CHECKS["data.group_pattern"] when the recipe was built
    names = []
    for rel in paths:
        match = regex.search(rel)
        if match is None:
            raise DatasetError(f"group_pattern {pattern!r} does not match {rel}")
        names.append(match.group(1) if match.groups() else match.group(0))
    lookup = {name: i for i, name in enumerate(sorted(set(names)))}
    return np.array([lookup[n] for n in names], np.int64)


# `signcaps collect` names every file <date>-<time>-<i>: one date-time per recording session.
RECORDING = re.compile(r"^(\d{8}-\d{6})-\d+$")
MIN_GROUPS = 3  # a grouped split needs a group for each of train, val and test


def recording_of(rel: str) -> str | None:
    """The recording a file of `signcaps collect` belongs to (its date-time stamp), else None."""
    match = RECORDING.match(Path(rel).stem)
    return match.group(1) if match else None


def split_indices(paths: list[str], labels: np.ndarray, cfg: DataConfig,
                  warn: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Deterministic train/val/test index arrays; grouped splits keep each group on one side.

    `participant` groups a user's own recordings (collect's file names) by recording and the
    digits dataset by signer. A split that cannot be grouped (stratified on recordings, names
    without participant or recording, fewer than 3 groups) falls back to, or stays, a split by
    image, and `warn` is told why: frames of one recording then sit on both sides and the test
    accuracy says little about a new recording. Negatives of the dataset's own `none/` folder are
    split like one more class.
    """
    warn = warn or (lambda _msg: None)
    rng = np.random.default_rng(cfg.split_seed)
    labels = np.where(labels == NEGATIVE, int(labels.max(initial=0)) + 1, labels)
    recordings = [recording_of(rel) for rel in paths]
    if cfg.split == "stratified":
        if any(recordings):
            warn("data.split=stratified puts frames of the same recording into train and test; the test "
                 "accuracy will flatter the model (data.split=participant groups them by recording)")
        return stratified_split(labels, cfg, rng)
    if cfg.split == "participant":
        groups = _participant_or_recording_groups(paths, labels, recordings)
        if groups is None:
            warn("file names carry neither recordings (collect's <date>-<time>-<i>) nor participant numbers: "
                 "splitting by image, so near-identical frames may sit in train and test (use "
                 "data.split=group with data.group_pattern to group them)")
            return stratified_split(labels, cfg, rng)
    elif cfg.split == "group":
        if not cfg.group_pattern:
            raise DatasetError("split: group needs data.group_pattern (a regex whose first group names the "
                               "participant)")
        groups = pattern_groups(paths, cfg.group_pattern)
    else:
        raise DatasetError(f"unknown split {cfg.split!r}; choose participant, stratified or group")
    count = len(np.unique(groups)) if len(groups) else 0
    if count < MIN_GROUPS:
        warn(f"only {count} recording(s)/participant(s) to split: none can be held out whole, so the split is "
             f"by image and the test accuracy will flatter the model; record at least {MIN_GROUPS} sessions")
        return stratified_split(labels, cfg, rng)
    return split_by_groups(groups, cfg, rng)


def _participant_or_recording_groups(paths: list[str], labels: np.ndarray,
                                     recordings: list[str | None]) -> np.ndarray | None:
    """Recordings where the names carry them, participant runs of numbered names for the rest;
    None when some names carry neither."""
    rest = [i for i, rec in enumerate(recordings) if rec is None]
    groups = np.zeros(len(paths), np.int64)
    stamps = sorted({rec for rec in recordings if rec is not None})
    for i, rec in enumerate(recordings):
        if rec is not None:
            groups[i] = stamps.index(rec)
    if rest:
        if any(_NUMBER.search(Path(paths[i]).stem) is None for i in rest):
            return None
        groups[rest] = participant_groups([paths[i] for i in rest], labels[rest]) + len(stamps)
    return groups


def stratified_split(labels: np.ndarray, cfg: DataConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(members) * cfg.test_fraction))
        n_val = int(round(len(members) * cfg.val_fraction))
        parts["test"] += members[:n_test].tolist()
        parts["val"] += members[n_test:n_test + n_val].tolist()
        parts["train"] += members[n_test + n_val:].tolist()
    return {k: np.array(sorted(v), np.int64) for k, v in parts.items()}


def split_record(cfg: DataConfig, paths: list[str], splits: dict[str, np.ndarray]) -> dict:
    """What a model keeps of the split it was trained on (checkpoint, then ONNX metadata): the
    settings and the held-out files, so `eval` and `calibrate` judge it on exactly those."""
    return {**split_settings(cfg),
            **{part: sorted(Path(paths[i]).as_posix() for i in splits[part]) for part in ("val", "test")}}


def split_settings(cfg: DataConfig) -> dict:
    return {"method": cfg.split, "group_pattern": cfg.group_pattern, "seed": cfg.split_seed,
            "val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction}


def stored_split(record: dict | None, paths: list[str]) -> dict[str, np.ndarray] | None:
    """`split_record`'s split applied to `paths` (relative to the dataset root): train is every
    other file. None without a record or when the record lists none of these files."""
    if not record or not isinstance(record.get("test"), list):
        return None
    held = {part: set(record.get(part) or []) for part in ("val", "test")}
    names = [Path(p).as_posix() for p in paths]
    if not any(n in held["test"] or n in held["val"] for n in names):
        return None
    out = {part: np.array([i for i, n in enumerate(names) if n in held[part]], np.int64) for part in ("val", "test")}
    out["train"] = np.array([i for i, n in enumerate(names) if n not in held["test"] and n not in held["val"]],
                            np.int64)
    return out


def split_by_groups(groups: np.ndarray, cfg: DataConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    order = rng.permutation(np.unique(groups))
    total = len(groups)
    sizes = np.bincount(groups)
    assign, filled = {}, 0
    for g in order:
        frac = filled / total
        assign[g] = ("test" if frac < cfg.test_fraction
                     else "val" if frac < cfg.test_fraction + cfg.val_fraction else "train")
        filled += sizes[g]
    names = np.array([assign[g] for g in groups])
    return {k: np.flatnonzero(names == k) for k in ("train", "val", "test")}


# ------------------------------------------------------------------------------- prepare

def prepare(root: str | Path, data_cfg: DataConfig, crop_cfg: CropConfig, detect_cfg: DetectConfig,
            hand_model: str | Path | None = None, classes: list[str] | None = None,
            refresh: bool = False, show_progress: bool = True) -> tuple[CropSet, FolderScan, Path]:
    """Crops of every image under `root`, from the cache when the same settings ran before
    (with `data.retakes` re-shot copies of each, cached beside them)."""
    scan = scan_folder(root, classes)
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


def negative_subsets(root: str | Path) -> dict[str, Path]:
    """Split name -> folder of an external negatives dataset: its own train/ valid (val)/ test/ folders
    (the ASL letters keep every original photo on one side), or the whole folder for training. `root`
    may name a registered dataset (`asl-letters`): its fetched copy."""
    from signcaps.datasets import resolve_root

    root = resolve_root(root)
    found = {split: root / name for split, names in (("train", ("train",)), ("val", ("valid", "val")),
                                                   ("test", ("test",)))
             for name in names if (root / name).is_dir()}
    return found or {"train": root}


def missing_signs(neg_cfg, classes: list[str]) -> list[str] | None:
    """The classes `negatives.signs` names that `classes` lacks ([] when the external negatives fit this
    sign set); None when there are no external negatives to use."""
    if neg_cfg.mode == "off" or not neg_cfg.root:
        return None
    return sorted({str(c) for c in neg_cfg.signs.values()} - set(classes))


def prepare_negatives(neg_cfg, classes: list[str], data_cfg: DataConfig, crop_cfg: CropConfig,
                      detect_cfg: DetectConfig, hand_model: str | Path | None = None, show_progress: bool = True,
                      warn: Callable[[str], None] | None = None) -> dict[str, CropSet]:
    """Crops of the external negatives (`negatives.root`) per split, labelled NEGATIVE (and the
    `negatives.signs` folders with their class); {} without a root. Paths are prefixed with the
    split folder's name, so they stay apart from the dataset's own.

    External negatives are made for one sign set: the default recipe's ASL letters are no digit,
    but a user's own signs may be letters. When the dataset lacks a class that `negatives.signs`
    names, they are left out (`warn` says so) and only the dataset's none/ folder and the synthetic
    negatives remain."""
    unknown = missing_signs(neg_cfg, classes)
    if unknown is None:
        return {}
    if unknown:
        if warn:
            warn(f"negatives.root {neg_cfg.root} was made for signs {sorted(map(str, neg_cfg.signs.values()))}, and "
                 f"this dataset has no {', '.join(unknown)}: its photos are left out of the negatives (set "
                 f"negatives.root to photos of hands that sign none of your classes, or put them in a none/ folder)")
        return {}
    signs = {folder: classes.index(str(name)) for folder, name in neg_cfg.signs.items()}
    out = {}
    for split, folder in negative_subsets(neg_cfg.root).items():
        scan = scan_negative_folder(folder, tuple(neg_cfg.classes), neg_cfg.stretch_x, signs, classes)
        crops, _ = crops_of(scan, data_cfg, crop_cfg, detect_cfg, hand_model, show_progress=show_progress)
        crops.paths = [f"{folder.name}/{p}" for p in crops.paths]
        out[split] = crops
    return out


def _cached_crops(path: Path, refresh: bool) -> CropSet | None:
    if path.is_file() and not refresh:
        try:
            return load_cache(path)
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error):
            pass  # a damaged (truncated, half-written) cache is rebuilt
    return None


def _detect_all(scan: FolderScan, path: Path, crop_cfg: CropConfig, detect_cfg: DetectConfig,
                hand_model: str | Path | None, show_progress: bool) -> CropSet:
    from signcaps.assets import resolve_hand_model
    from signcaps.hands import HandDetector
    from signcaps.outputs import ensure_writable_dir
    from signcaps.progress import progress_bar

    ensure_writable_dir(path.parent, "the crop cache folder (data.cache_dir)", inputs=[scan.root])  # before the work
    model_path = resolve_hand_model(hand_model)
    with HandDetector(model_path, detect_cfg, mode="image") as detector, \
            progress_bar(f"cropping hands in {scan.root.name}", len(scan.files), enabled=show_progress) as advance:
        crops = detect_and_crop(scan, detector, crop_cfg, advance)
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


Synthesize = Callable[[np.ndarray, np.random.Generator], "np.ndarray | None"]  # a sign's pose -> a negative's


class CropDataset:
    """torch-style Dataset of (image tensor, pose, label, has image): augmentation (training only),
    then the shared `to_tensor` and `normalize_pose`, exactly what inference computes.

    With `synthesize` (`negatives.SyntheticNegatives`), `synthetic` x (number of signs) more items
    follow the real ones: each a sign's landmarks edited into a hand that signs nothing, drawn
    afresh every epoch from the seeded generator, labelled NEGATIVE and without a crop (has image
    False: no pixels show that hand, so the image branch must not learn from them).
    """

    def __init__(self, crops: CropSet, crop_cfg: CropConfig, augmenter=None,
                 kinds: tuple[str, ...] = ("image", "pose"), synthesize: Synthesize | None = None,
                 synthetic: float = 0.0) -> None:
        self.crops, self.labels, self.crop_cfg, self.augmenter = crops.crops, crops.labels, crop_cfg, augmenter
        self.with_image = "image" in kinds  # pose-only models skip the pixel work they would never read
        self.masks = crops.masks
        self.retakes = crops.retakes
        self.poses = (crops.poses(crop_cfg.mirror_left) if crops.points is not None
                      else np.zeros((len(crops), 21, 3), np.float32))
        self.signs = np.flatnonzero(self.labels != NEGATIVE)
        self.synthesize = synthesize
        self.synthetic = int(round(len(self.signs) * synthetic)) if synthesize is not None else 0
        self.blank = np.zeros((crop_cfg.channels, crop_cfg.input_size, crop_cfg.input_size) if self.with_image
                              else (1, 1, 1), np.float32)

    def __len__(self) -> int:
        return len(self.labels) + self.synthetic

    def reseed(self, seed: int) -> None:
        """The augmenter keeps its own generators; seed them so a run (and its resume) is reproducible."""
        if self.augmenter is not None:
            self.augmenter.reseed(seed)

    def __getitem__(self, index: int):
        from signcaps.augment import Sample
        from signcaps.preprocess import to_tensor

        if index >= len(self.labels):
            return self._synthetic(index - len(self.labels))
        crop, pose = self.crops[index], self.poses[index]
        mask = self.masks[index] if self.masks is not None else None
        if self.augmenter is not None and self.retakes is not None:
            crop, pose, mask = self._maybe_retake(index, crop, pose, mask)
        if self.augmenter is not None:
            augmented = self.augmenter(Sample(crop, pose, mask), self.with_image)
            crop, pose = augmented.crop, augmented.pose
        image = to_tensor(crop, self.crop_cfg) if self.with_image else np.zeros((1, 1, 1), np.float32)
        return image, np.asarray(pose, np.float32), int(self.labels[index]), True

    def _synthetic(self, k: int):
        """The k-th synthetic negative of this epoch: an edit of sign k (mod the signs), or of the next
        signs when no edit of it keeps clear of every class; pose-augmented like a real hand."""
        from signcaps.augment import Sample

        rng = self.augmenter.rng if self.augmenter is not None else np.random.default_rng(k)
        pose = None
        for step in range(8):
            pose = self.synthesize(self.poses[self.signs[(k + step) % len(self.signs)]], rng)
            if pose is not None:
                break
        if pose is None:  # nothing kept: an empty hand, which every capsule answers with length 0
            pose = np.zeros((21, 3), np.float32)
        elif self.augmenter is not None:
            pose = self.augmenter(Sample(np.zeros((1, 1, 3), np.uint8), pose, None), False).pose
        return self.blank, np.asarray(pose, np.float32), NEGATIVE, False

    def _maybe_retake(self, index: int, crop: np.ndarray, pose: np.ndarray, mask: np.ndarray | None):
        """With probability `augment.retake_p`, one of the photo's re-shot copies where MediaPipe
        found the hand: its crop and its landmarks, as that worse camera gave them (no mask: the
        copy's background is already another one, or the same wall)."""
        from signcaps.landmarks import normalize_pose

        rng = self.augmenter.rng
        found = np.flatnonzero(self.retakes.found[index])
        if not len(found) or rng.random() >= self.augmenter.cfg.retake_p:
            return crop, pose, mask
        r = int(rng.choice(found))
        retake_pose = normalize_pose(self.retakes.points[index, r], bool(self.retakes.left[index, r]),
                                     self.crop_cfg.mirror_left)
        return self.retakes.crops[index, r], retake_pose, None
