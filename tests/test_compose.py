"""Composing numbers from per-frame digit labels (pure logic; the end-to-end run is in test_live.py)."""
import numpy as np
import pytest

from signcaps.signs.compose import ComposeConfig, ComposeError, NumberComposer, compose_labels
from signcaps.signs.rejection import RejectionRule, decide

CFG = ComposeConfig(hold=3, gap=2, end=5)


def frames(*parts: tuple[str | None, int]) -> list[str | None]:
    return [label for label, count in parts for _ in range(count)]


def test_held_digits_separated_by_pauses_make_one_number():
    labels = frames(("1", 6), (None, 2), ("2", 4), (None, 3), ("3", 3))
    assert compose_labels(labels, CFG) == ["123"]


def test_a_sign_held_longer_does_not_repeat_but_a_pause_allows_it_again():
    assert compose_labels(frames(("7", 40)), CFG) == ["7"]
    assert compose_labels(frames(("7", 4), (None, 2), ("7", 4)), CFG) == ["77"]
    assert compose_labels(frames(("7", 4), (None, 1), ("7", 4)), CFG) == ["7"]  # one frame is flicker, not a pause


def test_too_short_signs_and_flicker_commit_nothing():
    assert compose_labels(frames(("4", 2), (None, 1), ("5", 2), ("6", 1)), CFG) == []
    assert compose_labels(frames(("4", 5), ("9", 1), ("4", 5)), CFG) == ["4"]


def test_a_different_digit_commits_without_a_pause():
    assert compose_labels(frames(("1", 4), ("2", 4)), CFG) == ["12"]


def test_a_long_absence_ends_the_number():
    labels = frames(("1", 4), (None, 5), ("2", 4), (None, 1), ("3", 3))
    assert compose_labels(labels, CFG) == ["1", "23"]


def test_uncertain_frames_with_a_hand_do_not_end_the_number():
    composer = NumberComposer(CFG)
    steps = [composer.update("5") for _ in range(3)]
    assert steps[-1].committed == "5" and steps[-1].building == "5" and steps[-1].progress == 0.0
    steps = [composer.update(None, hand=True) for _ in range(20)]
    assert all(step.finished is None for step in steps) and composer.digits == ["5"]
    steps = [composer.update(None, hand=False) for _ in range(5)]
    assert [s.finished for s in steps] == [None] * 4 + ["5"]
    assert steps[-1].to_json() == {"committed": None, "finished": "5", "number": ""}
    assert composer.flush() is None


def test_progress_shows_how_close_a_sign_is_to_being_committed():
    composer = NumberComposer(CFG)
    assert [round(composer.update("8").progress, 2) for _ in range(3)] == [0.33, 0.67, 0.0]


@pytest.mark.parametrize("field, value", [("hold", 0), ("gap", 0), ("end", 0)])
def test_bad_settings_are_one_line_errors(field, value):
    with pytest.raises(ComposeError, match=f"--compose-{field}"):
        ComposeConfig(**{field: value}).check()


def test_a_rejected_hand_between_equal_digits_releases_the_repeat_without_ending_the_number():
    """The live loop feeds the composer the rule's label: None for "?" and "none" alike (scripted decisions;
    tests/test_live.py does it end to end on clips with real negative hands)."""
    def _lengths(winner: int, value: float) -> np.ndarray:
        row = np.full(10, 0.05, np.float32)
        row[winner] = value
        return row

    rule = RejectionRule(accept=0.7, none_below=0.4)
    classes = [str(d) for d in range(10)]
    script = ([_lengths(5, 0.9)] * 4 + [_lengths(1, 0.2)] * 3 + [_lengths(5, 0.9)] * 4  # 5, none, 5
              + [_lengths(1, 0.5)] * 6  # a fist read as "1" below the threshold: never committed
              + [_lengths(1, 0.3)] * 30  # a long "none": still a hand, the number goes on
              + [_lengths(7, 0.95)] * 4 + [None] * 5)  # 7, then the hand goes down
    composer = NumberComposer(ComposeConfig(hold=3, gap=2, end=5))
    finished = []
    for row in script:
        decision = None if row is None else decide(row, classes, rule)
        step = composer.update(decision.label if decision else None, hand=decision is not None)
        finished += [step.finished] if step.finished else []
    assert finished == ["557"]
