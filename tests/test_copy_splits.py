"""Copies of one photo never straddle a split (issue 25): Roboflow-style names are grouped by their
original, near-identical images by a perceptual hash, and a split that names cannot group warns."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from signcaps.data.copies import copy_name, near_identical_groups
from signcaps.data.splits import split_indices
from signcaps.util.config import DataConfig

pytestmark = pytest.mark.shared
LETTERS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "asl-letters"


def letters_folder(root: Path, classes: str = "ABC", originals: int = 10, rename: bool = False) -> Path:
    """The first `originals` original photos of each letter of the shared train/ split, all 3 copies
    each (real photos); `rename` gives them names that carry nothing (the copy's hash)."""
    for letter in classes:
        (root / letter).mkdir(parents=True)
        names = sorted((LETTERS / "train" / letter).iterdir(), key=lambda p: copy_name(p.name) or "")
        chosen = sorted({copy_name(p.name) for p in names})[:originals]
        for path in names:
            if copy_name(path.name) in chosen:
                target = path.name.split(".rf.")[1] if rename else path.name
                shutil.copy(path, root / letter / target)
    return root


def scanned(root: Path) -> tuple[list[str], np.ndarray]:
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))
    return paths, np.array(["ABC".index(p[0]) for p in paths])


def owners(paths: list[str], splits: dict[str, np.ndarray], key) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for part, index in splits.items():
        for i in index:
            found.setdefault(key(paths[i]), set()).add(part)
    return found


def test_copies_of_one_photo_stay_on_one_side(tmp_path: Path):
    root = letters_folder(tmp_path / "abc")
    paths, labels = scanned(root)
    assert len(paths) == 90 and copy_name("A/A11_jpg.rf.4126b388a474440c970d85a3b2a7bf09.jpg") == "A/A11"
    warned: list[str] = []
    splits = split_indices(paths, labels, DataConfig(), warn=warned.append, root=root)
    assert not warned  # every name says which photo it copies
    assert all(len(v) and not len(v) % 3 for v in splits.values())  # whole originals only
    spread = owners(paths, splits, copy_name)
    assert len(spread) == 30 and all(len(parts) == 1 for parts in spread.values())


def test_names_that_carry_nothing_warn_and_near_identical_images_are_grouped(tmp_path: Path):
    root = letters_folder(tmp_path / "abc", rename=True)
    # a re-encoded, slightly smaller copy of one photo under another name: the perceptual hash joins it
    photo = sorted((root / "A").iterdir())[0]
    image = cv2.imread(str(photo))
    cv2.imwrite(str(root / "A" / "zz-resent.jpg"), cv2.resize(image, (380, 380)), [cv2.IMWRITE_JPEG_QUALITY, 70])
    paths, labels = scanned(root)
    warned: list[str] = []
    splits = split_indices(paths, labels, DataConfig(), warn=warned.append, root=root)
    assert len(warned) == 1 and "91 of 91 file names carry neither recordings" in warned[0]
    where = owners(paths, splits, lambda p: p)
    assert where[photo.relative_to(root).as_posix()] == where["A/zz-resent.jpg"]
    groups = near_identical_groups([root / p for p in paths])
    assert len(set(groups.tolist())) < len(paths)  # the pair is one group; distinct photos stay apart
    assert len(set(groups.tolist())) > 60


def test_hash_digits_are_no_participant_numbers(tmp_path: Path):
    """Before, `A11_jpg.rf.<hash>` went through the digits' numbered-participant rule, which read the
    hash's last digits and put copies of one photo into train and test."""
    root = letters_folder(tmp_path / "abc", originals=6)
    paths, labels = scanned(root)
    splits = split_indices(paths, labels, DataConfig(), root=root)
    assert all(len(parts) == 1 for parts in owners(paths, splits, copy_name).values())
    warned: list[str] = []
    split_indices(paths, labels, DataConfig(split="stratified"), warn=warned.append)
    assert "copies of one photo" in warned[0]
