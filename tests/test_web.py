"""The browser target: the page's JavaScript preprocessing against signcaps.preprocess (node), the
site build, and the page itself in headless Chromium with a fake camera against the Python runtime."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import DIGITS, HAND_MODEL, ROOT

WEB = ROOT / "deploy" / "web"
NODE = shutil.which("node")


def reference_normalize_pose(points: np.ndarray, is_left: bool, mirror_left: bool) -> np.ndarray:
    """LOCAL COPY of the lead's `signcaps.landmarks.normalize_pose` (ONNX format version 2), until
    that module lands: then replace this function by `from signcaps.landmarks import normalize_pose`."""
    p = np.asarray(points, np.float32).copy()
    if mirror_left and is_left:
        p[:, 0] = -p[:, 0]
    p -= p[0]
    scale = max(float(np.linalg.norm(p[9])), 1e-6)
    return p / scale


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()


def _floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.float32)


def run_node_parity(tmp_path: Path, cases: dict) -> dict:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    done = subprocess.run([NODE, str(WEB / "test" / "parity.mjs"), str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")


# ------------------------------------------------------------------ preprocessing parity (node)

# Largest difference allowed between the page's model input and signcaps.preprocess.to_batch:
# the JS reproduces OpenCV's arithmetic, so the crops are expected to be identical; one grey
# level (1/255/std) is allowed for rounding in INTER_LINEAR, the rare tiny-hand path.
PARITY_TOL = 1.0 / 255.0 / 0.5 + 1e-6
POSE_TOL = 1e-5


def _dataset_hands(count_per_digit: int = 2):
    """(RGB image, landmarks, is_left) of real dataset photos, landmarks from real MediaPipe."""
    from signcaps.config import DetectConfig
    from signcaps.hands import HandDetector
    from signcaps.preprocess import read_image_rgb

    found = []
    with HandDetector(HAND_MODEL, DetectConfig(), mode="image") as detector:
        for digit in range(10):
            for path in sorted((DIGITS / str(digit)).glob("*.JPG"))[:count_per_digit]:
                image = read_image_rgb(path)
                hands = detector.detect(image)
                found.append((image, hands[0].landmarks if hands else None, hands[0].is_left if hands else False))
    return found


@needs_node
@pytest.mark.parametrize("mirror_left,channels", [(False, 1), (True, 3)])
def test_js_preprocessing_equals_python(tmp_path, mirror_left, channels):
    from signcaps.config import CropConfig
    from signcaps.preprocess import SquareBox, crop_hand, crop_square, to_batch

    cfg = CropConfig(input_size=32, channels=channels, margin=0.2, mirror_left=mirror_left, mean=0.5, std=0.5)
    hands = _dataset_hands()
    # the dataset photos, and the same photos scaled up into a 640x480 frame as the live page sees them
    frames = []
    for image, landmarks, is_left in hands[::3]:
        big = cv2.resize(image, (230, 230), interpolation=cv2.INTER_CUBIC)
        frame = np.full((480, 640, 3), big[0, 0], np.uint8)
        frame[100:330, 300:530] = big
        frames.append((frame, None if landmarks is None else landmarks * 2.3 + np.float32([300, 100]), not is_left))
    samples = hands + frames
    images = [image for image, _, _ in samples]
    cases = {"cfg": {"input_size": cfg.input_size, "channels": cfg.channels, "margin": cfg.margin,
                     "mirror_left": cfg.mirror_left, "mean": cfg.mean, "std": cfg.std},
             "images": [{"rgb": _b64(im), "width": im.shape[1], "height": im.shape[0]} for im in images],
             "crops": [{"image": i, "landmarks": None if lm is None else lm.astype(float).tolist(), "is_left": bool(left)}
                       for i, (_, lm, left) in enumerate(samples)],
             "squares": [], "poses": []}
    # every resize path: linear upscale, unchanged, 2x and 3x box averages, generic area, boxes past the edges
    for i in range(0, len(images), 4):
        for side, x0, y0 in [(20, 10, 12), (32, 40, 30), (64, 5, 7), (96, -20, 3), (77, 50, -9), (47, 60, 60), (250, -100, -60), (23, 90, 90)]:
            cases["squares"].append({"image": i, "box": {"x0": x0, "y0": y0, "side": side}, "size": 32})
    got = run_node_parity(tmp_path, cases)

    expected = to_batch([crop_hand(im, lm, left, cfg) for im, lm, left in samples], cfg)
    tensors = np.stack([_floats(c["tensor"]).reshape(expected.shape[1:]) for c in got["crops"]])
    diff = np.abs(tensors - expected)
    assert diff.max() <= PARITY_TOL, f"max |JS - Python| {diff.max():.3g} on sample {int(diff.reshape(len(diff), -1).max(1).argmax())}"
    exact = int((diff.reshape(len(diff), -1).max(1) == 0).sum())
    assert exact == len(samples), f"only {exact}/{len(samples)} crops are bit-identical"
    for spec, result in zip(cases["squares"], got["squares"]):
        box = SquareBox(**spec["box"])
        want = crop_square(images[spec["image"]], box, 32)
        have = np.frombuffer(base64.b64decode(result), np.uint8).reshape(want.shape)
        worst = int(np.abs(have.astype(int) - want.astype(int)).max())
        # INTER_AREA (every hand larger than the input) is bit-exact; INTER_LINEAR (smaller) may be off by one
        assert worst <= (0 if spec["box"]["side"] >= 32 else 1), f"box {spec['box']}: max difference {worst} grey levels"


@needs_node
def test_js_pose_normalisation_equals_python(tmp_path):
    """The page's normalize_pose on real MediaPipe landmarks (x*W, y*H, z*W), both hands, mirrored or not."""
    from signcaps.config import DetectConfig
    from signcaps.preprocess import read_image_rgb
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.HandLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(HAND_MODEL)),
                                           num_hands=1, min_hand_detection_confidence=DetectConfig().min_detection_confidence)
    points = []
    with vision.HandLandmarker.create_from_options(options) as landmarker:
        for digit in range(10):
            image = read_image_rgb(sorted((DIGITS / str(digit)).glob("*.JPG"))[5])
            image = cv2.copyMakeBorder(image, 30, 30, 30, 30, cv2.BORDER_REPLICATE)
            h, w = image.shape[:2]
            result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
            for marks in result.hand_landmarks:
                points.append(np.array([[p.x * w, p.y * h, p.z * w] for p in marks], np.float32))
    assert len(points) >= 8
    points.append(np.zeros((21, 3), np.float32))  # a degenerate hand: the 1e-6 floor of the scale
    pose = {"joints": 21, "normalization": "wrist-centred-v1", "origin": 0, "scale_joint": 9}
    cases = [(p, left, mirror) for p in points for left in (False, True) for mirror in (False, True)]
    got = run_node_parity(tmp_path, {"cfg": {}, "images": [], "crops": [], "squares": [], "poses": [
        {"points": p.astype(float).tolist(), "is_left": left, "pose": {**pose, "mirror_left": mirror}} for p, left, mirror in cases]})
    for (p, left, mirror), result in zip(cases, got["poses"]):
        want = reference_normalize_pose(p, left, mirror)
        have = _floats(result).reshape(21, 3)
        assert np.abs(have - want).max() <= POSE_TOL
