"""J and Z on real photos moved along paths, through the real MediaPipe hand model (VIDEO mode) and
the shipped letters model, as `live` sees them (tests/motionclips.py builds the clips).

A few clips run by default (about a second each); the whole report matrix of train/motion_eval.py
runs under `-m exhaustive` and checks the issue's targets with the shipped settings.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.shared  # real photos and the hand model from ../shared


@pytest.fixture(scope="module")
def tracker():
    from motionclips import Tracker

    return Tracker()


def clip(kind: str, path: str, nth: int = 0, **settings):
    """A clip of the report half's `nth` photo of `kind` drawing `path`."""
    from motionclips import SHARED, ClipSpec, photo_sets

    photo = photo_sets("report")[kind][nth]
    base = dict(size=1.8, duration=0.9, fps=25.0, mirror=False, orient=1.0, seed=nth, hand_px=95.0)
    return ClipSpec(str(photo.relative_to(SHARED)), kind, path, **{**base, **settings})


# (handshape, path, photo, settings): photos MediaPipe finds at rest at this size; each kind of motion once
CASES = [
    ("I", "J", 4, {"mirror": True, "size": 1.3, "duration": 1.2, "distort": 0.8}),
    ("D", "Z", 0, {"corner_stops": True, "orient": -1.0}),
    ("1", "Z", 2, {"mirror": True, "fps": 30.0, "size": 2.2, "duration": 0.7}),
    ("I", "circle", 1, {}),
    ("D", "slide", 1, {"duration": 0.4}),
    ("1", "line-diagonal", 2, {}),
    ("I", "jitter", 4, {}),
]


@pytest.mark.parametrize("kind, path, nth, settings", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_real_hand_drawing_a_path(tracker, tmp_path: Path, kind: str, path: str, nth: int, settings: dict) -> None:
    from motionclips import cached_track, spot

    spec = clip(kind, path, nth, **settings)
    track = cached_track(spec, tmp_path, tracker)
    rest = track.times < 0.5
    assert np.mean(~np.isnan(track.landmarks[rest, 0, 0])) >= 0.8, "MediaPipe lost the still hand: not a motion test"
    assert spot(track) == ([spec.expect] if spec.expect else [])


@pytest.mark.exhaustive
def test_report_matrix_reaches_the_targets_with_the_shipped_settings(tmp_path: Path) -> None:
    """>= 90% of J and Z clips right, no J or Z on any other clip (train/README.md, "J and Z"); the
    report half's ~330 clips through MediaPipe (minutes)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    import motion_eval

    from signcaps.signs.motion import MotionConfig

    cells = motion_eval.measure_shipped(MotionConfig(), cache=tmp_path)
    for group in ("J (I)", "Z (D, 1)"):
        right, total = cells[group]
        assert right >= 0.9 * total, (group, cells)
    for group in ("distractor paths", "other hands on J/Z paths"):
        right, total = cells[group]
        assert right == total, (group, cells)
