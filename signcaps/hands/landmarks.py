"""Hand pose from MediaPipe's 21 landmarks: the ONE normalisation, the part layout, pose augmentation.

Why landmarks: a network that reads pixels learns the training photos' wall and light together
with the hand shape (the image-only default labelled 21% of an independent photo set correctly);
the landmarks come from MediaPipe, which was trained on far more people, cameras and scenes, so
a classifier of their geometry inherits that robustness.

`normalize_pose` is called by training (the crop cache's points), export's parity check, `predict`,
`live` and the web page (a JavaScript copy guarded by a parity test). Numpy only: the torch-free
runtime depends on this module.
"""
from __future__ import annotations

import numpy as np

NUM_JOINTS = 21
WRIST = 0
MIDDLE_MCP = 9  # the scale reference: wrist -> middle-finger knuckle is stable across finger poses
TIPS = (4, 8, 12, 16, 20)

# MediaPipe's 21-landmark skeleton, as (start, end) index pairs, for drawing and hand masks.
HAND_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
    (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)

# Part capsules of the pose encoder: the palm and one per finger (MediaPipe's joint numbering).
PARTS: dict[str, tuple[int, ...]] = {
    "palm": (0, 1, 5, 9, 13, 17),
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}

# What an exported model's metadata says about its pose input (the web page reads it).
POSE_META = {"joints": NUM_JOINTS, "normalization": "wrist-centred-v1", "origin": WRIST, "scale_joint": MIDDLE_MCP}


def normalize_pose(points: np.ndarray, is_left: bool, mirror_left: bool) -> np.ndarray:
    """(21, 3) landmarks in frame pixels (x, y, z * width) -> wrist-centred, scale-free pose.

    Left hands are mirrored (x -> -x) when `mirror_left`, exactly as `preprocess.crop_hand`
    mirrors their crop, so image and pose always show the same hand. The scale is the 3-D
    wrist -> middle-knuckle distance: unlike the bounding box it does not change when fingers
    open or close, and it is the same for a near and a far hand.
    """
    pose = np.asarray(points, np.float32).reshape(NUM_JOINTS, 3).copy()
    if mirror_left and is_left:
        pose[:, 0] = -pose[:, 0]
    pose -= pose[WRIST]
    scale = max(float(np.linalg.norm(pose[MIDDLE_MCP])), 1e-6)
    return pose / scale


def normalize_poses(points: np.ndarray, left: np.ndarray, mirror_left: bool) -> np.ndarray:
    """`normalize_pose` over a batch: (N, 21, 3) points, (N,) left flags -> (N, 21, 3) float32."""
    if len(points) == 0:
        return np.zeros((0, NUM_JOINTS, 3), np.float32)
    return np.stack([normalize_pose(p, bool(is_left), mirror_left) for p, is_left in zip(points, left)])


def rotation_3d(rx_deg: float, ry_deg: float) -> np.ndarray:
    """Rotation about the image x then y axis: the hand tilted towards or away from the camera."""
    ax, ay = np.deg2rad(rx_deg), np.deg2rad(ry_deg)
    rot_x = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]], np.float32)
    rot_y = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]], np.float32)
    return rot_y @ rot_x


def augment_pose(pose: np.ndarray, rng: np.random.Generator, linear_2d: np.ndarray | None = None,
                 flip: bool = False, tilt_deg: float = 0.0, jitter: float = 0.0) -> np.ndarray:
    """A normalised pose moved the way its image crop was (and a little more), then renormalised.

    `linear_2d` is the 2x2 part of the crop's affine warp (rotation, scale, shear) and `flip` its
    horizontal flip, so pose and pixels stay consistent; `tilt_deg` adds an out-of-plane rotation
    the image cannot show, `jitter` per-joint noise like MediaPipe's own (in wrist-knuckle units).
    """
    pose = np.asarray(pose, np.float32).copy()
    if linear_2d is not None:
        pose[:, :2] = pose[:, :2] @ np.asarray(linear_2d, np.float32).T
    if flip:
        pose[:, 0] = -pose[:, 0]
    if tilt_deg > 0:
        pose = pose @ rotation_3d(*rng.uniform(-tilt_deg, tilt_deg, size=2)).T
    if jitter > 0:
        pose = pose + rng.normal(0.0, jitter, size=pose.shape).astype(np.float32)
    return normalize_pose(pose, False, False)
