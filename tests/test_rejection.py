"""The rejection rule (`signcaps.signs.rejection`): precedence of its answers, its metadata form, overrides."""
from __future__ import annotations

import math

import numpy as np
import pytest

from signcaps.signs.rejection import (
    ALL_SHORT,
    BELOW_THRESHOLD,
    DEFAULT_ACCEPT,
    NONE_CLASS,
    POSE_DISAGREES,
    RULE_FORMAT,
    Decision,
    RejectionRule,
    RejectionRuleError,
    decide,
    decide_all,
    frame_state,
    pose_error,
)
from signcaps.util.errors import UserError

DIGITS = [str(d) for d in range(10)]
WITH_NONE = [*DIGITS, "none"]


def lengths(winner: int, value: float, rest: float = 0.1, classes: list[str] = DIGITS) -> np.ndarray:
    out = np.full(len(classes), rest, np.float32)
    out[winner] = value
    return out


def test_the_default_rule_says_uncertain_below_the_threshold_and_never_none():
    rule = RejectionRule()
    assert (rule.accept, rule.none_below, rule.none_class, rule.max_pose_error) == (DEFAULT_ACCEPT, 0.0, None, None)
    assert DEFAULT_ACCEPT == 0.6 and not rule.can_say_none and not rule.uses_pose_error
    assert decide(lengths(3, 0.9), DIGITS, rule) == Decision(3, "3", "ok", "")
    assert decide(lengths(3, 0.6), DIGITS, rule) == Decision(3, "3", "ok", "")  # at the threshold: accepted
    assert decide(lengths(3, 0.59), DIGITS, rule) == Decision(3, None, "uncertain", BELOW_THRESHOLD)
    for value in (0.0, 0.01, 0.3):  # even capsules that all stay short are only "uncertain" without a rule
        assert decide(lengths(7, value, rest=0.0), DIGITS, rule).status == "uncertain"
    assert decide(lengths(3, 0.9), DIGITS, rule, pose_err=99.0).status == "ok"  # no pose limit: not used


def test_precedence_none_class_then_pose_then_all_short_then_threshold():
    rule = RejectionRule(accept=0.7, none_below=0.4, none_class="none", max_pose_error=0.5)
    assert rule.can_say_none and rule.uses_pose_error
    # the none class winning beats everything, and the bar to highlight is the best SIGN
    both = lengths(10, 0.95, classes=WITH_NONE)
    both[4] = 0.9
    assert decide(both, WITH_NONE, rule, pose_err=9.0) == Decision(4, None, "none", NONE_CLASS)
    # a sign wins: the pose error over its limit comes next, even for a long capsule
    sure = lengths(4, 0.95, classes=WITH_NONE)
    assert decide(sure, WITH_NONE, rule, pose_err=0.51) == Decision(4, None, "none", POSE_DISAGREES)
    assert decide(sure, WITH_NONE, rule, pose_err=0.5) == Decision(4, "4", "ok", "")  # at the limit: agrees
    assert decide(sure, WITH_NONE, rule, pose_err=float("nan")).reason == POSE_DISAGREES  # no agreement shown
    assert decide(sure, WITH_NONE, rule).status == "ok"  # not measured: the pose check does not apply
    # then all capsules short, then below the threshold
    short = lengths(4, 0.39, classes=WITH_NONE)
    assert decide(short, WITH_NONE, rule, pose_err=0.6) == Decision(4, None, "none", POSE_DISAGREES)
    assert decide(short, WITH_NONE, rule, pose_err=0.1) == Decision(4, None, "none", ALL_SHORT)
    assert decide(lengths(4, 0.4, classes=WITH_NONE), WITH_NONE, rule, 0.1) == Decision(4, None, "uncertain",
                                                                                         BELOW_THRESHOLD)
    assert decide(lengths(4, 0.75, classes=WITH_NONE), WITH_NONE, rule, 0.1) == Decision(4, "4", "ok", "")


def test_ties_go_to_the_first_class_as_numpy_argmax():
    rule = RejectionRule(none_class="none")
    tie = np.array([0.1, 0.8, 0.8, *[0.0] * 7, 0.8], np.float32)  # 1, 2 and the none class tie
    assert decide(tie, WITH_NONE, rule) == Decision(1, "1", "ok", "")
    first = np.array([0.8, 0.2, *[0.0] * 8], np.float32)
    none_first = [*["none"], *DIGITS[1:]]  # a none class at index 0 that ties with nothing
    assert decide(first, none_first, RejectionRule(none_class="none")) == Decision(1, None, "none", NONE_CLASS)


def test_decide_all_and_frame_state():
    rule = RejectionRule(none_below=0.3)
    rows = np.stack([lengths(1, 0.9), lengths(2, 0.5), lengths(3, 0.2)])
    decisions = decide_all(rows, DIGITS, rule)
    assert [d.status for d in decisions] == ["ok", "uncertain", "none"]
    assert [d.rejected for d in decisions] == [False, True, True]
    assert decide_all(np.zeros((0, 10), np.float32), DIGITS, rule) == []
    assert [d.reason for d in decide_all(rows, DIGITS, RejectionRule(max_pose_error=0.5),
                                          np.array([0.1, 0.9, 0.1]))] == ["", POSE_DISAGREES, BELOW_THRESHOLD]
    assert frame_state([]) == "no_hand"
    assert frame_state(["none", "ok"]) == "ok"
    assert frame_state(["none", "uncertain"]) == "uncertain"
    assert frame_state(["none", "none"]) == "none"
    with pytest.raises(ValueError, match="11 capsule lengths for 10 classes"):
        decide(np.zeros(11), DIGITS, rule)


def test_metadata_round_trip():
    rule = RejectionRule(accept=0.75, none_below=0.5, none_class="none", max_pose_error=0.4)
    meta = rule.to_meta()
    assert meta == {"rule": RULE_FORMAT, "accept": 0.75, "none_below": 0.5, "none_class": "none",
                    "max_pose_error": 0.4}
    assert RejectionRule.from_meta(meta, WITH_NONE) == rule
    assert RejectionRule.from_meta(None, DIGITS) == RejectionRule()
    assert RejectionRule.from_meta({"rule": RULE_FORMAT}, DIGITS) == RejectionRule()  # every key has a default
    assert RejectionRule.from_meta({**RejectionRule().to_meta(), "later_key": 1}, DIGITS) == RejectionRule()
    assert RejectionRule.from_meta({"rule": RULE_FORMAT, "accept": 1}, DIGITS).accept == 1.0


@pytest.mark.parametrize("meta, message", [
    ([0.6], "should be a mapping"),
    ({"accept": 0.6}, "unknown rejection rule"),
    ({"rule": "signcaps-reject-v9"}, "unknown rejection rule"),
    ({"rule": RULE_FORMAT, "accept": float("nan")}, "'accept' should be a number"),
    ({"rule": RULE_FORMAT, "accept": "0.6"}, "'accept' should be a number"),
    ({"rule": RULE_FORMAT, "accept": True}, "'accept' should be a number"),
    ({"rule": RULE_FORMAT, "accept": 1.5}, r"'accept' \(the threshold\) must be in \[0, 1\]"),
    ({"rule": RULE_FORMAT, "accept": -0.1}, r"must be in \[0, 1\]"),
    ({"rule": RULE_FORMAT, "none_below": float("inf")}, "'none_below' should be a number"),
    ({"rule": RULE_FORMAT, "accept": 0.5, "none_below": 0.6}, r"'none_below' must be in \[0, accept = 0.5\]"),
    ({"rule": RULE_FORMAT, "none_below": -0.01}, "'none_below' must be in"),
    ({"rule": RULE_FORMAT, "none_class": "nothing"}, "'none_class' 'nothing' is not one of the model's classes"),
    ({"rule": RULE_FORMAT, "none_class": 3}, "'none_class' must be a class name or null"),
    ({"rule": RULE_FORMAT, "max_pose_error": 0}, "'max_pose_error' must be a positive number or null"),
    ({"rule": RULE_FORMAT, "max_pose_error": -1.0}, "'max_pose_error' must be a positive number"),
    ({"rule": RULE_FORMAT, "max_pose_error": float("nan")}, "'max_pose_error' should be a number or null"),
    ({"rule": RULE_FORMAT, "max_pose_error": "0.5"}, "'max_pose_error' should be a number or null"),
])
def test_bad_rules_are_one_line_user_errors(meta, message):
    with pytest.raises(RejectionRuleError, match=message) as caught:
        RejectionRule.from_meta(meta, DIGITS)
    assert isinstance(caught.value, UserError) and "\n" not in str(caught.value)


def test_a_model_whose_only_class_is_none_has_nothing_to_recognise():
    with pytest.raises(RejectionRuleError, match="only class is its none class"):
        RejectionRule.from_meta({"rule": RULE_FORMAT, "none_class": "none"}, ["none"])


def test_with_accept_overrides_the_threshold_and_clips_none_below():
    rule = RejectionRule(accept=0.8, none_below=0.5, max_pose_error=0.3)
    assert rule.with_accept(None) is rule
    assert rule.with_accept(0.9) == RejectionRule(accept=0.9, none_below=0.5, max_pose_error=0.3)
    assert rule.with_accept(0.4) == RejectionRule(accept=0.4, none_below=0.4, max_pose_error=0.3)
    assert rule.with_accept(0) == RejectionRule(accept=0.0, none_below=0.0, max_pose_error=0.3)
    for bad in (1.01, -0.5, float("nan"), math.inf):
        with pytest.raises(RejectionRuleError, match=r"--threshold must be in \[0, 1\]"):
            rule.with_accept(bad)


def test_pose_error_is_the_mean_joint_distance_in_pose_units():
    rng = np.random.default_rng(0)
    observed = rng.normal(0, 1, (4, 21, 3)).astype(np.float32)
    assert np.allclose(pose_error(observed, observed), 0.0)
    shifted = observed.copy()
    shifted[:, :, 0] += 0.5  # every joint 0.5 away
    assert np.allclose(pose_error(shifted, observed), 0.5, atol=1e-6)
    one = observed.copy()
    one[:, 8] += np.float32([3.0, 4.0, 0.0])  # one joint 5 away: mean over 21 joints
    errors = pose_error(one, observed)
    assert errors.shape == (4,) and errors.dtype == np.float32 and np.allclose(errors, 5.0 / 21, atol=1e-6)
    want = np.linalg.norm(observed[:, ::-1] - observed, axis=-1).mean(axis=-1)
    assert np.allclose(pose_error(observed[:, ::-1], observed), want, atol=1e-6)
    with pytest.raises(ValueError, match="two"):
        pose_error(observed[:, :20], observed)
