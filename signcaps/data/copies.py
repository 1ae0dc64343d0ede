"""Copies of one photo: names that say so (Roboflow-style `A11_jpg.rf.<hash>.jpg`) and near-identical
images (a difference hash), so a split can keep every copy of a photo on one side.

Public datasets often ship each original photo as several augmented copies; a split by image then
puts a flipped copy in train and its original in test, and the test accuracy measures memory
(issue 25: 10 of 12 validation images had a copy in train). No image-hash library is installed with
signcaps, so the hash is the classic 64-bit dHash (Krawetz), a few lines of OpenCV and numpy.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# `<original>_<ext>.rf.<hex>`: Roboflow's export names every copy after its original photo.
COPY_NAME = re.compile(r"^(.+)_(?:jpe?g|png|bmp|webp|tiff?)\.rf\.[0-9a-f]{8,}$", re.IGNORECASE)
HASH_SIZE = 8  # 8x8 = 64 bits
NEAR = 6  # bits of 64 that may differ: re-encodes and small resizes stay within ~2, different photos differ by ~30


def copy_name(rel: str) -> str | None:
    """The original photo a Roboflow-style copy names (folder included), else None."""
    path = Path(rel)
    match = COPY_NAME.match(path.stem)
    return (path.parent / match.group(1)).as_posix() if match else None


def dhash(path: Path) -> np.ndarray | None:
    """64-bit difference hash of an image as 64 bools (None when it cannot be read): the grey image
    shrunk to 9x8, each bit says whether a pixel is brighter than its right neighbour."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    if image is None:
        return None
    small = cv2.resize(image, (HASH_SIZE + 1, HASH_SIZE), interpolation=cv2.INTER_AREA).astype(np.int16)
    return (small[:, 1:] > small[:, :-1]).ravel()


def near_identical_groups(files: list[Path], max_bits: int = NEAR) -> np.ndarray:
    """Group ids (0..G-1, by first member) joining images whose dHashes differ in at most `max_bits`
    bits, transitively; an unreadable image is a group of its own."""
    hashes = [dhash(p) for p in files]
    parent = list(range(len(files)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    readable = [i for i, h in enumerate(hashes) if h is not None]
    if readable:
        bits = np.stack([hashes[i] for i in readable])
        for row, i in enumerate(readable):  # O(n^2) bit comparisons in numpy: ~0.1 s for 1,500 images
            close = np.flatnonzero((bits[row + 1:] != bits[row]).sum(1) <= max_bits)
            for j in close:
                a, b = root(i), root(readable[row + 1 + j])
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = [root(i) for i in range(len(files))]
    lookup = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return np.array([lookup[r] for r in roots], np.int64)
