import cv2
import numpy as np
import pytest
from conftest import digit_images

from signcaps.hands.detector import HandDetector
from signcaps.hands.preprocess import ImageReadError, crop_hand, read_image_rgb, square_box, to_image, to_tensor
from signcaps.util.config import CropConfig


def test_square_box_is_square_with_margin():
    marks = np.array([[10, 20], [50, 40]], np.float32)
    box = square_box(marks, margin=0.25)
    assert box.side == round(40 * 1.5)
    assert box.x0 <= 10 and box.x1 >= 50 and box.y0 <= 20 and box.y1 >= 40


def test_crop_at_frame_edge_keeps_size():
    image = np.full((100, 100, 3), 200, np.uint8)
    marks = np.array([[0, 0], [30, 30]], np.float32)
    crop = crop_hand(image, marks, False, CropConfig(input_size=24))
    assert crop.shape == (24, 24, 3) and crop.dtype == np.uint8


def test_mirror_left_hand_flips():
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = 255
    marks = np.array([[0, 0], [63, 63]], np.float32)
    cfg = CropConfig(input_size=16, margin=0.0, mirror_left=True)
    right, left = crop_hand(image, marks, False, cfg), crop_hand(image, marks, True, cfg)
    assert np.array_equal(left, right[:, ::-1])


@pytest.mark.parametrize("channels", [1, 3])
def test_to_tensor_roundtrip(channels):
    cfg = CropConfig(input_size=8, channels=channels)
    crop = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    tensor = to_tensor(crop, cfg)
    assert tensor.shape == (channels, 8, 8) and tensor.dtype == np.float32
    assert -1.0 <= tensor.min() and tensor.max() <= 1.0
    if channels == 3:
        assert np.abs(to_image(tensor, cfg).astype(int) - crop).max() <= 1


@pytest.mark.shared
def test_unreadable_files_are_refused(tmp_path):
    good = digit_images(0, 1)[0]
    truncated = tmp_path / "t.jpg"
    truncated.write_bytes(good.read_bytes()[:800])
    text = tmp_path / "x.jpg"
    text.write_text("not an image")
    for path, reason in [(truncated, "truncated"), (text, "not a decodable"),
                         (tmp_path / "missing.jpg", "cannot read")]:
        with pytest.raises(ImageReadError, match=reason):
            read_image_rgb(path)


def test_hand_in_a_webcam_sized_frame_is_cropped(hand_model):
    """A dataset hand pasted into a 640x480 frame: the crop is centred on it and contains it."""
    hand = read_image_rgb(digit_images(5, 1)[0])
    hand = cv2.resize(hand, (220, 220))
    frame = np.full((480, 640, 3), (90, 110, 130), np.uint8)
    x0, y0 = 350, 160
    frame[y0:y0 + 220, x0:x0 + 220] = hand
    with HandDetector(hand_model, mode="image") as detector:
        hands = detector.detect(frame)
    assert len(hands) == 1
    box = square_box(hands[0].landmarks, CropConfig().margin)
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    assert x0 < cx < x0 + 220 and y0 < cy < y0 + 220
    lx0, ly0, lx1, ly1 = hands[0].box
    assert box.x0 <= lx0 and box.y0 <= ly0 and box.x1 >= lx1 and box.y1 >= ly1
    assert x0 - 20 <= lx0 and lx1 <= x0 + 240 and y0 - 20 <= ly0 and ly1 <= y0 + 240
    crop = crop_hand(frame, hands[0].landmarks, hands[0].is_left, CropConfig(input_size=32))
    assert crop.shape == (32, 32, 3)
    background = np.array((90, 110, 130))
    assert np.abs(crop.reshape(-1, 3).astype(int) - background).sum(1).mean() > 40  # mostly hand, not background
