"""Spelling words from per-frame letters (pure logic, scripted frames; end to end on clips made from real
letter photos in test_live_spelling.py). Times are seconds of source time, so the same scripts run at
10 and at 30 fps."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from signcaps.signs.spelling import SpellConfig, Speller, SpellError

CFG = SpellConfig(hold_s=0.4, release_s=0.3, space_s=0.5, rest_s=1.0)
# a hand's 21 landmarks with a 60-pixel palm (wrist, joint 0, to the middle finger's base, joint 9)
HAND = np.zeros((21, 2), np.float32)
HAND[9] = (0.0, -60.0)


@dataclass
class Script:
    """A spotter told frame by frame what the motion engineer's MotionSpotter would say: whether the hand
    travels, and the moving letter completed on a frame (the speller's side of the shared interface)."""

    moves: list[bool] = field(default_factory=list)
    letters: dict[int, str] = field(default_factory=dict)
    frame: int = -1
    resets: int = 0

    def update(self, t, landmarks, label, best):
        self.frame += 1
        return self.letters.get(self.frame)

    def moving(self) -> bool:
        return self.moves[self.frame] if self.frame < len(self.moves) else False

    def reset(self) -> None:
        self.resets += 1


def frames(*parts: tuple, fps: float = 10.0) -> list[tuple[str | None, bool, bool, float]]:
    """(label, hand there, moving, x offset) per frame from (label, seconds[, "slide" | "shake" | "gone"]) parts:
    a slide moves the hand sideways by a palm size in 0.2 s, a shake moves it by a tenth of that, to and fro."""
    out, x = [], 0.0
    for part in parts:
        label, seconds, *kind = part
        for k in range(int(round(seconds * fps))):
            x += 300.0 / fps if "slide" in kind else (6.0 * (-1) ** k if "shake" in kind else 0.0)
            out.append((label, "gone" not in kind, "slide" in kind or "shake" in kind, x))
    return out


def spell(script: list[tuple[str | None, bool, bool, float]], fps: float = 10.0, cfg: SpellConfig = CFG,
          letters: dict[int, str] | None = None) -> str:
    spotter = Script([moving for _, _, moving, _ in script], letters or {})
    speller = Speller(cfg, spotter)
    for i, (label, hand, _moving, x) in enumerate(script):
        speller.update(i / fps, HAND + (x, 0.0) if hand else None, label if hand else None, label,
                       resting=hand and label is None)  # a hand without a letter here signs "none"
    return speller.flush() or ""


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_held_letters_spell_words_with_one_space_between_them(fps):
    script = frames(("H", 0.8), ("?", 0.2), ("I", 0.8), (None, 0.8, "gone"), ("O", 0.8), (None, 0.8, "gone"),
                    ("K", 0.8), fps=fps)
    script = [(None if label == "?" else label, *rest) for label, *rest in script]
    assert spell(script, fps) == "HI O K"


def test_a_double_letter_is_the_same_letter_again_after_a_slide_or_a_release():
    slide = frames(("S", 0.8), ("E", 0.8), ("E", 0.3, "slide"), ("E", 0.8))
    assert spell(slide) == "SEE"
    release = frames(("E", 0.8), (None, 0.3), ("E", 0.8))
    assert spell(release) == "EE"
    held = frames(("E", 2.4))
    assert spell(held) == "E"
    flicker = frames(("E", 0.8), (None, 0.1), ("E", 0.8))  # one lost frame is not a release
    assert spell(flicker) == "E"
    shake = frames(("E", 0.8), ("E", 0.6, "shake"), ("E", 0.8))  # travel that goes nowhere: no double letter
    assert spell(shake) == "E"


def test_a_still_hand_whose_fingertips_jitter_still_commits_its_letter():
    """The spotter's moving() flags single frames of a still hand (MediaPipe's fingertips jitter): the hold goes
    on while the hand's centre stays, and the letter commits on the next frame that is not flagged."""
    script = [(label, hand, i % 3 == 2, x) for i, (label, hand, _, x) in enumerate(frames(("P", 0.8), ("L", 0.8)))]
    assert spell(script) == "PL"
    drift = [(label, hand, False, 2.0 * i) for i, (label, hand, _, _) in enumerate(frames(("P", 0.8)))]
    assert spell(drift) == "P"  # 2 pixels a frame, a 60-pixel palm: a hand held, not one travelling


def test_transitions_rejected_frames_and_travel_commit_nothing():
    assert spell(frames(("A", 0.3), ("S", 0.2), ("T", 0.3))) == ""  # passing through shapes
    assert spell(frames((None, 2.0))) == ""  # "?" or "none" all along
    assert spell(frames(("B", 2.0, "slide"))) == ""  # a letter shape that travels is not held
    assert spell(frames(("B", 0.3), ("B", 0.3, "slide"), ("B", 0.3))) == ""  # the travel restarts the hold


def test_no_leading_and_no_double_space_and_a_rest_is_a_space():
    script = frames((None, 1.0, "gone"), ("A", 0.8), (None, 2.0, "gone"), (None, 0.2), (None, 2.0, "gone"),
                    ("B", 0.8), (None, 1.2), ("C", 0.8))
    assert spell(script) == "A B C"  # the hand that signs nothing (None with a hand) rests: a space too


def test_a_rest_needs_a_hand_that_signs_nothing_not_one_that_is_unsure():
    spotter = Script()
    speller = Speller(CFG, spotter)
    t = 0.0
    for _ in range(8):
        speller.update(t, HAND, "A")
        t += 0.1
    for _ in range(15):
        speller.update(t, HAND, None, "B")  # "?": uncertain, never a space
        t += 0.1
    assert speller.text == "A"
    steps = []
    for _ in range(11):
        steps.append(speller.update(t, HAND, None, "B", resting=True))  # "none" for 1 s
        t += 0.1
    assert speller.text == "A " and [s.committed for s in steps].count(" ") == 1


def test_moving_letters_come_from_the_spotter_and_replace_their_starting_shape():
    script = frames(("I", 0.8), ("I", 0.6, "slide"), (None, 0.6, "gone"), ("A", 0.8))
    assert spell(script, letters={13: "J"}) == "J A"  # the I held before drawing the J becomes the J
    script = frames(("A", 0.8), ("I", 0.6, "slide"))
    assert spell(script, letters={13: "J"}) == "AJ"
    script = frames(("I", 0.8), ("I", 0.6, "slide"), ("I", 1.0))  # the hand ends the J on an I: not an I too
    assert spell(script, letters={13: "J"}) == "J"
    script = frames(("I", 0.8), ("I", 0.6, "slide"), ("I", 0.7))  # an I again as the hook slows: both go
    assert spell(script, letters={20: "J"}) == "J"
    script = frames(("D", 0.8), (None, 2.0), ("D", 0.6, "slide"))  # the D long before the Z stays
    assert spell(script, letters={33: "Z"}) == "D Z"


def test_progress_delete_and_clear():
    spotter = Script()
    speller = Speller(CFG, spotter)
    progress = [round(speller.update(i / 10, HAND, "L").progress, 2) for i in range(5)]
    assert progress == [0.0, 0.25, 0.5, 0.75, 0.0] and speller.text == "L"
    assert speller.update(0.5, HAND, "L").committed is None
    assert speller.delete() == ""
    for i in range(6, 11):  # deleted: the same letter held on may be signed again
        step = speller.update(i / 10, HAND, "L")
    assert step.to_json() == {"committed": "L", "text": "L"}
    speller.clear()
    assert speller.text == "" and speller.flush() is None and spotter.resets == 1


def test_a_deleted_space_does_not_come_back_while_the_hand_is_still_away():
    speller = Speller(CFG, Script())
    for i in range(5):
        speller.update(i / 10, HAND, "A")
    for i in range(5, 20):
        speller.update(i / 10, None, None)
    assert speller.text == "A " and speller.delete() == "A"
    for i in range(20, 40):
        speller.update(i / 10, None, None)
    assert speller.text == "A"
    for i in range(40, 45):
        speller.update(i / 10, HAND, "B")
    for i in range(45, 55):
        speller.update(i / 10, None, None)
    assert speller.text == "AB "


@pytest.mark.parametrize("field_name, flag", [("hold_s", "--spell-hold"), ("release_s", "--spell-release"),
                                              ("space_s", "--spell-space")])
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, 61.0])
def test_bad_settings_are_one_line_errors(field_name, flag, value):
    with pytest.raises(SpellError, match=flag):
        SpellConfig(**{field_name: value}).check()
