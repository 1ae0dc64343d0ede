"""Dataset scanning, the crop cache, splits and augmentation on real files."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import digit_images

from signcaps.data.crops import CropSet, class_report, prepare
from signcaps.data.folders import DatasetError, scan_folder
from signcaps.data.splits import participant_groups, split_indices
from signcaps.hands.detector import HandDetector
from signcaps.hands.landmarks import normalize_pose
from signcaps.hands.preprocess import read_image_rgb
from signcaps.training.augment import Sample, build_augmenter
from signcaps.training.dataset import CropDataset
from signcaps.util.config import AugmentConfig, CropConfig, DataConfig, DetectConfig, load_recipe


def test_hands_found_in_at_least_90_percent_of_a_dataset_sample(digits_root, hand_model):
    """Every 8th image of every class (the full-dataset count is in `data prepare`'s report)."""
    paths = [p for d in range(10) for p in sorted((digits_root / str(d)).glob("*.JPG"))[::8]]
    with HandDetector(hand_model, DetectConfig(), mode="image") as detector:
        found = sum(bool(detector.detect(read_image_rgb(p))) for p in paths)
    assert found / len(paths) >= 0.90


@pytest.fixture()
def messy_dataset(digits_root, tmp_path):
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


def test_detecting_on_every_core_gives_the_bytes_of_one_process(messy_dataset, tmp_path, monkeypatch):
    """Crops, landmarks, masks, skips and re-shot copies: two worker processes (16 images per
    chunk, the bad files among them) against this process alone, byte for byte."""
    for digit in (1, 2):  # enough photos for two chunks and an uneven last one
        for path in digit_images(digit, 10, start=3):
            shutil.copy(path, messy_dataset / str(digit) / path.name)
    made = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("SIGNCAPS_WORKERS", workers)
        cfg = load_recipe(None, [f"data.cache_dir={tmp_path / workers}", "crop.input_size=24", "data.retakes=1"])
        made[workers] = prepare(messy_dataset, cfg.data, cfg.crop, cfg.detect, show_progress=False)[0]
    one, two = made["1"], made["2"]
    assert len(one) >= 20 and one.paths == two.paths and one.skipped == two.skipped
    for name in ("crops", "labels", "fallback", "points", "left", "masks"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    for name in ("crops", "points", "left", "found"):
        assert np.array_equal(getattr(one.retakes, name), getattr(two.retakes, name)), name
    assert one.retakes.found.any()


def test_worker_count_keeps_small_sets_in_this_process(monkeypatch):
    import os

    from signcaps.data.parallel import CORES_PER_DETECTOR, MIN_PER_WORKER, worker_count

    monkeypatch.delenv("SIGNCAPS_WORKERS", raising=False)
    assert worker_count(MIN_PER_WORKER - 1) == 1
    assert worker_count(10_000) == max(1, len(os.sched_getaffinity(0)) // CORES_PER_DETECTOR)
    assert worker_count(5, requested=8) == 5
    monkeypatch.setenv("SIGNCAPS_WORKERS", "3")
    assert worker_count(10_000) == 3 and worker_count(10_000, requested=1) == 1


def _dies_in_a_worker(detector, chunk: list) -> list:
    """A chunk's work that kills any worker process running it (as the OOM killer would)."""
    import multiprocessing
    import os

    if multiprocessing.parent_process() is not None:
        os._exit(3)
    return [len(chunk), detector is not None]


def test_a_dead_worker_leaves_its_chunks_to_this_process_instead_of_hanging(hand_model):
    from signcaps.data.parallel import detect_chunks

    done = []
    out = detect_chunks(_dies_in_a_worker, list(range(40)), hand_model, DetectConfig(), workers=2, progress=done.append)
    assert out == [[16, True], [16, True], [8, True]] and sum(done) == 40


def test_a_dataset_without_hands_gets_empty_re_shot_copies(tmp_path, hand_model):
    """No photo with a hand: the re-shot copies are empty arrays of the right shapes, not an error."""
    from signcaps.data.crops import load_or_make_retakes
    from signcaps.data.folders import FolderScan

    cfg = load_recipe(None, ["data.retakes=2", "crop.input_size=24"])
    crops = CropSet(["a"], np.zeros((0, 24, 24, 3), np.uint8), np.zeros(0, np.int64), [], np.zeros(0, bool), [], "fp",
                    np.zeros((0, 21, 3), np.float32), np.zeros(0, bool), np.zeros((0, 24, 24), np.uint8))
    retakes = load_or_make_retakes(crops, FolderScan(tmp_path, ["a"], []), tmp_path / "c.npz", cfg.data, cfg.crop,
                                   cfg.detect, hand_model, False)
    assert retakes.crops.shape == (0, 2, 24, 24, 3) and retakes.found.shape == (0, 2)


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


def _crop_set(n: int = 4, size: int = 16) -> CropSet:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    points = rng.normal(50, 20, (n, 21, 3)).astype(np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, 4:12, 4:12] = 255
    return CropSet([str(i) for i in range(n)], crops, np.arange(n), [f"{i}/a.jpg" for i in range(n)],
                   np.zeros(n, bool), [], "test", points, np.zeros(n, bool), masks)


def test_augmentation_only_changes_training_crops():
    crops = _crop_set()
    cfg = CropConfig(input_size=16)
    plain = CropDataset(crops, cfg)
    augmented = CropDataset(crops, cfg, build_augmenter(AugmentConfig(affine_p=1.0, color_p=1.0, pose_jitter=0.02)))
    assert np.array_equal(plain[0][0], plain[0][0])
    assert not np.array_equal(augmented[0][0], plain[0][0])
    assert not np.allclose(augmented[0][1], plain[0][1])  # the pose moves with the pixels
    assert augmented[0][0].shape == (1, 16, 16) and augmented[0][1].shape == (21, 3)
    assert np.allclose(plain[0][1], normalize_pose(crops.points[0], False, cfg.mirror_left))
    assert build_augmenter(AugmentConfig(enabled=False)) is None


def test_background_replacement_keeps_the_hand_and_changes_only_the_background():
    crops = _crop_set()
    cfg = AugmentConfig(affine_p=0.0, color_p=0.0, blur_p=0.0, noise_p=0.0, background_p=1.0)
    augmenter = build_augmenter(cfg)
    augmenter.reseed(3)
    sample = Sample(crops.crops[0], crops.poses(False)[0], crops.masks[0])
    out = augmenter(sample)
    hand = crops.masks[0] == 255
    assert np.array_equal(out.crop[hand], sample.crop[hand])
    assert not np.array_equal(out.crop[~hand], sample.crop[~hand])


def test_augmentation_rotates_the_pose_with_the_image():
    """A pure 90-degree warp of the crop turns the normalised pose by the same angle on screen."""
    from signcaps.hands.landmarks import augment_pose

    pose = normalize_pose(np.random.default_rng(1).normal(0, 30, (21, 3)), False, False)
    quarter = np.array([[0.0, 1.0], [-1.0, 0.0]])  # cv2's +90 degrees (counter-clockwise on screen)
    turned = augment_pose(pose, np.random.default_rng(0), quarter)
    assert np.allclose(turned[:, 0], pose[:, 1], atol=1e-5) and np.allclose(turned[:, 1], -pose[:, 0], atol=1e-5)
    assert np.allclose(turned[:, 2], pose[:, 2], atol=1e-5)


def test_seeded_augmentation_replays_exactly():
    crops = _crop_set()
    cfg = CropConfig(input_size=16)
    runs = []
    for _ in range(2):
        dataset = CropDataset(crops, cfg,
                              build_augmenter(AugmentConfig(background_p=0.5, pose_tilt=10, pose_jitter=0.02)))
        dataset.reseed(7)
        runs.append([dataset[i] for i in range(4)])
    for a, b in zip(*runs):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_fetch_installs_a_verified_copy_and_refuses_a_tampered_one(digits_root, tmp_path):
    """`data fetch digits --from FOLDER`: the offline path, verified against the shipped manifest."""
    from signcaps.data.datasets import FetchError, fetch

    result = fetch("digits", tmp_path / "raw", archive=digits_root)
    assert result.verified >= 1000 and result.unverified == 0
    assert sorted(p.name for p in result.path.iterdir() if not p.name.startswith(".")) == [str(d) for d in range(10)]

    tampered = tmp_path / "tampered" / "Dataset"
    shutil.copytree(result.path, tampered)
    victim = next((tampered / "4").iterdir())
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(FetchError, match="1 changed"):
        fetch("digits", tmp_path / "raw2", archive=tampered.parent)
    assert not (tmp_path / "raw2" / "sign-language-digits").exists()


def test_fetch_offline_error_points_to_from(monkeypatch, tmp_path):
    import dataclasses

    from signcaps.data import datasets

    offline = dataclasses.replace(datasets.DATASETS["digits"], url="http://127.0.0.1:9/archive.zip")
    monkeypatch.setitem(datasets.DATASETS, "digits", offline)
    with pytest.raises(datasets.FetchError, match="--from"):
        datasets.fetch("digits", tmp_path, timeout=2)


@pytest.mark.slow
def test_hands_found_in_at_least_90_percent_of_the_whole_dataset(digits_root, tmp_path):
    cfg = load_recipe(None, [f"data.cache_dir={tmp_path}"])
    crops, scan, _ = prepare(digits_root, cfg.data, cfg.crop, cfg.detect, show_progress=False)
    assert len(crops) / len(scan.files) >= 0.90
