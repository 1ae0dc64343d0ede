"""Dataset names, the asl-letters registry entry, and splits that keep recordings together.

The machine cannot reach GitHub: the asl-letters install path is tested with an archive in the
upstream layout (a Roboflow YOLO export inside GitHub's zip), built here from the shared copy."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from signcaps.data import datasets
from signcaps.data.folders import DatasetError
from signcaps.data.splits import split_indices, split_record, stored_split
from signcaps.util.config import DataConfig

LETTERS = SHARED / "datasets" / "asl-letters"


def test_a_dataset_name_resolves_to_the_fetched_copy_and_a_path_to_itself(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path / "data"))
    (tmp_path / "data" / "sign-language-digits").mkdir(parents=True)
    assert datasets.resolve_root("digits") == tmp_path / "data" / "sign-language-digits"
    assert datasets.resolve_root("sign-language-digits") == tmp_path / "data" / "sign-language-digits"
    assert datasets.resolve_root("./digits") == Path("./digits")  # a folder of that name is written as a path
    assert datasets.resolve_root(tmp_path / "mine") == tmp_path / "mine"
    with pytest.raises(datasets.DatasetNotInstalled, match=r"asl-letters is not installed.*data fetch asl-letters"):
        datasets.resolve_root("asl-letters")
    monkeypatch.delenv(datasets.DATA_ENV)
    from signcaps.util.assets import cache_dir

    assert datasets.data_home() == cache_dir() / "datasets"  # never ../shared unless asked


def upstream_archive(path: Path, extra: dict[str, bytes] | None = None, tamper: str | None = None) -> Path:
    """GitHub's zip of the pinned commit: <repo>-<sha>/American-Sign-Language-Letters-1/<split>/{images,labels}/."""
    top = "AmericanSignLanguageDetectorYOLOv8-0199412f52ecb7adb1441695f7c926a773d8c53c/American-Sign-Language-Letters-1"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr(f"{top}/data.yaml", "nc: 26\n")
        for photo in sorted(LETTERS.glob("*/*/*.jpg")):
            split = photo.parent.parent.name
            data = photo.read_bytes() + (b"x" if photo.name == tamper else b"")
            bundle.writestr(f"{top}/{split}/images/{photo.name}", data)
            bundle.writestr(f"{top}/{split}/labels/{photo.stem}.txt", "0 0.5 0.5 0.3 0.4\n")
        for name, data in (extra or {}).items():
            bundle.writestr(f"{top}/{name}", data)
    return path


@pytest.mark.shared
def test_asl_letters_install_from_the_upstream_layout_verified_file_by_file(tmp_path):
    moving = {"train/images/J3_jpg.rf.0a.jpg": b"J moves", "valid/images/Z1_jpg.rf.0b.jpg": b"Z moves"}
    result = datasets.fetch("asl-letters", tmp_path / "raw", archive=upstream_archive(tmp_path / "a.zip", moving))
    assert result.path == tmp_path / "raw" / "asl-letters"
    assert result.verified == len(datasets.read_manifest("asl-letters.sha256")) == 1564
    assert result.unverified == 2  # J and Z left out (and counted), labels and yaml never considered
    installed = sorted(p.relative_to(result.path).as_posix() for p in result.path.rglob("*.jpg"))
    assert installed == sorted(p.relative_to(LETTERS).as_posix() for p in LETTERS.rglob("*.jpg"))  # the shared layout
    assert not any((result.path / split / "J").exists() for split in datasets.YOLO_SPLITS)


@pytest.mark.shared
def test_a_changed_asl_photo_refuses_the_archive(tmp_path):
    victim = next(LETTERS.glob("valid/*/*.jpg"))
    archive = upstream_archive(tmp_path / "a.zip", tamper=victim.name)
    with pytest.raises(datasets.FetchError, match="1 changed"):
        datasets.fetch("asl-letters", tmp_path / "raw", archive=archive)
    assert not (tmp_path / "raw" / "asl-letters").exists()


def test_asl_letters_offline_says_use_from(monkeypatch, tmp_path):
    import dataclasses

    offline = dataclasses.replace(datasets.DATASETS["asl-letters"], url="http://127.0.0.1:9/archive.zip")
    monkeypatch.setitem(datasets.DATASETS, "asl-letters", offline)
    with pytest.raises(datasets.FetchError, match="data fetch asl-letters --from"):
        datasets.fetch("asl-letters", tmp_path, timeout=2)


def test_the_yolo_layout_maps_letters_and_skips_labels():
    place = datasets.yolo_letter_layout
    assert place(["train", "images", "B12_jpg.rf.x.jpg"]) == "train/B/B12_jpg.rf.x.jpg"
    assert place(["test", "C", "C3_jpg.rf.y.jpg"]) == "test/C/C3_jpg.rf.y.jpg"  # an installed copy
    assert place(["train", "labels", "B12_jpg.rf.x.txt"]) is None
    assert place(["train", "D", "B12_jpg.rf.x.jpg"]) is None  # a letter folder must match the name
    assert place(["other", "images", "B1.jpg"]) is None


# ------------------------------------------------------------------------------ splits

def recordings(per_class: int, frames: int, classes: int = 3) -> tuple[list[str], np.ndarray]:
    """collect's names: class/<date>-<time>-<frame>.png, `per_class` recordings of `frames` frames."""
    paths, labels = [], []
    for c in range(classes):
        for r in range(per_class):
            for f in range(frames):
                paths.append(f"{c}/20260101-1{c}{r:02d}00-{f:05d}.png")
                labels.append(c)
    return paths, np.array(labels)


def test_recordings_never_straddle_a_split():
    paths, labels = recordings(per_class=6, frames=5)
    warned: list[str] = []
    splits = split_indices(paths, labels, DataConfig(), warn=warned.append)
    assert not warned
    stamp = {part: {paths[i].split("/")[1][:15] for i in idx} for part, idx in splits.items()}
    assert stamp["test"] and stamp["val"]
    assert not (stamp["test"] & stamp["train"]) and not (stamp["val"] & stamp["train"])
    assert sum(len(v) for v in splits.values()) == len(paths)


def test_splits_that_cannot_be_grouped_warn():
    paths, labels = recordings(per_class=6, frames=5)
    warned: list[str] = []
    split_indices(paths, labels, DataConfig(split="stratified"), warn=warned.append)
    assert "same recording" in warned[-1]
    few, few_labels = recordings(per_class=1, frames=8, classes=2)
    split = split_indices(few, few_labels, DataConfig(), warn=warned.append)
    assert "only 2 recording" in warned[-1] and len(split["test"]) > 0  # by image, and said so
    names = [f"{c}/hand-{c}-{letter}.jpg" for c in "ab" for letter in "xyzuvw"]
    split_indices(names, np.array([0] * 6 + [1] * 6), DataConfig(), warn=warned.append)
    assert "12 of 12 file names carry neither recordings" in warned[-1]


def test_the_digits_participant_split_is_unchanged():
    """Numbered files (no recordings) keep the participant rule, index for index (the shipped
    model's test split must stay the one it was measured on)."""
    from signcaps.data.splits import participant_groups, split_by_groups

    paths = [f"{d}/IMG_{100 + 10 * p + d}.JPG" for p in range(20) for d in range(10)]
    labels = np.array([int(p[0]) for p in paths])
    cfg = DataConfig()
    splits = split_indices(paths, labels, cfg)
    expected = split_by_groups(participant_groups(paths, labels), cfg, np.random.default_rng(cfg.split_seed))
    assert all(np.array_equal(splits[k], expected[k]) for k in ("train", "val", "test"))


def test_a_stored_split_is_applied_by_file_name():
    paths, labels = recordings(per_class=6, frames=2)
    splits = split_indices(paths, labels, DataConfig())
    record = split_record(DataConfig(), paths, splits)
    assert record["method"] == "participant" and record["test"] == sorted(paths[i] for i in splits["test"])
    shuffled = list(reversed(paths)) + ["9/new-photo.png"]  # another order, one image more
    again = stored_split(record, shuffled)
    assert sorted(shuffled[i] for i in again["test"]) == record["test"]
    assert "9/new-photo.png" in {shuffled[i] for i in again["train"]}
    assert stored_split(record, ["x/other.png"]) is None and stored_split(None, paths) is None


def test_a_model_without_its_split_is_refused_on_other_data(tmp_path):
    from signcaps.data.folders import scan_folder
    from signcaps.runtime.onnxeval import held_out

    for c in ("1", "2"):
        (tmp_path / c).mkdir()
        for i in range(3):
            (tmp_path / c / f"IMG_{i}{c}.png").write_bytes(b"not decoded here")
    scan = scan_folder(tmp_path)
    with pytest.raises(DatasetError, match="pass --split all"):
        held_out({"data_fingerprint": "0123456789abcdef"}, scan, DataConfig())
    paths = [p.relative_to(tmp_path).as_posix() for p, _ in scan.files]
    record = {**split_record(DataConfig(), paths, {"val": np.array([1]), "test": np.array([0, 4])})}
    split = held_out({"split": record}, scan, DataConfig())
    assert [paths[i] for i in split["test"]] == [paths[0], paths[4]] and len(split["train"]) == 3
