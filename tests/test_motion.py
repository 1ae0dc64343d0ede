"""J and Z from motion (signs/motion.py, signs/strokes.py) on synthetic tracks: pure, no ../shared.

The hands are `motionpaths.synthetic_hand` landmarks moved along `motionpaths` paths, with a pixel
of landmark noise per frame; tests/test_motion_clips.py runs real photos through MediaPipe.
"""
from __future__ import annotations

import numpy as np
import pytest
from motionpaths import DISTRACTOR_PATHS, synthetic_hand, timeline

from signcaps.signs import strokes
from signcaps.signs.motion import MotionConfig, MotionError, MotionSpotter, handshape
from signcaps.util.errors import UserError

HAND = {"J": "I", "Z": "index"}


def run(path: str, shape: str, *, fps: float = 30.0, duration: float = 0.9, size: float = 1.8, palm: float = 60.0,
        thumb: float = 1.0, at: tuple[float, float] = (300.0, 300.0), noise: float = 1.0, seed: int = 0,
        label: str | None = None, cfg: MotionConfig | None = None) -> list[tuple[int, str]]:
    """(frame, letter) for every letter a fresh spotter returns on the hand drawing `path`."""
    rng = np.random.default_rng(seed)
    hand = synthetic_hand(shape, palm, thumb) + np.array(at)
    spotter = MotionSpotter(cfg)
    out = []
    for k, offset in enumerate(timeline(path, fps, duration, size * palm, thumb, rng=rng)):
        letter = spotter.update(k / fps, hand + offset + rng.normal(0, noise, (21, 2)), label, None)
        if letter:
            out.append((k, letter))
    return out


@pytest.mark.parametrize("letter", ["J", "Z"])
@pytest.mark.parametrize("fps, duration", [(30, 0.5), (30, 1.3), (15, 0.9), (60, 0.7)])
def test_letters_at_every_speed_and_frame_rate(letter: str, fps: float, duration: float) -> None:
    assert [x for _, x in run(letter, HAND[letter], fps=fps, duration=duration)] == [letter]


@pytest.mark.parametrize("letter", ["J", "Z"])
@pytest.mark.parametrize("size, palm, at, thumb", [
    (1.0, 40.0, (100.0, 80.0), 1.0), (2.5, 90.0, (500.0, 150.0), 1.0),
    (1.6, 60.0, (200.0, 300.0), -1.0), (2.0, 120.0, (900.0, 600.0), -1.0)])
def test_letters_at_any_size_place_and_either_hand(letter: str, size: float, palm: float, at, thumb: float) -> None:
    assert [x for _, x in run(letter, HAND[letter], size=size, palm=palm, at=at, thumb=thumb)] == [letter]


def test_z_drawn_either_way_round_and_j_only_toward_the_thumb() -> None:
    """A Z is taken mirrored (a mirrored camera); a J hooks toward the thumb side, never away from it."""
    rng = np.random.default_rng(0)
    hand = synthetic_hand("I", 60.0, 1.0) + 300
    for path_sign, want in ((1.0, ["J"]), (-1.0, [])):
        spotter = MotionSpotter()
        got = [spotter.update(k / 30, hand + off, None, None)
               for k, off in enumerate(timeline("J", 30, 0.9, 100, path_sign, rng=rng))]
        assert [g for g in got if g] == want
    assert [x for _, x in run("Z", "index", thumb=-1.0)] == ["Z"]


@pytest.mark.parametrize("path", DISTRACTOR_PATHS)
@pytest.mark.parametrize("shape", ["I", "index"])
def test_other_motion_of_the_same_hands_spells_nothing(path: str, shape: str) -> None:
    for seed, (duration, size) in enumerate([(0.6, 1.2), (1.2, 2.5)]):
        assert run(path, shape, duration=duration, size=size, seed=seed) == [], (path, shape, duration, size)


@pytest.mark.parametrize("shape", ["fist", "open"])
def test_letter_paths_of_other_handshapes_spell_nothing(shape: str) -> None:
    assert run("J", shape) == [] and run("Z", shape) == []


def test_wrong_hand_for_the_path_and_an_accepted_other_letter_spell_nothing() -> None:
    assert run("J", "index") == [] and run("Z", "I") == []
    assert run("J", "I", label="Y") == []  # the letters view accepted Y (thumb out): no J
    assert [x for _, x in run("J", "I", label="I")] == ["J"]


def test_the_letter_comes_once_soon_after_the_hand_stops() -> None:
    fps, rest = 30.0, 15  # timeline rests 0.5 s before and after the motion
    frames = run("Z", "index", fps=fps, duration=0.8)
    assert len(frames) == 1
    stop = rest + int(round(0.8 * fps))
    assert stop <= frames[0][0] <= stop + int(0.35 * fps), frames


def test_moving_is_travel_not_drift_or_landmark_noise() -> None:
    spotter = MotionSpotter()
    hand = synthetic_hand("I", 60.0) + 300
    rng = np.random.default_rng(0)
    for k in range(30):  # held, with landmark noise and the test clips' drift (tests/videos.py: 1.5 px a frame)
        spotter.update(k / 30, hand + [1.5 * k, 0] + rng.normal(0, 0.7, (21, 2)), "I", "I")
        assert not spotter.moving()
    states = []
    for k, off in enumerate(timeline("slide", 30, 0.4, 60 * 1.2, rest_s=0.0)):
        spotter.update(1 + k / 30, hand + [1.5 * 29, 0] + off, "I", "I")
        states.append(spotter.moving())
    assert any(states[2:-2]) and sum(states) >= len(states) // 2


def test_no_hand_ends_the_track_and_a_brief_loss_does_not() -> None:
    hand = synthetic_hand("index", 60.0) + 300
    offsets = timeline("Z", 30, 0.9, 110)

    def feed(missing: range) -> list[str]:
        spotter = MotionSpotter()
        return [x for k, off in enumerate(offsets)
                if (x := spotter.update(k / 30, None if k in missing else hand + off, None, None))]
    assert feed(range(24, 27)) == ["Z"]  # 0.1 s lost mid-stroke
    assert feed(range(20, 40)) == []  # the hand went away: the stroke is gone


def test_reset_clock_jumps_and_bad_landmarks() -> None:
    spotter = MotionSpotter()
    hand = synthetic_hand("I", 60.0) + 300
    assert spotter.update(5.0, hand, None, None) is None
    assert spotter.update(1.0, hand, None, None) is None  # a source that restarts its clock
    assert spotter.update(1.1, np.full((21, 2), np.nan), None, None) is None
    assert spotter.update(1.2, np.zeros((21, 2)), None, None) is None  # no palm size
    spotter.reset()
    assert not spotter.moving()


@pytest.mark.parametrize("field, value", [("window_s", 0), ("move_speed", -1.0), ("min_shape", 1.5),
                                          ("threshold", float("nan")), ("method", "magic"), ("min_extent", 9.0)])
def test_bad_settings_are_one_line_user_errors(field: str, value: object) -> None:
    with pytest.raises(MotionError) as err:
        MotionSpotter(MotionConfig(**{field: value}))
    assert isinstance(err.value, UserError) and "\n" not in str(err.value) and field in str(err.value)


def test_handshapes_and_stroke_normalisation() -> None:
    assert [handshape(synthetic_hand(s)) for s in ("I", "index", "fist", "open")] == ["I", "index", None, None]
    z = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], float)
    # position, size and point density drop out; a mirrored Z is still a Z
    for path in (z * 250 + 40, strokes.resample(z, 200) * 3, z * [-1, 1]):
        assert strokes.template_distance(path, "Z") < 0.05 and strokes.dtw_distance(path, "Z") < 0.05
    assert strokes.template_distance(np.array([[0, 0], [1, 0.0]]), "Z") > 0.3
    assert strokes.resample(np.zeros((3, 2)), 5).shape == (5, 2)  # a path of no length


def test_motion_modules_import_numpy_only() -> None:
    """The live hot path and the page's copy (deploy/web/src/motion.js): no cv2, torch or onnx."""
    import ast
    from pathlib import Path

    import signcaps.signs.motion as motion

    folder = Path(motion.__file__).parent
    for name in ("motion.py", "strokes.py"):
        tree = ast.parse((folder / name).read_text())
        found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        found |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert found <= {"__future__", "collections", "collections.abc", "dataclasses", "numpy", "signcaps.signs",
                         "signcaps.util.errors"}, (name, found)


def test_a_spelling_stream_gives_each_drawn_letter_once_and_flags_the_slides() -> None:
    """I held, J drawn, I held, a double letter's slide, I held, the hand away, D held, Z drawn, D held:
    exactly J then Z, on the frames the strokes end; moving() during the slide and the strokes only."""
    fps, palm = 30.0, 60.0
    rng = np.random.default_rng(0)
    pieces = [("I", "J", 0.9), ("I", "slide", 0.35), (None, None, 0.5), ("index", "Z", 0.9), ("index", "slide", 0.3)]
    spotter, t, place = MotionSpotter(), 0.0, np.array([300.0, 250.0])
    letters, moving_frames, frames = [], 0, 0
    for shape, path, duration in pieces:
        if shape is None:  # the hand leaves the frame
            for _ in range(int(duration * fps)):
                assert spotter.update(t, None, None, None) is None
                t += 1 / fps
            continue
        hand = synthetic_hand(shape, palm)
        offsets = timeline(path, fps, duration, palm * (1.5 if path != "slide" else 1.2), rng=rng)
        for off in offsets:
            letter = spotter.update(t, hand + place + off + rng.normal(0, 0.5, (21, 2)), None, None)
            letters += [letter] if letter else []
            moving_frames += spotter.moving()
            frames += 1
            t += 1 / fps
        place = place + offsets[-1]
    assert letters == ["J", "Z"]
    assert 0 < moving_frames < frames / 2  # the rests (0.5 s around each motion) are no travel
