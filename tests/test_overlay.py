"""The overlay explains itself: labelled threshold lines, handedness written out, the processing rate,
the window's key hint, and readable bars for models with many classes (the top 5 of 24 letters)."""
from __future__ import annotations

import numpy as np
import pytest

from signcaps.live import overlay

LETTERS = [chr(ord("A") + i) for i in range(26) if chr(ord("A") + i) not in "JZ"]  # 24 static letters


class _Letters:
    """A fake classifier with 24 class names and fixed capsule lengths (the live loop's interface)."""

    classes = LETTERS
    has_reconstruction = False

    def __init__(self, lengths: np.ndarray) -> None:
        from signcaps.util.config import CropConfig, DetectConfig

        self.crop_cfg, self.detect_cfg, self.lengths = CropConfig(), DetectConfig(), lengths

    def classify(self, batch):
        return np.repeat(self.lengths[None], len(batch), axis=0)


class _Hand:
    def __init__(self, x: float, y: float, handedness: str = "Left", side: float = 120.0) -> None:
        self.landmarks = np.array([[x - side / 2 + 5 * i, y - side / 2 + 5 * i] for i in range(21)], np.float32)
        self.handedness, self.score = handedness, 0.9

    @property
    def is_left(self) -> bool:
        return self.handedness == "Left"

    @property
    def box(self):
        return (0, 0, 1, 1)


@pytest.fixture
def written(monkeypatch) -> list[str]:
    """Every text the overlay writes on a frame."""
    texts: list[str] = []
    draw = overlay._text

    def recording(img, text, *args, **kwargs):
        texts.append(text)
        return draw(img, text, *args, **kwargs)

    monkeypatch.setattr(overlay, "_text", recording)
    return texts


def _letters_frame(lengths: np.ndarray):
    from signcaps.live.capture import Frame
    from signcaps.live.loop import LiveConfig, Recogniser, annotate

    image = np.full((480, 640, 3), 90, np.uint8)
    recogniser = Recogniser(_Letters(lengths), LiveConfig(threshold=0.5, reuse=None).check())
    result = recogniser(image, [_Hand(420, 300)], Frame(image, 0, 0), {})
    return annotate(image.copy(), result, recogniser, 24.5), result, recogniser


def test_many_classes_show_the_top_5_bars_longest_first_and_json_keeps_every_length(written):
    lengths = np.linspace(0.02, 0.3, 24).astype(np.float32)
    lengths[[7, 3, 11, 20, 0]] = [0.91, 0.55, 0.42, 0.35, 0.31]  # H, D, M, V, A: the five longest, in this order
    image, result, recogniser = _letters_frame(lengths)
    assert overlay.shown_bars(lengths, 24) == [7, 3, 11, 20, 0]
    labels = [t for t in written if t in LETTERS]
    assert labels == ["H", "H", "D", "M", "V", "A", "H"]  # the answer, the five bars, the answer by the hand
    assert "top 5 of 24" in written
    # the panel is as tall as five bars (not 24 thin ones): nothing drawn below it on the left
    width, height = overlay.panel_size(image.shape, LETTERS, False)
    assert height < overlay.panel_size(image.shape, 10, False)[1]
    assert (image[8 + height + 2:470, 8:8 + width] == 90).all()
    # the bars are sorted: the filled length of each of the five rows decreases
    s = overlay.scale_for(image.shape)
    row, header = max(8, int(round(18 * s))), int(round(40 * s))
    filled = [int(((image[8 + header + k * row + row // 2, 8:8 + width] == overlay.BAR).all(axis=1)
                   | (image[8 + header + k * row + row // 2, 8:8 + width] == overlay.WIN).all(axis=1)).sum())
              for k in range(5)]
    assert filled == sorted(filled, reverse=True) and filled[0] > filled[-1] > 0, filled
    # JSON keeps every capsule length
    row_json = result.to_json(recogniser.classes)["hands"][0]
    assert len(row_json["confidences"]) == 24 and row_json["best"] == "H"


def test_few_classes_keep_a_bar_each():
    assert overlay.shown_bars(np.linspace(0, 1, 10), 10) == list(range(10))
    assert overlay.shown_bars(np.linspace(0, 1, 12), 12) == list(range(12))


def test_lines_labelled_handedness_written_out_and_the_processing_rate(written):
    lengths = np.full(24, 0.1, np.float32)
    lengths[2] = 0.87
    _letters_frame(lengths)
    assert {"sign", "len 0.87", "Left hand", "processing 24.5 fps"} <= set(written), written
    assert "L" not in written[:3]  # the handedness is no longer one letter beside the answer
    written.clear()
    image = np.zeros((480, 640, 3), np.uint8)
    marks = np.array([[300 + i, 250 + 2 * i] for i in range(21)], np.float32)
    view = overlay.HandView(0, marks, (280, 230, 360, 320), np.linspace(0.1, 0.9, 10), "9", "Right")
    overlay.draw_frame(image, [view], [str(d) for d in range(10)], 0.5, slots=1, none_below=0.3)
    assert {"sign", "none", "Right hand"} <= set(written)


def test_the_window_always_shows_the_key_hint_and_never_in_the_saved_frame():
    from signcaps.live.window import KEY_HINT, Window

    assert KEY_HINT.startswith("q quit") and "h keys" in KEY_HINT
    frame = np.full((480, 640, 3), 100, np.uint8)
    shown = Window()._decorate(frame)
    assert (frame == 100).all(), "the frame itself (videos, screenshots) stays clean"
    assert (shown[440:480, 150:490] != 100).any() and (shown[:440] == 100).all()
    helped = Window(help=True)._decorate(frame)
    assert (helped[200:280, 250:390] != 100).any()  # the keys box in the middle


@pytest.mark.shared
def test_the_readme_screenshot_renders_from_a_real_photo(written):
    """tests/screenshot.py (docs/live-window.png) on the shared photo with the shipped model and MediaPipe."""
    import screenshot

    image = screenshot.render(frames=2)
    assert image.shape == (480, 640, 3)
    assert written[0] == "3" and {"sign", "none"} <= set(written)  # the answer, the lines' labels
    assert any(t.endswith(" hand") for t in written) and any(t.startswith("processing ") for t in written)


def test_the_spelled_text_is_drawn_and_a_long_one_shows_its_end():
    """live --compose on letters: the text line at the bottom left; a text wider than the frame keeps its newest
    letters (led by "...") inside the frame."""
    import numpy as np

    from signcaps.live.overlay import draw_spelling

    short = draw_spelling(np.full((480, 640, 3), 200, np.uint8), "SEE YOU", 0.5)
    changed = np.argwhere((short != 200).any(axis=2))
    assert len(changed) and changed[:, 0].min() > 300 and changed[:, 1].max() < 320  # bottom left, not wide
    long = draw_spelling(np.full((480, 640, 3), 200, np.uint8), "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG " * 3, 0.0)
    changed = np.argwhere((long != 200).any(axis=2))
    assert changed[:, 1].max() < 640 - 8 and changed[:, 1].max() > 400  # as wide as fits, and no wider
