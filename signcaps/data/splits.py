"""Train/val/test splits that keep a person (or a recording session) on one side only."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from signcaps.data.copies import copy_name
from signcaps.data.folders import NEGATIVE, DatasetError, split_of
from signcaps.util.config import DataConfig

_NUMBER = re.compile(r"([0-9]+)(?!.*[0-9])")  # ASCII digits: int() of "²" fails
# A name the participant rule reads: a word and a number (`IMG_1118`), not a hash that holds digits.
_NUMBERED = re.compile(r"^[^0-9]*[0-9]+$", re.ASCII)


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
                  warn: Callable[[str], None] | None = None, root: Path | None = None) -> dict[str, np.ndarray]:
    """Deterministic train/val/test index arrays; grouped splits keep each group on one side.

    `participant` groups each file by what its name carries: a recording of `signcaps collect`,
    the digits dataset's numbered signers, or the original photo of a copy (`A11_jpg.rf.<hash>.jpg`);
    files whose names carry none of these are grouped only where the images are near-identical (a
    perceptual hash of the files under `root`), and `warn` says so. A split that cannot be grouped at
    all (stratified on recordings or copies, fewer than 3 groups) is by image, and `warn` is told why:
    copies of one photo then sit on both sides and the test accuracy flatters the model. Negatives of
    the dataset's own `none/` folder are split like one more class.
    """
    warn = warn or (lambda _msg: None)
    published = published_split(paths)
    if published is not None:
        return published
    rng = np.random.default_rng(cfg.split_seed)
    labels = np.where(labels == NEGATIVE, int(labels.max(initial=0)) + 1, labels)
    if cfg.split == "stratified":
        if any(recording_of(rel) or copy_name(rel) for rel in paths):
            warn("data.split=stratified puts frames of the same recording (or copies of one photo) into train and "
                 "test; the test accuracy will flatter the model (data.split=participant groups them)")
        return stratified_split(labels, cfg, rng)
    if cfg.split == "participant":
        groups, unnamed = name_groups(paths, labels, root)
        if unnamed:
            warn(f"{unnamed} of {len(paths)} file names carry neither recordings (collect's <date>-<time>-<i>), "
                 "participant numbers (IMG_123) nor copy names (<photo>_jpg.rf.<hash>): they are grouped only "
                 f"where the images are near-identical{'' if root else ' (not checked here)'}, so photos of one "
                 "person or session may sit in train and test (data.split=group with data.group_pattern groups them)")
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


def published_split(paths: list[str]) -> dict[str, np.ndarray] | None:
    """The split a `train/ valid/ test/<class>/` dataset came with (`folders.split_layout`): its
    publisher kept copies of one original on one side, which no rule on names can know better."""
    parts = [split_of(rel) for rel in paths]
    if not paths or any(part is None for part in parts):
        return None
    return {k: np.array([i for i, part in enumerate(parts) if part == k], np.int64) for k in ("train", "val", "test")}


def name_groups(paths: list[str], labels: np.ndarray, root: Path | None = None) -> tuple[np.ndarray, int]:
    """Group ids from what each name carries, and how many names carry nothing.

    Ids in this order: recordings, participant runs of names that are a word and a number
    (`IMG_1118`: the digits dataset's ids stay what they were), the originals of copies; the rest
    are grouped by near-identical images under `root` (each its own group without one)."""
    from signcaps.data.copies import near_identical_groups

    groups = np.zeros(len(paths), np.int64)
    stamps = [recording_of(rel) for rel in paths]
    copies = [None if stamp else copy_name(rel) for rel, stamp in zip(paths, stamps)]
    numbered = [i for i, rel in enumerate(paths)
                if not stamps[i] and not copies[i] and _NUMBERED.match(Path(rel).stem)]
    known = sorted({s for s in stamps if s})
    for i, stamp in enumerate(stamps):
        if stamp:
            groups[i] = known.index(stamp)
    used = len(known)
    if numbered:
        groups[numbered] = participant_groups([paths[i] for i in numbered], labels[numbered]) + used
        used = int(groups[numbered].max()) + 1
    originals = sorted({c for c in copies if c})
    for i, original in enumerate(copies):
        if original:
            groups[i] = originals.index(original) + used
    used += len(originals)
    taken = set(numbered)
    rest = [i for i in range(len(paths)) if not stamps[i] and not copies[i] and i not in taken]
    if rest:
        near = near_identical_groups([Path(root) / paths[i] for i in rest]) if root is not None \
            else np.arange(len(rest))
        groups[rest] = near + used
    return groups, len(rest)


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
