"""Negatives in training and the open-set evaluation: "none" is learnt from real and synthetic
negatives and measured as signs accepted vs negatives refused."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from signcaps.data.crops import concat_crops
from signcaps.data.folders import NEGATIVE, scan_folder, scan_negative_folder
from signcaps.data.splits import split_indices
from signcaps.runtime.openset import Curve, ScoredSet, merge, roc, rule_row, sign_columns
from signcaps.signs.rejection import RejectionRule
from signcaps.training.dataset import CropDataset
from signcaps.training.train import right_answers, target_rows, validation_scores
from tests.conftest import DIGITS, HAND_MODEL, SHARED, TINY_FUSED

ASL = SHARED / "datasets" / "asl-letters"


# ------------------------------------------------------------------------------ pure: targets and scores


def test_negatives_target_every_capsule_short_or_the_none_class() -> None:
    labels = torch.tensor([2, NEGATIVE, 0])
    short = target_rows(labels, 4, "short")
    assert short.tolist() == [[0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]]
    as_class = target_rows(labels, 4, "class")
    assert as_class.tolist() == [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]


def test_a_negative_is_right_when_refused_and_a_sign_when_its_capsule_wins() -> None:
    lengths = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.1], [0.7, 0.1, 0.1], [0.1, 0.2, 0.8]], np.float32)
    labels = np.array([0, NEGATIVE, NEGATIVE, 1])
    assert right_answers(lengths, labels, "short").tolist() == [True, True, False, False]
    # mode "class": the last output is "none"; a negative is right when it wins
    assert right_answers(lengths, labels, "class").tolist() == [True, False, False, True]
    scores = validation_scores(lengths, labels, "short")
    assert scores["val_acc"] == 0.5 and scores["val_refused"] == 0.5 and scores["score"] == 0.5
    assert validation_scores(lengths[[0, 3]], labels[[0, 3]], "short")["val_refused"] is None


def _scored(kind: str, labels: list[int], lengths: list[list[float]], images: int | None = None) -> ScoredSet:
    return ScoredSet("s", kind, len(labels) if images is None else images, np.array(labels),
                     np.array(lengths, np.float32), None)


def test_roc_counts_signs_right_and_negatives_accepted_per_threshold() -> None:
    signs = _scored("signs", [0, 1, 1], [[0.9, 0.1], [0.2, 0.6], [0.7, 0.3]], images=4)  # one photo without a hand
    negatives = _scored("negatives", [NEGATIVE, NEGATIVE], [[0.4, 0.1], [0.1, 0.8]])
    curve = roc(signs, negatives, lambda s: s.lengths.max(1), "winning length", sign_columns(["a", "b"], None))
    at = dict(zip(np.round(curve.thresholds, 3), zip(curve.signs_right, curve.negatives_accepted)))
    assert at[0.9] == (0.25, 0.0)  # only the first sign, no negative
    assert at[0.6] == (0.5, 0.5)  # the second sign too (the third is wrong: a's capsule wins); the 0.8 negative
    assert at[0.4] == (0.5, 1.0)
    assert curve.at_signs_right(0.5) == pytest.approx((0.6, 0.5))
    assert curve.at_signs_right(0.9) is None
    perfect = Curve("p", np.array([np.inf, 0.9, 0.1]), np.array([0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0]))
    assert perfect.auc == pytest.approx(1.0)


def test_rule_rows_count_a_photo_without_a_hand_as_refused_and_as_a_missed_sign() -> None:
    classes = ["a", "b"]
    rule = RejectionRule(accept=0.5, none_below=0.3)
    signs = rule_row(_scored("signs", [0, 1], [[0.9, 0.1], [0.4, 0.2]], images=3), classes, rule)
    assert (signs["ok"], signs["uncertain"], signs["good"], signs["rate"]) == (1, 1, 1, round(1 / 3, 4))
    negatives = rule_row(_scored("negatives", [NEGATIVE, NEGATIVE], [[0.1, 0.2], [0.1, 0.7]], images=5), classes, rule)
    assert (negatives["none"], negatives["ok"], negatives["good"]) == (1, 1, 4)  # 3 photos had no hand
    both = merge("m", "negatives", [_scored("negatives", [NEGATIVE], [[0.1, 0.2]], 2),
                                    _scored("negatives", [NEGATIVE], [[0.6, 0.2]], 3)])
    assert both.images == 5 and both.found == 2


# ------------------------------------------------------------------------------ data: where negatives come from


@pytest.fixture(scope="module")
def signs_with_none(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three digit classes (6 real photos each) and a none/ folder of real ASL letters that are no digit."""
    root = tmp_path_factory.mktemp("signs-with-none")
    for digit in ("1", "2", "5"):
        (root / digit).mkdir()
        for path in sorted((DIGITS / digit).glob("*.JPG"))[:6]:
            (root / digit / path.name).symlink_to(path)
    (root / "none").mkdir()
    for letter in ("A", "S", "Y"):
        for path in sorted((ASL / "train" / letter).glob("*.jpg"))[:2]:
            (root / "none" / f"{letter}-{path.name}").symlink_to(path)
    return root


def test_a_none_folder_holds_negatives_not_a_class(signs_with_none: Path) -> None:
    scan = scan_folder(signs_with_none)
    assert scan.classes == ["1", "2", "5"]
    negatives = [p for p, label in scan.files if label == NEGATIVE]
    assert len(negatives) == 6 and all(p.parent.name == "none" for p in negatives)
    renamed = signs_with_none.parent / "signs-with-_none"
    if not renamed.exists():
        shutil.copytree(signs_with_none, renamed, symlinks=True)
        (renamed / "none").rename(renamed / "_none")
    assert scan_folder(renamed).classes == ["1", "2", "5"]


def test_the_negatives_of_a_none_folder_are_split_like_one_more_class(signs_with_none: Path) -> None:
    from signcaps.util.config import DataConfig

    scan = scan_folder(signs_with_none)
    paths = [str(p.relative_to(scan.root)) for p, _ in scan.files]
    labels = np.array([label for _, label in scan.files])
    parts = split_indices(paths, labels, DataConfig(split="stratified", val_fraction=0.34, test_fraction=0.34))
    for index in parts.values():
        assert (labels[index] == NEGATIVE).sum() == 2


def test_external_negatives_map_sign_folders_to_classes_and_undo_the_squash(shared: Path) -> None:
    classes = [str(d) for d in range(10)]
    scan = scan_negative_folder(ASL / "test", ("A", "S"), 0.75, {"V": classes.index("2")}, classes)
    labels = {p.parent.name: label for p, label in scan.files}
    assert labels == {"A": NEGATIVE, "S": NEGATIVE, "V": 2}
    from signcaps.data.folders import fingerprint

    assert fingerprint(scan) != fingerprint(scan_negative_folder(ASL / "test", ("A", "S"), 1.0,
                                                                 {"V": 2}, classes))  # the stretch is in the key


# ------------------------------------------------------------------------------ training with negatives


def _recipe(root: Path, cache: Path, mode: str, synthetic: float):
    from signcaps.util.config import recipe_from_dict

    return recipe_from_dict({
        "name": f"tiny-{mode}",
        "data": {"root": str(root), "split": "stratified", "val_fraction": 0.34, "test_fraction": 0.34,
                 "cache_dir": str(cache)},
        "crop": {"mirror_left": True},
        "negatives": {"mode": mode, "synthetic": synthetic},
        "model": {"name": "fused-capsnet", "params": TINY_FUSED},
        "augment": {"hflip_p": 0.5},
        "train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "device": "cpu", "seed": 0},
    })


@pytest.mark.parametrize("mode", ["short", "class"])
def test_training_with_negatives_ships_a_rule_that_can_say_none(signs_with_none: Path, tmp_path: Path,
                                                                 mode: str) -> None:
    from signcaps.models.checkpoint import load_checkpoint
    from signcaps.runtime.classifier import OnnxClassifier
    from signcaps.training.export import export_checkpoint
    from signcaps.training.train import train

    recipe = _recipe(signs_with_none, tmp_path.parent / "none-cache", mode, synthetic=1.0)
    summary = train(recipe, tmp_path / "run", hand_model=str(HAND_MODEL), show_progress=False)
    state = load_checkpoint(tmp_path / "run" / "best.pt")
    expected = ["1", "2", "5", "none"] if mode == "class" else ["1", "2", "5"]
    assert state["classes"] == expected
    rule = RejectionRule.from_meta(state["rejection"], expected)
    assert rule.none_below == 0.3 and rule.accept == 0.5
    assert rule.none_class == ("none" if mode == "class" else None)
    assert summary["test_refused"] is not None and 0.0 <= summary["test_refused"] <= 1.0
    assert "val_refused" in summary["history"][-1]
    export_checkpoint(tmp_path / "run" / "best.pt", tmp_path / "m.onnx", hand_model=str(HAND_MODEL),
                      show_progress=False)
    assert OnnxClassifier(tmp_path / "m.onnx").rule == rule


def test_synthetic_negatives_have_no_pixels_and_replay_with_the_seed(signs_with_none: Path, tmp_path: Path) -> None:
    from signcaps.data.crops import prepare
    from signcaps.training.augment import build_augmenter
    from signcaps.training.train import synthesizer

    recipe = _recipe(signs_with_none, tmp_path.parent / "none-cache", "short", synthetic=0.5)
    crops, _, _ = prepare(recipe.data.root, recipe.data, recipe.crop, recipe.detect, str(HAND_MODEL),
                          show_progress=False)
    runs = []
    for _ in range(2):
        dataset = CropDataset(crops, recipe.crop, build_augmenter(recipe.augment), ("image", "pose"),
                              synthesizer(crops, recipe, ("image", "pose")), recipe.negatives.synthetic)
        dataset.reseed(5)
        runs.append([dataset[i] for i in range(len(crops), len(dataset))])
    signs = int((~crops.negative).sum())
    assert len(runs[0]) == round(signs * 0.5)
    for (image, pose, label, has_image), again in zip(runs[0], runs[1]):
        assert label == NEGATIVE and has_image is False and not image.any()
        assert np.array_equal(pose, again[1])
    assert synthesizer(crops, recipe, ("image",)) is None  # an image-only model cannot learn from poses alone


def test_concatenated_parts_give_copies_only_where_there_were_some() -> None:
    from signcaps.data.crops import CropSet, Retakes

    def part(n: int, retakes: bool) -> CropSet:
        crops = CropSet(["a"], np.zeros((n, 8, 8, 3), np.uint8), np.zeros(n, np.int64), [f"{i}" for i in range(n)],
                        np.zeros(n, bool), [], "fp", np.zeros((n, 21, 3), np.float32), np.zeros(n, bool),
                        np.zeros((n, 8, 8), np.uint8))
        if retakes:
            crops.retakes = Retakes(np.ones((n, 2, 8, 8, 3), np.uint8), np.ones((n, 2, 21, 3), np.float32),
                                    np.zeros((n, 2), bool), np.ones((n, 2), bool))
        return crops

    both = concat_crops([part(3, True), part(2, False)])
    assert len(both) == 5 and both.retakes.found.sum() == 6 and not both.retakes.found[3:].any()


def test_a_batch_of_negatives_only_keeps_every_parameter_in_the_graph() -> None:
    """DDP needs a gradient for every parameter on every rank, even when a rank's batch holds no sign."""
    from signcaps.models.registry import build_model
    from signcaps.training.train import TrainStep
    from signcaps.util.config import recipe_from_dict

    recipe = recipe_from_dict({"negatives": {"mode": "short"}, "crop": {"input_size": 32},
                               "model": {"name": "fused-capsnet", "params": TINY_FUSED}})
    step = TrainStep(build_model(recipe.model, recipe.crop, 3), recipe)
    images, poses = torch.randn(4, 1, 32, 32), torch.randn(4, 21, 3)
    targets, has_image = torch.full((4,), NEGATIVE), torch.tensor([True, False, True, False])
    loss, _, _ = step(images, poses, targets, has_image)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in step.parameters())
