"""Train/val/test splits that keep a person (or a recording session) on one side only."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from signcaps.data.folders import NEGATIVE, DatasetError, split_of
from signcaps.util.config import DataConfig

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
    published = published_split(paths)
    if published is not None:
        return published
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


def published_split(paths: list[str]) -> dict[str, np.ndarray] | None:
    """The split a `train/ valid/ test/<class>/` dataset came with (`folders.split_layout`): its
    publisher kept copies of one original on one side, which no rule on names can know better."""
    parts = [split_of(rel) for rel in paths]
    if not paths or any(part is None for part in parts):
        return None
    return {k: np.array([i for i, part in enumerate(parts) if part == k], np.int64) for k in ("train", "val", "test")}


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
