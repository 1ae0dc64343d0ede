"""Dataset scanning, the crop cache, splits and augmentation on real files."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import digit_images

from signcaps.config import (
    AugmentConfig,
    CropConfig,
    DataConfig,
    DetectConfig,
    load_recipe,
)
from signcaps.data import (
    CropDataset,
    DatasetError,
    build_augmenter,
    class_report,
    participant_groups,
    prepare,
    scan_folder,
    split_indices,
)
from signcaps.hands import HandDetector
from signcaps.preprocess import read_image_rgb


def test_hands_found_in_at_least_90_percent_of_a_dataset_sample(digits_root, hand_model):
    """Every 8th image of every class (the full-dataset count is in `data prepare`'s report)."""
    paths = [p for d in range(10) for p in sorted((digits_root / str(d)).glob("*.JPG"))[::8]]
    with HandDetector(hand_model, DetectConfig(), mode="image") as detector:
        found = sum(bool(detector.detect(read_image_rgb(p))) for p in paths)
    assert found / len(paths) >= 0.90


@pytest.fixture()
def messy_dataset(tmp_path):
    root = tmp_path / "messy"
    for digit in (1, 2):
        (root / str(digit)).mkdir(parents=True)
        for path in digit_images(digit, 3):
            shutil.copy(path, root / str(digit) / path.name)
    good = digit_images(1, 1)[0].read_bytes()
    (root / "1" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "2" / "notes.jpg").write_text("this is text, not a JPEG")
    (root / "2" / "readme.txt").write_text("ignored")
    (root / "3").mkdir()
    return root


def test_prepare_reports_bad_files_and_writes_usable_cache(messy_dataset, tmp_path):
    cfg = load_recipe(None, [f"data.cache_dir={tmp_path / 'cache'}", "crop.input_size=24"])
    crops, scan, cache = prepare(messy_dataset, cfg.data, cfg.crop, cfg.detect, show_progress=False)
    assert cache.is_file()
    reasons = dict(crops.skipped)
    assert reasons["1/truncated.jpg"].startswith("unreadable: truncated")
    assert reasons["2/notes.jpg"].startswith("unreadable")
    assert reasons["2/readme.txt"] == "not an image file name"
    rows = {r["class"]: r for r in class_report(crops, scan)}
    assert rows["3"]["empty"] and rows["3"]["images"] == 0
    assert rows["1"]["unreadable"] == 1 and rows["2"]["unreadable"] == 1
    assert rows["1"]["hands"] + rows["1"]["no_hand"] == 3
    assert crops.crops.shape[1:] == (24, 24, 3) and len(crops) == len(crops.labels) >= 5
    again, _, _ = prepare(messy_dataset, cfg.data, cfg.crop, cfg.detect, hand_model="/nonexistent", show_progress=False)
    assert np.array_equal(again.crops, crops.crops)  # served from the cache: no detector needed


def test_scan_rejects_unknown_class(messy_dataset):
    with pytest.raises(DatasetError, match="does not know"):
        scan_folder(messy_dataset, classes=["0", "1", "2"])


def test_participant_split_never_shares_a_participant(digits_root):
    scan = scan_folder(digits_root)
    paths = [str(p.relative_to(digits_root)) for p, _ in scan.files]
    labels = np.array([label for _, label in scan.files])
    groups = participant_groups(paths, labels)
    splits = split_indices(paths, labels, DataConfig())
    owners = {}
    for name, index in splits.items():
        for group in set(groups[index].tolist()):
            assert owners.setdefault(group, name) == name
    assert sum(len(v) for v in splits.values()) == len(paths)
    assert 0.1 < len(splits["test"]) / len(paths) < 0.2
    # one signer's consecutive run stays together, e.g. IMG_1118..IMG_1127
    signer = [i for i, p in enumerate(paths) if Path(p).stem in {f"IMG_{n}" for n in range(1118, 1128)}]
    assert len(set(groups[signer].tolist())) == 1
    assert split_indices(paths, labels, DataConfig())["test"].tolist() == splits["test"].tolist()  # deterministic


def test_stratified_and_group_splits():
    paths = [f"{c}/p{g}_{c}.jpg" for g in range(10) for c in range(3)]
    labels = np.array([c for g in range(10) for c in range(3)])
    strat = split_indices(paths, labels, DataConfig(split="stratified"))
    assert sorted(np.concatenate(list(strat.values())).tolist()) == list(range(30))
    grouped = split_indices(paths, labels, DataConfig(split="group", group_pattern=r"p(\d+)_"))
    for name, index in grouped.items():
        others = np.concatenate([v for k, v in grouped.items() if k != name])
        assert not {paths[i].split("/")[1][:3] for i in index} & {paths[i].split("/")[1][:3] for i in others}


def test_augmentation_only_changes_training_crops():
    crops = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    cfg = CropConfig(input_size=16)
    plain = CropDataset(crops, np.arange(4), cfg)
    augmented = CropDataset(crops, np.arange(4), cfg, build_augmenter(AugmentConfig(affine_p=1.0, color_p=1.0)))
    assert np.array_equal(plain[0][0], plain[0][0])
    assert not np.array_equal(augmented[0][0], plain[0][0])
    assert augmented[0][0].shape == (1, 16, 16)
    assert build_augmenter(AugmentConfig(enabled=False)) is None


def test_fetch_installs_a_verified_copy_and_refuses_a_tampered_one(digits_root, tmp_path):
    """`data fetch digits --from FOLDER`: the offline path, verified against the shipped manifest."""
    from signcaps.datasets import FetchError, fetch

    result = fetch("digits", tmp_path / "raw", archive=digits_root)
    assert result.verified >= 1000 and result.unverified == 0
    assert sorted(p.name for p in result.path.iterdir()) == [str(d) for d in range(10)]

    tampered = tmp_path / "tampered" / "Dataset"
    shutil.copytree(result.path, tampered)
    victim = next((tampered / "4").iterdir())
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(FetchError, match="1 changed"):
        fetch("digits", tmp_path / "raw2", archive=tampered.parent)
    assert not (tmp_path / "raw2" / "sign-language-digits").exists()


def test_fetch_offline_error_points_to_from(monkeypatch, tmp_path):
    from signcaps import datasets

    import dataclasses

    offline = dataclasses.replace(datasets.DATASETS["digits"], url="http://127.0.0.1:9/archive.zip")
    monkeypatch.setitem(datasets.DATASETS, "digits", offline)
    with pytest.raises(datasets.FetchError, match="--from"):
        datasets.fetch("digits", tmp_path, timeout=2)


@pytest.mark.slow
def test_hands_found_in_at_least_90_percent_of_the_whole_dataset(digits_root, tmp_path):
    cfg = load_recipe(None, [f"data.cache_dir={tmp_path}"])
    crops, scan, _ = prepare(digits_root, cfg.data, cfg.crop, cfg.detect, show_progress=False)
    assert len(crops) / len(scan.files) >= 0.90
