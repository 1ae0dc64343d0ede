"""Image-folder datasets on disk: one folder per class (plus `none/` for hands that sign none),
scanned in natural order and fingerprinted by content, torch-free."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from signcaps.util import inputs
from signcaps.util.errors import UserError
from signcaps.util.inputs import natural_key  # 'IMG_2' before 'IMG_10' (ASCII digits only)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
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


# A dataset already split by its publisher: train/ valid/ test/ folders, each with one folder per class
# (a Roboflow or Kaggle export, the ASL letters). Its split is kept as published (`split_of`).
SPLIT_FOLDERS = {"train": "train", "valid": "val", "val": "val", "test": "test"}


def split_layout(root: Path) -> list[Path] | None:
    """The split folders of a `train/ valid/ test/<class>/` dataset (None for a plain class-folder one):
    a train/ folder and a valid/ (val/) or test/ one, each holding only class folders."""
    names = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    splits = [names[n] for n in SPLIT_FOLDERS if n in names]
    if "train" not in names or len(splits) < 2 or len(splits) != len(names):
        return None
    if not all(any(c.is_dir() for c in s.iterdir()) for s in splits):
        return None
    return splits


def split_of(rel: str | Path) -> str | None:
    """"train", "val" or "test" for a file of a split-layout dataset (its first folder), else None."""
    parts = Path(rel).parts
    return SPLIT_FOLDERS.get(parts[0]) if len(parts) >= 3 else None


def scan_folder(root: str | Path, classes: list[str] | None = None, stretch_x: float | None = None) -> FolderScan:
    """List the images of a one-folder-per-class dataset (or of one split into train/ valid/ test/
    folders of class folders, whose split `splits.split_indices` keeps).

    `classes` fixes the class order (e.g. a model's classes); a folder that is not among them
    is a clear error rather than a silently wrong label. `root` may name a registered dataset
    (`digits`): its fetched copy (`datasets.resolve_root`). `stretch_x` None: the registered
    dataset's own (the letters were squashed), else 1.
    """
    from signcaps.data.datasets import known_stretch, resolve_root

    if stretch_x is None:
        stretch_x = known_stretch(root)
    root = resolve_root(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    splits = split_layout(root) or [root]
    everything = sorted((p for s in splits for p in s.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: (natural_key(p.name), str(p)))
    folders = [p for p in everything if p.name.lower() not in NONE_FOLDERS]
    if not folders:
        raise DatasetError(f"{root} has no class sub-folders (expected one folder per class, e.g. 0/ 1/ … 9/)")
    names = list(dict.fromkeys(p.name for p in folders))
    if classes is None:
        classes = names
    else:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise DatasetError(f"{root} has class folder(s) {unknown} that the model does not know "
                               f"(classes: {classes})")
    scan = FolderScan(root, list(classes), [], stretch_x=stretch_x)
    for folder in everything:
        label = classes.index(folder.name) if folder in folders else NEGATIVE
        images = _folder_images(folder, scan)
        if not images and label != NEGATIVE and folder.name not in scan.empty_classes:
            scan.empty_classes.append(folder.name)
        scan.files += [(p, label) for p in images]
    if len(splits) > 1:  # a class empty in one split but not in another is not empty
        scan.empty_classes = [c for c in scan.empty_classes if not any(
            label == classes.index(c) for _, label in scan.files)]
        scan.files.sort(key=lambda item: natural_key(str(item[0])))
    if not any(label != NEGATIVE for _, label in scan.files):
        raise DatasetError(f"{root} holds no images")
    return scan



def check_class_counts(root: str | Path, classes: list[str], counts: list[int], why: str,
                       warn: Callable[[str], None] | None, known_empty: tuple[str, ...] = ()) -> None:
    """Before training: a model needs at least two classes with examples (else there is nothing to tell
    apart: stopped in one line); each class left without examples is warned about, since the model
    gets an output for it that it can never learn. `known_empty`: already warned about."""
    empty = [c for c, n in zip(classes, counts) if n == 0]
    if len(classes) - len(empty) < 2:
        have = [c for c, n in zip(classes, counts) if n]
        raise DatasetError(f"{root} has {len(have)} class(es) with usable images ({', '.join(have) or 'none'}"
                           f"{'; ' + ', '.join(empty) + ' ' + why if empty else ''}): a model needs at least two "
                           "classes to tell apart")
    fresh = [c for c in empty if c not in known_empty]
    if fresh and warn is not None:
        warn(f"{len(fresh)} class(es) of {root} {why}: {', '.join(fresh)}; the model keeps an output for each that "
             "it can never learn (add images, or remove the folder)")


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
    from signcaps.util.outputs import file_digest

    digest = hashlib.sha256()
    for path, label in scan.files:
        try:  # in blocks; a file too large to be an image (read_image refuses it) counts by its size
            size = path.stat().st_size
            content = file_digest(path) if size <= inputs.MAX_IMAGE_BYTES else f"too large: {size} bytes"
        except OSError:
            content = "unreadable"
        # os.fsencode: the name's bytes as on disk, also when they are not UTF-8 (Linux allows any),
        # and the same bytes as str.encode() for every name that is, so no fingerprint changes
        digest.update(os.fsencode(path.relative_to(scan.root).as_posix()) + b"|"
                      + os.fsencode(scan.label_name(label)) + f"|{content}\n".encode())
    if scan.stretch_x != 1.0:
        digest.update(f"stretch_x={scan.stretch_x:g}".encode())
    return digest.hexdigest()[:16]


def negative_subsets(root: str | Path) -> dict[str, Path]:
    """Split name -> folder of an external negatives dataset: its own train/ valid (val)/ test/ folders
    (the ASL letters keep every original photo on one side), or the whole folder for training. `root`
    may name a registered dataset (`asl-letters`): its fetched copy."""
    from signcaps.data.datasets import resolve_root

    root = resolve_root(root)
    if not root.is_dir():  # before minutes of work, and never read as "no held-out negatives"
        raise DatasetError(f"negatives folder not found: {root}")
    found = {split: root / name for split, names in (("train", ("train",)), ("val", ("valid", "val")),
                                                   ("test", ("test",)))
             for name in names if (root / name).is_dir()}
    return found or {"train": root}


def held_out_negatives(root: str | Path) -> dict[str, Path]:
    """The valid/ and test/ folders of an external negatives dataset: what open-set figures score. A
    folder without them is all training data, so there is nothing held out to measure: refused."""
    held = {split: folder for split, folder in negative_subsets(root).items() if split != "train"}
    if not held:
        raise DatasetError(f"negatives folder {root} has no valid/ or test/ folder: open-set figures need "
                           "negatives held out from training (put them in valid/ and test/, as asl-letters does)")
    return held


def missing_signs(neg_cfg, classes: list[str]) -> list[str] | None:
    """The classes `negatives.signs` names that `classes` lacks ([] when the external negatives fit this
    sign set); None when there are no external negatives to use."""
    if neg_cfg.mode == "off" or not neg_cfg.root:
        return None
    return sorted({str(c) for c in neg_cfg.signs.values()} - set(classes))


def negative_folders(neg_cfg, classes: list[str]) -> tuple[tuple[str, ...], dict[str, int]]:
    """(folders of `negatives.root` whose photos are negatives, {folder: class index} of those that show one
    of `classes`) for a dataset with these classes. The recipe's choice as it stands where the dataset has
    every class `negatives.signs` names (the digits); otherwise every folder it names (`negatives.classes`,
    and the `signs` folders of classes the dataset lacks) that is none of the dataset's classes."""
    signs = {folder: classes.index(str(name)) for folder, name in neg_cfg.signs.items() if str(name) in classes}
    if not missing_signs(neg_cfg, classes):
        return tuple(neg_cfg.classes), signs
    own = {str(c).casefold() for c in classes}
    return tuple(f for f in dict.fromkeys([*neg_cfg.classes, *neg_cfg.signs])
                 if f not in signs and f.casefold() not in own), signs
