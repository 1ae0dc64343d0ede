"""Hand masks, background replacement and the domain-shift evaluation on real photos."""
import json

import numpy as np
import pytest
from conftest import HAND_MODEL, digit_images

from signcaps.hands import scenes
from signcaps.hands.detector import HandDetector
from signcaps.hands.preprocess import read_image_rgb

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared


@pytest.fixture(scope="module")
def photo_and_hand(hand_model):
    image = read_image_rgb(digit_images(5, 1)[0])
    with HandDetector(HAND_MODEL) as detector:
        hand = detector.detect(image)[0]
    return image, hand


def test_hand_mask_covers_the_hand_and_not_the_wall(photo_and_hand):
    image, hand = photo_and_hand
    mask = scenes.hand_mask(image, hand.landmarks)
    assert mask.shape == image.shape[:2] and mask.dtype == np.float32
    h, w = mask.shape
    inside = [mask[min(int(y), h - 1), min(int(x), w - 1)] for x, y in hand.landmarks if 0 <= x < w and 0 <= y < h]
    assert np.mean(np.array(inside) > 0.5) >= 0.9  # the joints are on the hand
    assert 0.1 < mask.mean() < 0.8  # neither everything nor nothing
    corners = [mask[0, 0], mask[0, -1]]
    assert max(corners) < 0.5  # the top corners show the wall


@pytest.mark.parametrize("kind", sorted(scenes.BACKGROUNDS))
def test_backgrounds_are_deterministic_images(kind):
    a = scenes.BACKGROUNDS[kind](np.random.default_rng(1), 40, 60)
    b = scenes.BACKGROUNDS[kind](np.random.default_rng(1), 40, 60)
    assert a.shape == (40, 60, 3) and np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 255


def test_composite_keeps_hand_pixels(photo_and_hand):
    image, hand = photo_and_hand
    mask = scenes.hand_mask(image, hand.landmarks)
    out = scenes.composite(image, mask, scenes.black(np.random.default_rng(0), *image.shape[:2]))
    sure = mask >= 0.999
    assert np.array_equal(out[sure], image[sure])
    assert out[mask <= 0.001].max() == 0


def test_domain_shift_evaluation_reruns_the_whole_pipeline(tiny_pose_models, tmp_path):
    """'none' reproduces the plain evaluation; shifted photos are re-detected; a table, a plot and JSON."""
    from signcaps.training.evaluate import evaluate_checkpoint
    from signcaps.training.shifts import evaluate_shifts, shift_rows

    fused = tiny_pose_models["fused-capsnet"]
    pose = tiny_pose_models["pose-capsnet"]
    report = evaluate_shifts([fused["checkpoint"], pose["onnx"]], ["none", "bg-clutter", "mirror"],
                             hand_model=str(HAND_MODEL), out_dir=tmp_path, show_progress=False)
    assert report["shifts"] == ["none", "bg-clutter", "mirror"] and len(report["models"]) == 2
    plain = evaluate_checkpoint(fused["checkpoint"], None, "test", str(HAND_MODEL), tmp_path, show_progress=False)
    none = report["models"][0]["shifts"][0]
    assert none["images"] == plain["report"]["samples"] and none["hands_found"] == none["images"]
    assert none["accuracy"] == pytest.approx(plain["report"]["accuracy"])
    for model in report["models"]:
        for row in model["shifts"]:
            assert 0.0 <= row["accuracy"] <= 1.0 and row["hands_found"] <= row["images"]
            assert row["correct"] <= row["hands_found"]
    assert (tmp_path / "domain-shift.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "domain-shift.json").read_text())["models"][1]["path"].endswith("model.onnx")
    rows = shift_rows(report)
    assert [r[0] for r in rows] == ["none", "bg-clutter", "mirror", "worst shift"]
    found = shift_rows(report, found_only=True)
    assert len(found) == len(rows) and all("no hand" not in cell for row in found for cell in row)


def test_unknown_shift_is_a_one_line_error(tiny_pose_models):
    from signcaps.training.shifts import ShiftError, evaluate_shifts

    with pytest.raises(ShiftError, match="unknown shift"):
        evaluate_shifts([tiny_pose_models["pose-capsnet"]["checkpoint"]], ["sunset"], hand_model=str(HAND_MODEL))
