"""Synthetic negatives on real MediaPipe hands: geometry, signatures, the keep rule, reproducibility."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import digit_images

from signcaps.hands.detector import HandDetector
from signcaps.hands.landmarks import normalize_pose
from signcaps.hands.preprocess import read_image_rgb
from signcaps.signs import negatives as ng
from signcaps.util.config import DetectConfig

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared

PER_DIGIT = 10  # the first ten participants' photos of every digit


@pytest.fixture(scope="module")
def real(hand_model) -> tuple[np.ndarray, np.ndarray]:
    """Normalised poses (right hands, left ones mirrored as the default recipe does) and labels."""
    poses, labels = [], []
    with HandDetector(hand_model, DetectConfig(), mode="image") as detector:
        for digit in range(10):
            for path in digit_images(digit, PER_DIGIT):
                hands = detector.detect(read_image_rgb(path))
                if hands:
                    poses.append(normalize_pose(hands[0].points, hands[0].is_left, True))
                    labels.append(digit)
    return np.stack(poses), np.array(labels)


@pytest.fixture(scope="module")
def generator(real) -> ng.SyntheticNegatives:
    return ng.SyntheticNegatives(*real)


def of(real, digit: int) -> np.ndarray:
    poses, labels = real
    return poses[labels == digit]


def test_palm_normal_points_to_the_side_curled_fingers_go(real):
    """The convention every edit relies on: + is the palm side (curled tips of real "1"s lie there)."""
    heights = [(pose[[12, 16, 20]] - pose[0]) @ ng.palm_normal(pose) for pose in of(real, 1)]
    assert np.mean(np.array(heights) > 0) >= 0.95
    frame = ng.hand_frame(of(real, 5)[0])
    assert np.allclose(np.stack(frame) @ np.stack(frame).T, np.eye(3), atol=1e-6)
    assert (of(real, 5)[0][4] - of(real, 5)[0][20]) @ frame.side > 0  # `side` points from the pinky to the thumb


def test_finger_angles_are_the_inverse_of_set_finger(real):
    for pose in of(real, 1)[:3]:
        for finger in ng.FINGERS:
            angles = ng.finger_angles(pose, finger)
            rebuilt = ng.set_finger(pose, finger, angles[:3], angles[3], angles[3:] - angles[3])
            assert np.allclose(rebuilt, pose, atol=1e-5)


def test_curled_fingertips_end_on_the_palm_side_and_bones_keep_their_length(real):
    rng = np.random.default_rng(0)
    for pose in of(real, 5):
        for finger in ng.FINGERS:
            curled = ng.shape_finger(pose, finger, "curled", rng)
            tip = ng.CHAINS[finger][3]
            assert (curled[tip] - curled[0]) @ ng.palm_normal(curled) > 0
            assert np.allclose(ng.bone_lengths(curled, finger), ng.bone_lengths(pose, finger), atol=1e-5)
            untouched = [j for j in range(21) if j not in ng.CHAINS[finger][1:]]
            assert np.array_equal(curled[untouched], pose[untouched])
        assert ng.finger_signature(ng.apply_edit(pose, "fist_s", rng)).fingers == "cccc"


def test_every_edit_keeps_every_bone_length_and_the_palm(real):
    rng = np.random.default_rng(1)
    poses, _ = real
    for name in ng.EDITS:
        for pose in poses[::9]:
            out = ng.apply_edit(pose, name, rng)
            assert out.shape == (21, 3) and out.dtype == np.float32 and np.isfinite(out).all()
            assert np.array_equal(out[[0, 1, 5, 9, 13, 17]], pose[[0, 1, 5, 9, 13, 17]]), name  # wrist, CMC, knuckles
            for chain in ng.CHAINS:
                assert np.allclose(ng.bone_lengths(out, chain), ng.bone_lengths(pose, chain), atol=1e-5), name


def test_the_thumb_reaches_a_target_within_reach_and_bends_towards_its_side(real):
    rng = np.random.default_rng(2)
    pose = of(real, 5)[0]
    for place in ng.THUMB_PLACES:
        target = ng.thumb_target(pose, place, rng)
        out = ng.place_thumb(pose, target)
        reach = ng.bone_lengths(pose, "thumb").sum()
        if np.linalg.norm(target - pose[1]) < 0.95 * reach:
            assert np.linalg.norm(out[4] - target) < 1e-3, place
        assert np.allclose(ng.bone_lengths(out, "thumb"), ng.bone_lengths(pose, "thumb"), atol=1e-5)
        assert np.array_equal(out[:2], pose[:2]) and np.array_equal(out[5:], pose[5:])


def test_signatures_of_one_digit_agree_with_each_other(generator):
    for digit, shares in generator.class_signatures.items():
        assert max(shares.values()) >= 0.5, (digit, shares)
        fingers = Counter()
        for signature, share in shares.items():
            fingers[signature.fingers] += share
        assert max(fingers.values()) >= 0.75, (digit, fingers)
    assert generator.class_signatures[5] != generator.class_signatures[4]


def test_real_digits_are_not_kept_as_negatives(real, generator):
    """Only a shape that one photo of a class shows is not forbidden (a class's shapes need two)."""
    poses, labels = real
    kept = [pose for pose in poses if generator.allows(pose)]
    assert len(kept) <= 0.05 * len(poses)
    once = {s for label, shares in generator.class_signatures.items() for s, share in shares.items()
            if share * np.sum(labels == label) < 1.5}
    assert all(ng.finger_signature(pose) in once for pose in kept)


def test_a_fist_made_from_a_real_five_is_kept(real, generator):
    for pose in of(real, 5):
        made = generator.generate(pose, np.random.default_rng(0), edit="fist_s")
        assert made is not None and made[1] == "fist_s"
        assert not set(ng.signature_candidates(made[0])) & generator.forbidden


def test_an_edit_that_recreates_a_digit_is_not_kept(real, generator):
    """A real 4 with its thumb moved out is a 5: that edit is refused, every try."""
    five = max(generator.class_signatures[5], key=generator.class_signatures[5].get)
    for pose in of(real, 4):
        edited = ng.apply_edit(pose, "thumb_out", np.random.default_rng(0))
        assert ng.finger_signature(edited) == five and not generator.allows(edited)
        assert generator.generate(pose, np.random.default_rng(0), edit="thumb_out") is None


def test_the_forbidden_set_comes_from_the_classes_given(real):
    """A user's own three signs: a 4 is no sign of theirs, so an edit that makes a 4 may be kept."""
    poses, labels = real
    mine = np.isin(labels, [1, 2, 5])
    own = ng.SyntheticNegatives(poses[mine], labels[mine])
    assert set(own.class_signatures) == {1, 2, 5}
    assert all(own.allows(pose) for pose in of(real, 4))
    assert not any(own.allows(pose) for pose in of(real, 1))


def test_the_same_seed_gives_the_same_negatives(real, generator):
    poses, _ = real
    first = [generator(pose, np.random.default_rng(11)) for pose in poses[::7]]
    again = [generator(pose, np.random.default_rng(11)) for pose in poses[::7]]
    other = [generator(pose, np.random.default_rng(12)) for pose in poses[::7]]
    assert all(a is not None for a in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    one, two = np.random.default_rng(3), np.random.default_rng(3)  # one stream over many hands, as an epoch runs
    made = [(generator.generate(pose, one), generator.generate(pose, two)) for pose in poses]
    assert sum(a is None for a, _ in made) <= 0.05 * len(poses)
    assert all((a is None and b is None) or (a[1] == b[1] and np.array_equal(a[0], b[0])) for a, b in made)


def test_weights_choose_the_edits_and_bad_arguments_are_refused(real):
    poses, labels = real
    only = ng.SyntheticNegatives(poses, labels, edits={"fist_a": 1.0, "thumb_pinky": 0.0})
    rng = np.random.default_rng(4)
    assert {only.generate(pose, rng)[1] for pose in poses[:20]} == {"fist_a"}
    with pytest.raises(ValueError, match="unknown edits"):
        ng.SyntheticNegatives(poses, labels, edits=["fist_z"])
    with pytest.raises(ValueError, match="matching"):
        ng.SyntheticNegatives(poses, labels[:-1])


def test_a_pose_without_a_readable_shape_is_never_kept(real, generator):
    broken = of(real, 5)[0].copy()
    broken[8] = np.nan
    assert not generator.allows(broken) and not generator.allows(np.zeros((21, 3), np.float32))
    with pytest.raises(ValueError, match="no readable shape"):
        ng.finger_signature(broken)
    poses, labels = real
    with_broken = ng.SyntheticNegatives(np.concatenate([poses, broken[None]]), np.append(labels, 5))
    assert with_broken.forbidden == generator.forbidden
