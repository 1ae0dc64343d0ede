"""The README's pictures of the live window (docs/live-window.png, docs/live-letters.png), rendered
from real shared photos.

    PYTHONPATH=. python tests/screenshot.py docs/live-window.png
    PYTHONPATH=. python tests/screenshot.py docs/live-letters.png --signs letters

One digit photo of ../shared (3/IMG_1121.JPG, a participant of the test split) is pasted onto a
640x480 frame as in the live tests' clips (tests/videos.py), the real hand model finds the hand,
the shipped model recognises it through the live loop's `Recogniser`, and the overlay is drawn as
the window shows it: the panel, the labelled threshold lines, the processing rate (measured on
these frames, not made up) and the key hint. No window or X server is needed, so the picture can
be retaken anywhere; `tests/test_live.py` renders it in a test and checks what it shows.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np
import videos

PHOTO = (3, "IMG_1121.JPG")
FRAMES = 12  # frames timed for the processing rate in the corner


LETTER = ("valid", "Y", "Y0")  # a held-out letter photo (no model trained on valid/)


def letter_frame(letter: tuple[str, str, str] = LETTER, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A held-out letter photo, its 4:3 squash undone, centred on a frame of its own wall colour (BGR)."""
    from signcaps.data.crops import stretch

    split, name, original = letter
    path = sorted((videos.DATASET.parent / "asl-letters" / split / name).glob(f"{original}_jpg.rf.*.jpg"))[0]
    photo = stretch(cv2.imread(str(path), cv2.IMREAD_COLOR), 0.75)
    scale = size[1] / photo.shape[0]
    photo = cv2.resize(photo, (int(photo.shape[1] * scale), size[1]), interpolation=cv2.INTER_AREA)
    frame = np.empty((size[1], size[0], 3), np.uint8)
    frame[:] = videos.background_colour(photo)
    x0 = (size[0] - photo.shape[1]) // 2
    frame[:, x0:x0 + photo.shape[1]] = photo
    return frame


def render(classifier=None, photo: tuple[int, str] = PHOTO, frames: int = FRAMES,
           image: np.ndarray | None = None) -> np.ndarray:
    """The annotated 640x480 frame with the window's key hint, as BGR (`image`: this frame instead
    of the digit photo)."""
    from signcaps.hands.detector import HandDetector
    from signcaps.live.capture import Frame
    from signcaps.live.loop import LiveConfig, Recogniser, _detect_config, annotate
    from signcaps.live.overlay import draw_hint
    from signcaps.live.window import KEY_HINT
    from signcaps.runtime.classifier import load_classifier

    classifier = classifier or load_classifier(None)
    cfg = LiveConfig().check()
    recogniser = Recogniser(classifier, cfg)
    if image is None:
        image = videos.compose(videos.dataset_photo(photo[0], photo[1]), (640, 480), (400, 270), 2.3)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    with HandDetector(videos.HAND_MODEL, _detect_config(classifier, cfg.hands), mode="video") as detector:
        started = time.perf_counter()
        for index in range(frames):  # the loop's work per frame, as live measures its rate
            result = recogniser(rgb, detector.detect(rgb, index * 33), Frame(image, index, index * 33), {})
        fps = frames / (time.perf_counter() - started)
    shown = annotate(image.copy(), result, recogniser, fps)
    return draw_hint(shown, KEY_HINT)


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1:] != ["--signs", "letters"]):
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    target = Path(argv[0])
    if len(argv) == 3:
        from signcaps.runtime.classifier import load_classifier

        shown = render(load_classifier(None, signs="letters"), image=letter_frame())
    else:
        shown = render()
    cv2.imwrite(str(target), shown, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{target}: {target.stat().st_size / 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
