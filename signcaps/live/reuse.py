"""Do no work twice: a hand that has not moved or changed shape keeps the answer computed for it.

MediaPipe runs on every frame, the classifier need not. A signer holds each sign for many
frames, and while the hand holds still its crop and its pose are, within MediaPipe's own jitter,
those of the frame its answer was computed for, so that answer is used again instead of cutting
and classifying the same hand once more.

What "the same hand" means is measured on the detection alone, before any pixel is touched, in
units of the hand's size (the side of its landmarks' bounding box, the box the crop is cut from):

* box: how far the box's centre moved and how much its side changed since the answer was
  computed (the crop's framing);
* shape: how far any joint moved relative to the box (x, y and MediaPipe's depth), after the
  box's own move is taken out (the pose and the hand in the crop).

The reference is the detection the answer was computed for, never the previous frame, so slow
drift adds up and is caught. The handedness must match, and an answer serves at most `max_age`
frames before it is computed afresh. The tolerances are measured (docs/LIVE.md, "Do no work twice"): the reuse
loop's answers equal the full-work loop's on the benchmark clips.

The cached answer is opaque: whatever per-hand outputs the classifier step returns (lengths,
decisions, reconstructions, the model inputs for `--explain`), copied so that no later frame's
buffers can change it. Pure numpy, no I/O, like `recognise`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from signcaps.util.errors import UserError


class ReuseError(UserError, ValueError):
    """Reuse settings that cannot work (one line)."""


@dataclass(frozen=True)
class ReuseConfig:
    """How still a hand must be for its answer to be reused; fractions of the hand's size."""

    box: float = 0.05  # largest move of the box centre or change of its side since the answer was computed
    shape: float = 0.03  # largest move of a joint relative to the box (x, y, depth)
    max_age: int = 30  # frames one answer may serve after its own; 0 = never reuse
    margin: float = 0.1  # an answer this close to a decision boundary is never reused (see `ResultCache`)

    def check(self) -> "ReuseConfig":
        for name in ("box", "shape", "margin"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # NaN fails too
                raise ReuseError(f"reuse tolerance '{name}' must be in [0, 1] (a fraction of the hand's size), "
                                 f"got {value}")
        if not 0 <= self.max_age <= 1000:
            raise ReuseError(f"reuse max_age must be 0 to 1000 frames, got {self.max_age}")
        return self


@dataclass(frozen=True)
class HandKey:
    """A detection reduced to what the tolerances compare: box centre and side, joints relative to the box."""

    centre: np.ndarray  # (2,) pixels
    side: float  # pixels, at least 1
    joints: np.ndarray  # (J, 3): (x, y, depth) minus the box centre (depth minus the wrist's), over the side
    handedness: str

    @classmethod
    def of(cls, hand: Any) -> "HandKey":
        marks = np.asarray(hand.landmarks, np.float32)
        lo, hi = marks.min(axis=0), marks.max(axis=0)
        centre = (lo + hi) / 2.0
        side = max(float((hi - lo).max()), 1.0)
        depth = getattr(hand, "depth", None)
        depth = np.zeros(len(marks), np.float32) if depth is None else np.asarray(depth, np.float32)
        joints = np.empty((len(marks), 3), np.float32)
        joints[:, :2] = (marks - centre) / side
        joints[:, 2] = (depth - depth[0]) / side
        return cls(centre, side, joints, str(getattr(hand, "handedness", "")))

    def deltas(self, ref: "HandKey") -> tuple[float, float]:
        """(box, shape) change from `ref`, in fractions of `ref`'s size; inf when they cannot compare."""
        if self.handedness != ref.handedness or self.joints.shape != ref.joints.shape:
            return float("inf"), float("inf")
        box = max(float(np.abs(self.centre - ref.centre).max()), abs(self.side - ref.side)) / ref.side
        return box, float(np.abs(self.joints - ref.joints).max())


@dataclass
class _Entry:
    key: HandKey  # the detection the answer was computed for
    row: tuple  # the answer: one item per output (a copied row, or None)
    reusable: bool = True  # the caller's verdict on the answer itself (not near a decision boundary)
    age: int = 0  # frames it has served since


Compute = Callable[[list], tuple]  # hands -> (kept hands, output, output, ...), one row per kept hand in each output


class ResultCache:
    """Per-hand answers of the last frame, handed out again to the hands that held still.

    `run(hands, compute)` returns what `compute(hands)` would: the kept hands and, per output,
    one row per kept hand (an array stacked over hands, a list, or None). `compute` is called
    only for the hands without a reusable answer; with no config (`None`) it is always called
    for every hand, so the loop does exactly the full work.

    `reusable(row)` judges an answer itself (the row of outputs of one hand): the recogniser says
    no to an answer whose winning length lies within `margin` of the threshold, because there the
    smallest change of input flips the label shown, and those are the only frames where the reuse
    loop's answers were seen to differ from the full-work loop's.
    """

    def __init__(self, cfg: ReuseConfig | None, reusable: Callable[[tuple], bool] = lambda _row: True) -> None:
        self.cfg = cfg.check() if cfg is not None else None
        self._reusable = reusable
        self._entries: list[_Entry] = []
        self._kinds: tuple | None = None  # per output: "array", "list" or None, from the last compute
        self.reused = 0  # hands answered from the cache
        self.computed = 0  # hands classified

    def clear(self) -> None:
        self._entries = []

    def run(self, hands: Sequence, compute: Compute) -> tuple:
        if self.cfg is None or self.cfg.max_age == 0:
            result = compute(list(hands))
            self.computed += len(result[0])
            return result
        keys = [HandKey.of(hand) for hand in hands]
        found = self._match(keys)
        misses = [hand for hand, entry in zip(hands, found) if entry is None]
        computed: dict[int, tuple] = {}
        if misses or not hands:
            result = compute(misses)
            kept, *outputs = result
            self._kinds = tuple(_kind(output) for output in outputs)
            computed = {id(hand): tuple(_row(output, i) for output in outputs) for i, hand in enumerate(kept)}
        kept_hands, rows, entries = [], [], []
        for hand, key, entry in zip(hands, keys, found):
            if entry is not None:
                entry.age += 1
                self.reused += 1
            elif id(hand) in computed:
                entry = _Entry(key, computed[id(hand)], self._reusable(computed[id(hand)]))
                self.computed += 1
            else:  # compute dropped it (the hand lies outside the frame)
                continue
            kept_hands.append(hand)
            rows.append(entry.row)
            entries.append(entry)
        self._entries = entries
        if len(misses) == len(hands):  # nothing reused: the step's own result, as it returned it
            return result
        assert self._kinds is not None  # every entry was computed once
        return (kept_hands, *(_merge(kind, [row[j] for row in rows]) for j, kind in enumerate(self._kinds)))

    def _match(self, keys: list[HandKey]) -> list[_Entry | None]:
        """For each detection, a cached answer within the tolerances (closest first, each used once)."""
        assert self.cfg is not None
        found: list[_Entry | None] = [None] * len(keys)
        taken: set[int] = set()
        pairs = []
        for d, key in enumerate(keys):
            for e, entry in enumerate(self._entries):
                if not entry.reusable or entry.age >= self.cfg.max_age:
                    continue
                box, shape = key.deltas(entry.key)
                if box <= self.cfg.box and shape <= self.cfg.shape:
                    pairs.append((box + shape, d, e))
        for _cost, d, e in sorted(pairs):
            if found[d] is None and e not in taken:
                found[d] = self._entries[e]
                taken.add(e)
        return found

    @property
    def reuse_rate(self) -> float | None:
        """Fraction of hands answered from the cache."""
        total = self.reused + self.computed
        return self.reused / total if total else None


def _kind(output: Any) -> str | None:
    if output is None:
        return None
    return "array" if isinstance(output, np.ndarray) else "list"


def _row(output: Any, i: int) -> Any:
    """Row i of one output, copied: the cache must not share memory with a buffer the next frame reuses."""
    if output is None:
        return None
    item = output[i]
    return np.array(item, copy=True) if isinstance(item, np.ndarray) else item


def _merge(kind: str | None, rows: list) -> Any:
    """The (non-empty) rows of one output as the compute step returns it: stacked, a list, or None; fresh copies."""
    if kind is None:
        return None
    if kind == "list":
        return [np.array(r, copy=True) if isinstance(r, np.ndarray) else r for r in rows]
    return np.stack(rows)
