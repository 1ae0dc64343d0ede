"""When a hand shows no sign: the one rejection rule every runtime applies ("ok", "uncertain", "none").

A capsule network answers every hand with a winner, even a fist that signs no digit. The rule
turns the capsule lengths (and, optionally, how well the winner's decoded skeleton matches the
observed landmarks) into a decision with a reason:

* ``none``: the hand signs nothing the model knows: an explicit "no sign" class won, the winning
  capsule decodes a skeleton far from the observed one, or every capsule stayed short;
* ``uncertain``: a sign may be there, but its capsule is below the threshold (shown as "?");
* ``ok``: the winning sign, with its capsule at or above the threshold.

The rule travels in the exported model's metadata (key ``rejection``, written by `signcaps.training.export`)
so `predict`, `live`, the composer and the browser page (``deploy/web/src/rejection.js``, kept equal
by tests/test_web.py) all decide alike. A model without the key gets `RejectionRule()`: it can say
"uncertain" at the 0.6 threshold, never "none" - how every model before the rule behaved.

Numpy only, no torch or onnx: this is on the live hot path and in the torch-free runtime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from signcaps.util.errors import UserError

RULE_FORMAT = "signcaps-reject-v1"
# The one threshold default of live, predict and the web page: the lowest calibration bin of the shipped
# default model's test split with >= 5 images (6; 5 right); none above is below 95% (`signcaps calibrate`).
DEFAULT_ACCEPT = 0.6

OK, UNCERTAIN, NONE = "ok", "uncertain", "none"
STATUSES = (OK, UNCERTAIN, NONE)
BELOW_THRESHOLD = "below threshold"
ALL_SHORT = "all capsules short"
NONE_CLASS = "none class"
POSE_DISAGREES = "pose disagrees"


class RejectionRuleError(UserError, ValueError):
    """A rejection rule that cannot work (one line)."""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RejectionRule:
    """Thresholds on the winning sign capsule, an optional "no sign" class and pose-agreement limit."""

    accept: float = DEFAULT_ACCEPT  # winning sign capsule length >= accept -> "ok" (live's --threshold)
    none_below: float = 0.0  # winning sign capsule length < none_below -> "none" (all capsules short)
    none_class: str | None = None  # an explicit "no sign" class of the model: it winning -> "none"
    max_pose_error: float | None = None  # winner's decoded skeleton vs the observed pose above this -> "none"

    def __post_init__(self) -> None:
        if not (_finite(self.accept) and 0.0 <= self.accept <= 1.0):
            raise RejectionRuleError(f"rejection 'accept' (the threshold) must be in [0, 1], got {self.accept!r:.40}")
        if not (_finite(self.none_below) and 0.0 <= self.none_below <= self.accept):
            raise RejectionRuleError(f"rejection 'none_below' must be in [0, accept = {self.accept:g}], got "
                                     f"{self.none_below!r:.40}")
        if self.max_pose_error is not None and not (_finite(self.max_pose_error) and self.max_pose_error > 0):
            raise RejectionRuleError(f"rejection 'max_pose_error' must be a positive number or null, got "
                                     f"{self.max_pose_error!r:.40}")
        if self.none_class is not None and not isinstance(self.none_class, str):
            raise RejectionRuleError(f"rejection 'none_class' must be a class name or null, got "
                                     f"{self.none_class!r:.40}")

    @property
    def uses_pose_error(self) -> bool:
        """Whether deciding needs the winner's decoded skeleton (the model's pose decoder output)."""
        return self.max_pose_error is not None

    @property
    def can_say_none(self) -> bool:
        return self.none_below > 0 or self.none_class is not None or self.max_pose_error is not None

    def to_meta(self) -> dict[str, Any]:
        """The rule as stored under the ONNX metadata key ``rejection`` (and in a checkpoint)."""
        return {"rule": RULE_FORMAT, "accept": float(self.accept), "none_below": float(self.none_below),
                "none_class": self.none_class,
                "max_pose_error": None if self.max_pose_error is None else float(self.max_pose_error)}

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None, classes: list[str]) -> "RejectionRule":
        """The rule of a model's metadata entry (None: the default rule), checked against its classes.

        Keys this version does not know are ignored (a later version may add some); a different
        rule format is refused rather than half applied.
        """
        if meta is None:
            return cls()
        if not isinstance(meta, dict):
            raise RejectionRuleError(f"the rejection rule should be a mapping, got {meta!r:.60}")
        if meta.get("rule") != RULE_FORMAT:
            raise RejectionRuleError(f"unknown rejection rule {meta.get('rule')!r:.40}; this signcaps applies "
                                     f"'{RULE_FORMAT}'")
        for key in ("accept", "none_below"):
            if key in meta and not _finite(meta[key]):
                raise RejectionRuleError(f"rejection '{key}' should be a number, got {meta[key]!r:.40}")
        pose = meta.get("max_pose_error")
        if pose is not None and not _finite(pose):
            raise RejectionRuleError(f"rejection 'max_pose_error' should be a number or null, got {pose!r:.40}")
        rule = cls(accept=float(meta.get("accept", DEFAULT_ACCEPT)), none_below=float(meta.get("none_below", 0.0)),
                   none_class=meta.get("none_class"), max_pose_error=None if pose is None else float(pose))
        rule.check_classes(classes)
        return rule

    def check_classes(self, classes: list[str]) -> "RejectionRule":
        """The none class must be one of the model's classes, and not its only one."""
        if self.none_class is not None:
            names = [str(c) for c in classes]
            if self.none_class not in names:
                raise RejectionRuleError(f"rejection 'none_class' {self.none_class!r:.40} is not one of the model's "
                                         f"classes ({', '.join(names)[:120]})")
            if len(names) < 2:
                raise RejectionRuleError("the model's only class is its none class: there is no sign to recognise")
        return self

    def with_accept(self, accept: float | None) -> "RejectionRule":
        """The rule with another threshold (a CLI --threshold; None keeps the model's). none_below
        follows a lower threshold down, so a threshold below it still means something."""
        if accept is None:
            return self
        if not (_finite(accept) and 0.0 <= accept <= 1.0):
            raise RejectionRuleError(f"--threshold must be in [0, 1], got {accept!r:.40}")
        return replace(self, accept=float(accept), none_below=min(self.none_below, float(accept)))


@dataclass(frozen=True)
class Decision:
    """What the rule says about one hand."""

    index: int  # the winning SIGN class (never the none class): which bar to highlight
    label: str | None  # the class name when status == "ok", else None
    status: str  # "ok" | "uncertain" | "none"
    reason: str  # "" for ok; "below threshold", "all capsules short", "none class", "pose disagrees"

    @property
    def rejected(self) -> bool:
        return self.status != OK


def pose_error(decoded: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(N, 21, 3) decoded (the model's pose_reconstruction output, decoded from the longest capsule) and
    observed normalised poses -> (N,) mean Euclidean joint distance, in normalised-pose units
    (wrist -> middle knuckle = 1). float32, computed in float32 as the browser's copy does."""
    decoded = np.asarray(decoded, np.float32)
    observed = np.asarray(observed, np.float32)
    if decoded.shape != observed.shape or decoded.ndim != 3 or decoded.shape[-1] != 3:
        raise ValueError(f"pose_error needs two (N, joints, 3) arrays of one shape, got {decoded.shape} and "
                         f"{observed.shape}")
    return np.sqrt(((decoded - observed) ** 2).sum(axis=-1)).mean(axis=-1).astype(np.float32)


def winning_sign(lengths: np.ndarray, classes: list[str], none_class: str | None = None) -> int:
    """Index of the longest capsule that is a sign (the none class left out; the first on a tie)."""
    lengths = np.asarray(lengths, np.float32)
    if none_class is None:
        return int(np.argmax(lengths))
    none = [str(c) for c in classes].index(none_class)
    masked = lengths.copy()
    masked[none] = -np.inf
    return int(np.argmax(masked))


def decide(lengths: np.ndarray, classes: list[str], rule: RejectionRule, pose_err: float | None = None) -> Decision:
    """One hand's decision from its (K,) capsule lengths (and the winner's pose error, when measured).

    Precedence: the none class winning over all capsules; a pose error above the rule's limit (NaN
    counts as above: no agreement shown); the winning sign shorter than none_below ("all capsules
    short"); shorter than accept ("?"); else ok.
    """
    lengths = np.asarray(lengths, np.float32).reshape(-1)
    if len(lengths) != len(classes):
        raise ValueError(f"{len(lengths)} capsule lengths for {len(classes)} classes")
    best = winning_sign(lengths, classes, rule.none_class)
    if rule.none_class is not None and str(classes[int(np.argmax(lengths))]) == rule.none_class:
        return Decision(best, None, NONE, NONE_CLASS)
    if pose_err is not None and rule.max_pose_error is not None and not float(pose_err) <= rule.max_pose_error:
        return Decision(best, None, NONE, POSE_DISAGREES)
    length = float(lengths[best])
    if length < rule.none_below:
        return Decision(best, None, NONE, ALL_SHORT)
    if length < rule.accept:
        return Decision(best, None, UNCERTAIN, BELOW_THRESHOLD)
    return Decision(best, str(classes[best]), OK, "")


def decide_all(lengths: np.ndarray, classes: list[str], rule: RejectionRule,
               pose_errors: np.ndarray | None = None) -> list[Decision]:
    """`decide` for each row of (N, K) lengths (and (N,) pose errors, or None when not measured)."""
    rows = np.asarray(lengths, np.float32).reshape(-1, len(classes))
    return [decide(row, classes, rule, None if pose_errors is None else float(pose_errors[i]))
            for i, row in enumerate(rows)]


def frame_state(statuses: list[str]) -> str:
    """The state of a frame from its hands' statuses: ``ok`` when any hand is recognised, else
    ``uncertain`` when any may be a sign, else ``none``; ``no_hand`` without hands."""
    if not statuses:
        return "no_hand"
    for status in (OK, UNCERTAIN):
        if status in statuses:
            return status
    return NONE
