"""The one pose normalisation and the pose augmentation: pure numpy, no data needed."""
import numpy as np
import pytest

from signcaps.hands.landmarks import (
    MIDDLE_MCP,
    NUM_JOINTS,
    WRIST,
    augment_pose,
    normalize_pose,
    normalize_poses,
    rotation_3d,
)


@pytest.fixture
def points() -> np.ndarray:
    return np.random.default_rng(0).normal(200, 40, (NUM_JOINTS, 3)).astype(np.float32)


def test_pose_is_wrist_centred_and_scale_free(points):
    pose = normalize_pose(points, False, True)
    assert pose.shape == (21, 3) and pose.dtype == np.float32
    assert np.allclose(pose[WRIST], 0)
    assert np.linalg.norm(pose[MIDDLE_MCP]) == pytest.approx(1.0, abs=1e-6)
    moved = points * 2.5 + np.array([30, -12, 7], np.float32)  # the same hand nearer the camera, elsewhere
    assert np.allclose(normalize_pose(moved, False, True), pose, atol=1e-5)


def test_left_hands_are_mirrored_only_when_asked(points):
    right = normalize_pose(points, False, True)
    left = normalize_pose(points, True, True)
    assert np.allclose(left[:, 0], -right[:, 0]) and np.allclose(left[:, 1:], right[:, 1:])
    assert np.allclose(normalize_pose(points, True, False), right)
    mirrored_photo = points * np.array([-1, 1, 1], np.float32) + np.array([640, 0, 0], np.float32)
    assert np.allclose(normalize_pose(mirrored_photo, True, True), right, atol=1e-5)  # a mirrored photo reads the same


def test_batch_normalisation_matches_one_by_one(points):
    batch = np.stack([points, points + 3])
    out = normalize_poses(batch, np.array([True, False]), True)
    assert np.allclose(out[0], normalize_pose(points, True, True))
    assert np.allclose(out[1], normalize_pose(points + 3, False, True))
    assert normalize_poses(np.zeros((0, 21, 3)), np.zeros(0, bool), True).shape == (0, 21, 3)


def test_degenerate_hand_does_not_divide_by_zero():
    pose = normalize_pose(np.zeros((21, 3)), False, False)
    assert np.isfinite(pose).all()


def test_tilt_is_a_rotation_and_augmented_poses_stay_normalised(points):
    rot = rotation_3d(10, -20)
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-6)
    pose = normalize_pose(points, False, False)
    out = augment_pose(pose, np.random.default_rng(0), tilt_deg=20, jitter=0.02)
    assert np.allclose(out[WRIST], 0) and np.linalg.norm(out[MIDDLE_MCP]) == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(out, pose)
    assert np.allclose(augment_pose(pose, np.random.default_rng(0)), pose, atol=1e-6)  # no change asked: none made
