"""The README's picture of the live window (docs/live-window.png), rendered from a real shared photo.

    PYTHONPATH=. python tests/screenshot.py docs/live-window.png

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


def render(classifier=None, photo: tuple[int, str] = PHOTO, frames: int = FRAMES) -> np.ndarray:
    """The annotated 640x480 frame with the window's key hint, as BGR."""
    from signcaps.hands.detector import HandDetector
    from signcaps.live.capture import Frame
    from signcaps.live.loop import LiveConfig, Recogniser, _detect_config, annotate
    from signcaps.live.overlay import draw_hint
    from signcaps.live.window import KEY_HINT
    from signcaps.runtime.classifier import load_classifier

    classifier = classifier or load_classifier(None)
    cfg = LiveConfig().check()
    recogniser = Recogniser(classifier, cfg)
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
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    target = Path(argv[0])
    cv2.imwrite(str(target), render(), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{target}: {target.stat().st_size / 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
