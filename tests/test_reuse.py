"""`signcaps.live.reuse`: a still hand keeps its answer, a hand that moves or changes shape gets a new one.

Pure: fake hands (21 landmarks built from a seeded random shape) and a counting compute step,
no MediaPipe, no model. The end-to-end checks (the reuse loop against the full-work loop on
generated clips, compose numbers, states) are in tests/test_live.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from signcaps.live.reuse import HandKey, ResultCache, ReuseConfig, ReuseError

SHAPE = np.random.default_rng(0).uniform(-0.5, 0.5, size=(21, 2)).astype(np.float32)


@dataclass
class FakeHand:
    landmarks: np.ndarray
    handedness: str = "Right"
    depth: np.ndarray | None = None


def hand(x: float = 300.0, y: float = 200.0, side: float = 200.0, shape: np.ndarray = SHAPE,
         handedness: str = "Right") -> FakeHand:
    span = shape.max(axis=0) - shape.min(axis=0)
    marks = (shape - shape.min(axis=0)) / span.max() * side  # bounding box side = `side`
    marks += np.array([x, y], np.float32) - (marks.min(axis=0) + marks.max(axis=0)) / 2
    return FakeHand(marks.astype(np.float32), handedness, np.zeros(21, np.float32))


class Counting:
    """A compute step: (kept hands, lengths array, per-hand list, None); remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.value = 0.0
        self.buffer = np.zeros((4, 3), np.float32)  # reused across calls, like an IO-bound output

    def __call__(self, hands: list) -> tuple:
        self.calls.append(len(hands))
        self.value += 1.0
        self.buffer[: len(hands)] = self.value
        poses = [np.full(2, self.value, np.float32) for _ in hands]
        return list(hands), self.buffer[: len(hands)], poses, None


def test_a_still_hand_reuses_its_answer_until_max_age():
    cache, compute = ResultCache(ReuseConfig(max_age=3)), Counting()
    answers = []
    for _ in range(6):
        kept, lengths, poses, nothing = cache.run([hand()], compute)
        assert len(kept) == 1 and lengths.shape == (1, 3) and len(poses) == 1 and nothing is None
        answers.append(float(lengths[0, 0]))
    # computed on frame 0, served on 1-3 (max_age 3), computed again on frame 4, served on 5
    assert answers == [1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    assert compute.calls == [1, 1]
    assert (cache.reused, cache.computed) == (4, 2) and cache.reuse_rate == pytest.approx(4 / 6)


@pytest.mark.parametrize("moved", [
    hand(x=300 + 0.06 * 200),  # the box centre moved by 6% of the hand
    hand(side=200 * 1.06),  # the box grew by 6%
    hand(shape=SHAPE + np.eye(21, 2, dtype=np.float32) * 0.06),  # one joint moved by 6% of the hand
    hand(handedness="Left"),  # the other hand
])
def test_a_hand_that_moves_or_changes_shape_is_classified_again(moved):
    cache, compute = ResultCache(ReuseConfig(box=0.05, shape=0.05)), Counting()
    cache.run([hand()], compute)
    assert cache.run([moved], compute)[1][0, 0] == 2.0
    assert compute.calls == [1, 1]


def test_within_the_tolerance_the_reference_stays_the_first_detection():
    """Slow drift adds up: each step is within the tolerance, the sum is not."""
    cache, compute = ResultCache(ReuseConfig(box=0.05, shape=0.05)), Counting()
    served = [float(cache.run([hand(x=300 + 4 * k)], compute)[1][0, 0]) for k in range(5)]  # 2% of the hand per frame
    assert served == [1.0, 1.0, 1.0, 2.0, 2.0]  # frame 3 is 6% away from frame 0


def test_depth_changes_count_as_shape():
    cache, compute = ResultCache(ReuseConfig(shape=0.05)), Counting()
    cache.run([hand()], compute)
    bent = hand()
    bent.depth = np.where(np.arange(21) == 8, 0.1 * 200, 0.0).astype(np.float32)  # fingertip 10% towards the camera
    cache.run([bent], compute)
    assert compute.calls == [1, 1]


def test_an_answer_the_caller_calls_unsettled_is_never_reused():
    cache = ResultCache(ReuseConfig(), reusable=lambda row: float(row[0][0]) > 1.5)
    compute = Counting()
    served = [float(cache.run([hand()], compute)[1][0, 0]) for _ in range(4)]
    assert served == [1.0, 2.0, 2.0, 2.0]  # the first answer (1.0) was not settled, the second is


def test_without_config_every_hand_is_classified_every_frame():
    cache, compute = ResultCache(None), Counting()
    for _ in range(3):
        cache.run([hand(), hand(x=500)], compute)
    assert compute.calls == [2, 2, 2] and cache.reused == 0 and cache.computed == 6
    zero = ResultCache(ReuseConfig(max_age=0))
    zero.run([hand()], compute)
    zero.run([hand()], compute)
    assert compute.calls[-2:] == [1, 1]


def test_only_the_hands_that_changed_are_computed_and_the_order_is_kept():
    cache, compute = ResultCache(ReuseConfig()), Counting()
    left, right = hand(x=150, handedness="Left"), hand(x=500)
    cache.run([left, right], compute)
    moved = hand(x=560)
    kept, lengths, poses, _ = cache.run([left, moved], compute)
    assert compute.calls == [2, 1]  # the second frame classified the moved hand only
    assert kept == [left, moved]
    assert lengths[:, 0].tolist() == [1.0, 2.0] and [float(p[0]) for p in poses] == [1.0, 2.0]
    # detections in the other order still find their own answers
    kept, lengths, _, _ = cache.run([moved, left], compute)
    assert compute.calls == [2, 1] and kept == [moved, left] and lengths[:, 0].tolist() == [2.0, 1.0]


def test_a_hand_the_compute_step_drops_is_left_out():
    def drop_all(hands):
        return [], np.zeros((0, 3), np.float32), [], None

    cache = ResultCache(ReuseConfig())
    kept, lengths, poses, _ = cache.run([hand()], drop_all)
    assert kept == [] and lengths.shape == (0, 3) and poses == []
    kept, *_ = cache.run([], drop_all)
    assert kept == []


def test_cached_answers_do_not_alias_the_compute_buffers_or_each_other():
    """The compute step reuses one output buffer; answers served later must not change with it."""
    cache, compute = ResultCache(ReuseConfig()), Counting()
    first = cache.run([hand()], compute)[1]
    first_copy = first.copy()
    first[:] = -5  # the caller scribbles on the answer it got (here: the compute step's own buffer)
    served = cache.run([hand()], compute)[1]  # reused: built from the cache, not from the buffer
    cache.run([hand(x=600)], compute)  # a new hand: the compute step overwrites its buffer
    assert not np.shares_memory(served, compute.buffer)
    assert served.tolist() == first_copy.tolist()
    again = cache.run([hand(x=600)], compute)[1]
    again[:] = -1  # a consumer scribbling on its answer changes nothing that is served later
    assert cache.run([hand(x=600)], compute)[1][0, 0] == 2.0 and compute.calls == [1, 1]


def test_hand_key_is_scale_and_translation_free():
    a, b = HandKey.of(hand()), HandKey.of(hand(x=100, y=80, side=200))
    assert a.deltas(b)[1] == pytest.approx(0.0, abs=1e-6)
    assert a.deltas(b)[0] == pytest.approx(1.0)  # moved by one hand size
    big = HandKey.of(hand(side=400))
    assert big.deltas(a)[1] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("field, value", [("box", -0.1), ("shape", 2.0), ("shape", float("nan")),
                                          ("margin", -1.0), ("max_age", -1)])
def test_bad_settings_are_one_line_errors(field, value):
    with pytest.raises(ReuseError, match=field):
        ReuseConfig(**{field: value}).check()
