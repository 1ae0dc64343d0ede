"""The shipped default model on real test photos of unseen participants, with their background swapped."""
import numpy as np
import pytest
from conftest import DIGITS, HAND_MODEL

from signcaps.hands import scenes
from signcaps.hands.detector import HandDetector
from signcaps.hands.preprocess import hand_sample, read_image_rgb
from signcaps.runtime.classifier import load_classifier

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared

# Three photos per digit from the test split of the shipped model's run (participants never seen in
# training or validation: runs/<default>/split.json), the first, middle and last of each class.
TEST_PHOTOS = [
    "0/IMG_1118.JPG", "0/IMG_5456.JPG", "0/IMG_5981.JPG", "1/IMG_1119.JPG", "1/IMG_5447.JPG", "1/IMG_5982.JPG",
    "2/IMG_1120.JPG", "2/IMG_5448.JPG", "2/IMG_5983.JPG", "3/IMG_1121.JPG", "3/IMG_5449.JPG", "3/IMG_5984.JPG",
    "4/IMG_1122.JPG", "4/IMG_5450.JPG", "4/IMG_5985.JPG", "5/IMG_1123.JPG", "5/IMG_5375.JPG", "5/IMG_5986.JPG",
    "6/IMG_1124.JPG", "6/IMG_5452.JPG", "6/IMG_5987.JPG", "7/IMG_1125.JPG", "7/IMG_5453.JPG", "7/IMG_5988.JPG",
    "8/IMG_1126.JPG", "8/IMG_5454.JPG", "8/IMG_5989.JPG", "9/IMG_1127.JPG", "9/IMG_5455.JPG", "9/IMG_5990.JPG",
]


@pytest.fixture(scope="module")
def default_model():
    return load_classifier(None)


@pytest.fixture(scope="module")
def answers(default_model, shared):
    """Per photo: the class on the original photo and on each swapped background (None = no hand)."""
    clf = default_model
    out = {}
    with HandDetector(HAND_MODEL, clf.detect_cfg) as detector:
        def classify(image):
            hands = detector.detect(image)
            if not hands:
                return None
            crop, pose = hand_sample(image, hands[0], clf.crop_cfg)
            return clf.classes[int(clf.classify_crops([crop], [pose])[0].argmax())]

        for k, rel in enumerate(TEST_PHOTOS):
            image = read_image_rgb(DIGITS / rel)
            hand = detector.detect(image)[0]
            mask = scenes.hand_mask(image, hand.landmarks)
            row = {"label": rel.split("/")[0], "original": classify(image)}
            crop, pose = hand_sample(image, hand, clf.crop_cfg)
            for kind in ("black", "colour", "clutter", "texture"):
                background = scenes.BACKGROUNDS[kind](np.random.default_rng(k), *image.shape[:2])
                swapped = scenes.composite(image, mask, background)
                row[kind] = classify(swapped)
                # the same hand, the same landmarks: only the crop's background differs
                same_hand, _ = hand_sample(swapped, hand, clf.crop_cfg)
                row[f"{kind}-crop"] = clf.classes[int(clf.classify_crops([same_hand], [pose])[0].argmax())]
            row["crop"] = clf.classes[int(clf.classify_crops([crop], [pose])[0].argmax())]
            out[rel] = row
    return out


def test_default_model_reads_hand_landmarks(default_model):
    assert default_model.meta["format_version"] >= 2 and default_model.needs_pose
    assert default_model.meta["pose"]["mirror_left"] is True


def test_default_model_is_right_on_the_test_photos(answers):
    right = sum(row["original"] == row["label"] for row in answers.values())
    assert right >= len(TEST_PHOTOS) - 1, {k: r for k, r in answers.items() if r["original"] != r["label"]}


@pytest.mark.parametrize("kind", ["black", "colour", "clutter", "texture"])
def test_background_swap_of_real_test_crops_does_not_change_the_answer(answers, kind):
    """The wall behind the hand replaced by black, a colour, a cluttered scene or a texture, the
    hand and its landmarks kept: the default model answers exactly as on the original crop."""
    changed = {rel: (row["crop"], row[f"{kind}-crop"])
               for rel, row in answers.items() if row[f"{kind}-crop"] != row["crop"]}
    assert not changed, changed


@pytest.mark.parametrize("kind", ["black", "colour", "clutter", "texture"])
def test_background_swap_through_the_whole_pipeline(answers, kind):
    """The swapped photo goes through detection again: MediaPipe's landmarks move a little with the
    background, so up to one answer in 30 may change (measured: 2 of 120 photo-background pairs)."""
    found = {rel: row for rel, row in answers.items() if row[kind] is not None}
    assert len(found) >= len(TEST_PHOTOS) - 3, f"hand lost on {len(TEST_PHOTOS) - len(found)} photos"
    changed = {rel: (row["original"], row[kind]) for rel, row in found.items() if row[kind] != row["original"]}
    assert len(changed) <= 1, changed


def test_a_wrong_handedness_label_does_not_change_the_answer(default_model, shared):
    """MediaPipe's Left/Right label decides the mirroring of crop and pose; a JPEG re-save once flipped it
    and the first fused default read a 3 as a 7. The shipped model is trained with the flip (hflip_p 0.5),
    so a wrong label must not change its answer on real photos of unseen participants."""
    from dataclasses import replace

    clf = default_model
    same = []
    with HandDetector(HAND_MODEL, clf.detect_cfg) as detector:
        for rel in TEST_PHOTOS:
            image = read_image_rgb(DIGITS / rel)
            hand = detector.detect(image)[0]
            flipped = replace(hand, handedness="Right" if hand.is_left else "Left")
            answers = []
            for variant in (hand, flipped):
                crop, pose = hand_sample(image, variant, clf.crop_cfg)
                answers.append(int(clf.classify_crops([crop], [pose])[0].argmax()))
            same.append(answers[0] == answers[1])
    assert sum(same) >= len(TEST_PHOTOS) - 1, [rel for rel, s in zip(TEST_PHOTOS, same) if not s]
