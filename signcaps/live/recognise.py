"""One frame's recognition: detected hands -> crops -> capsule lengths -> smoothed predictions.

This is the pure per-frame step of `signcaps live` (as whisper's `decoding` is one 30 s window
and `transcribe` the loop around it): no threads, no window, no files. The loop (`loop.py`)
feeds it a frame and the hands MediaPipe found; what it returns (`FrameResult`) is consumed by
the overlay, the video writer, the JSON lines and number composition.

Predictions are stabilised per hand slot: capsule lengths (and the winner's pose error, when
the model's rejection rule measures it) are smoothed with an exponential moving average, then the
rule (`signcaps.signs.rejection.decide`) says "ok", "uncertain" ("?": below `threshold`) or "none" (no
sign). A frame's state is "ok" when a hand is recognised, else "uncertain" or "none", and
"no_hand" without hands. With `hands > 1`, detections are matched to slots by position (and
handedness), so each hand keeps its own smoothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from signcaps.hands.preprocess import SquareBox, crop_hand, hand_sample, square_box, to_batch, to_image, unit_to_rgb
from signcaps.live.capture import Frame
from signcaps.live.reuse import ResultCache
from signcaps.signs.rejection import OK, RejectionRule, decide, frame_state, pose_error


class RecogniseSettings(Protocol):
    """What the recogniser needs to know: `LiveConfig` has these fields, so can a script's own dataclass.
    An optional `reuse` (`signcaps.live.reuse.ReuseConfig`; absent or None = classify every hand on every
    frame) lets a hand that held still keep its answer."""

    hands: int  # hand slots, each with its own smoothing
    smoothing: float  # EMA weight of the newest frame's capsule lengths (1 = no smoothing)
    threshold: float | None  # smoothed winning length below this is "?" (uncertain); None = the model's rule
    keep_frames: int  # a slot keeps its smoothing this many frames after its hand vanished
    explain: bool  # also return the crop and its reconstruction


@dataclass
class HandResult:
    """One hand slot in one frame."""

    slot: int
    hand: Any  # signcaps.hands.detector.Hand
    crop_box: SquareBox
    raw: np.ndarray  # (K,) capsule lengths of this frame
    lengths: np.ndarray  # (K,) smoothed lengths
    best: int  # index of the longest smoothed sign capsule (never a "no sign" class)
    label: str | None  # class name, None when rejected (status "uncertain" or "none")
    crop: np.ndarray | None = None  # model-input view of the crop (RGB uint8), --explain
    reconstruction: np.ndarray | None = None  # decoder image (RGB uint8), --explain
    pose_tile: np.ndarray | None = None  # input skeleton beside the decoded one (RGB uint8), --explain
    status: str = OK  # the rejection rule's decision: ok | uncertain | none
    reason: str = ""  # why rejected: "below threshold", "all capsules short", "none class", "pose disagrees"
    pose_error: float | None = None  # smoothed pose error of the winner, when the rule measures it

    @property
    def confidence(self) -> float:
        return float(self.lengths[self.best])


@dataclass
class FrameResult:
    index: int
    time_s: float  # source timestamp in seconds
    hands: list[HandResult]
    state: str  # no_hand | none | uncertain | ok (ok: a hand is recognised; see rejection.frame_state)
    # live --compose: signcaps.signs.compose.ComposeStep (numbers) or signcaps.signs.spelling.SpellStep (letters)
    compose: Any = None

    def to_json(self, classes: list[str]) -> dict[str, Any]:
        row = {
            "time": round(self.time_s, 4),
            "frame": self.index,
            "state": self.state,
            "hands": [{
                "slot": h.slot,
                "box": list(h.hand.box),
                "crop_box": [h.crop_box.x0, h.crop_box.y0, h.crop_box.x1, h.crop_box.y1],
                "class": h.label,
                "status": h.status,
                "reason": h.reason,
                **({} if h.pose_error is None else {"pose_error": round(h.pose_error, 4)}),
                "best": classes[h.best],
                "confidence": round(h.confidence, 4),
                "confidences": {name: round(float(v), 4) for name, v in zip(classes, h.lengths)},
                "raw": {name: round(float(v), 4) for name, v in zip(classes, h.raw)},
                "handedness": h.hand.handedness,
                "score": round(float(h.hand.score), 4),
                "landmarks": _landmarks(h.hand),
            } for h in self.hands],
        }
        if self.compose is not None:
            row["compose"] = self.compose.to_json()
            if hasattr(self.compose, "text"):  # spelling: the text so far on every line
                row["text"] = self.compose.text
        return row


def _landmarks(hand: Any) -> list[list[float]]:
    """The hand's 21 joints for JSON: x, y in frame pixels and z in the units of x (`Hand.points`;
    x, y only for a hand-like object without depth)."""
    points = hand.points if hasattr(hand, "points") else hand.landmarks
    return np.round(np.asarray(points, np.float32), 2).tolist()


@dataclass
class _Slot:
    centre: np.ndarray
    size: float
    handedness: str
    lengths: np.ndarray
    missed: int = 0


class HandSlots:
    """Per-hand temporal smoothing: match detections to slots, then EMA the capsule lengths.

    A detection continues a slot when its centre lies within `max_jump` hand sizes of the
    slot's last centre (handedness that differs costs half a hand size); otherwise it starts
    afresh in a free slot, so a new hand or a jump across the frame never inherits an old
    hand's average. Slots whose hand is missing for more than `keep_frames` frames are freed.
    """

    def __init__(self, count: int, alpha: float, keep_frames: int = 5, max_jump: float = 1.0) -> None:
        self.slots: list[_Slot | None] = [None] * count
        self.alpha = float(alpha)
        self.keep_frames = keep_frames
        self.max_jump = max_jump

    def update(self, hands: list, raw: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(slot, smoothed lengths) for each detection, in the order of `hands`."""
        centres = [(h.landmarks.min(axis=0) + h.landmarks.max(axis=0)) / 2.0 for h in hands]
        sizes = [float(max(h.landmarks.max(axis=0) - h.landmarks.min(axis=0))) or 1.0 for h in hands]
        pairs = []
        for d, hand in enumerate(hands):
            for s, slot in enumerate(self.slots):
                if slot is None:
                    continue
                cost = float(np.linalg.norm(centres[d] - slot.centre)) / max(slot.size, sizes[d])
                cost += 0.5 if hand.handedness != slot.handedness else 0.0
                if cost <= self.max_jump:
                    pairs.append((cost, d, s))
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for _cost, d, s in sorted(pairs):
            if d not in assigned and s not in used:
                assigned[d] = s
                used.add(s)
        for d in range(len(hands)):  # unmatched detections take a free slot, else the stalest one
            if d in assigned:
                continue
            free = [s for s in range(len(self.slots)) if s not in used]
            if not free:
                continue
            s = min(free, key=lambda i: (self.slots[i] is not None, -(self.slots[i].missed if self.slots[i] else 0), i))
            self.slots[s] = None
            assigned[d] = s
            used.add(s)
        out = []
        for d, hand in enumerate(hands):
            s = assigned.get(d)
            if s is None:  # more detections than slots (cannot happen with num_hands = slots)
                continue
            slot = self.slots[s]
            if slot is None:
                slot = self.slots[s] = _Slot(centres[d], sizes[d], hand.handedness, raw[d].astype(np.float32).copy())
            else:
                slot.lengths = (self.alpha * raw[d] + (1.0 - self.alpha) * slot.lengths).astype(np.float32)
                slot.centre, slot.size, slot.handedness, slot.missed = centres[d], sizes[d], hand.handedness, 0
            out.append((s, slot.lengths.copy()))
        for s, slot in enumerate(self.slots):
            if slot is not None and s not in used:
                slot.missed += 1
                if slot.missed > self.keep_frames:
                    self.slots[s] = None
        return out


class Recogniser:
    """Detections of one frame -> smoothed per-slot predictions (crop, classify, smooth)."""

    def __init__(self, classifier, cfg: RecogniseSettings) -> None:
        self.classifier = classifier
        self.classes = list(classifier.classes)
        self.crop_cfg = classifier.crop_cfg
        self.cfg = cfg
        self.explain = bool(cfg.explain and (getattr(classifier, "has_reconstruction", False)
                                             or getattr(classifier, "has_pose_reconstruction", False)))
        self.rule: RejectionRule = getattr(classifier, "rule", RejectionRule()).with_accept(cfg.threshold)
        self.slots = HandSlots(cfg.hands, cfg.smoothing, cfg.keep_frames)
        self.reuse = ResultCache(getattr(cfg, "reuse", None), self._settled)  # reuse.py: hands that held still

    def __call__(self, rgb: np.ndarray, hands: list, frame: Frame, timings: dict[str, float]) -> FrameResult:
        timings.update(crop=0.0, classify=0.0)  # stays 0 on a frame whose every hand was reused
        hands, batch, poses, raw, recon, pose_recon = self.reuse.run(
            hands[: self.cfg.hands], lambda todo: self.classify(rgb, todo, timings))
        results = []
        k = len(self.classes)
        for d, (slot, smoothed) in enumerate(self.slots.update(hands, raw)):
            lengths, err = smoothed[:k], (float(smoothed[k]) if len(smoothed) > k else None)
            decision = decide(lengths, self.classes, self.rule, err)
            result = HandResult(slot, hands[d], square_box(hands[d].landmarks, self.crop_cfg.margin), raw[d][:k],
                                lengths, decision.index, decision.label, status=decision.status,
                                reason=decision.reason, pose_error=err)
            if self.explain:
                self._explain(result, batch[d], poses[d], None if recon is None else recon[d],
                              None if pose_recon is None else pose_recon[d])
            results.append(result)
        results.sort(key=lambda r: r.slot)
        state = frame_state([r.status for r in results])
        return FrameResult(frame.index, frame.timestamp_ms / 1000.0, results, state)

    def _settled(self, row: tuple) -> bool:
        """Whether one hand's answer (its row of `classify`'s outputs) may be reused: not when any of the
        rule's boundaries is within the reuse margin, where a small change flips the decision - the winning
        sign's length near the threshold, `none_below` or the runner-up, a "none" capsule near the winner,
        a pose error near its limit (within the same fraction of that limit)."""
        k, margin, rule = len(self.classes), self.cfg.reuse.margin, self.rule
        lengths = np.asarray(row[2], np.float32)
        signs = lengths[:k] if rule.none_class is None else np.delete(lengths[:k], self.classes.index(rule.none_class))
        top, second = np.sort(signs)[::-1][:2] if len(signs) > 1 else (float(signs.max(initial=0.0)), 0.0)
        edges = [rule.accept, *([rule.none_below] if rule.none_below > 0 else []),
                 *([] if rule.none_class is None else [float(lengths[self.classes.index(rule.none_class)])])]
        if any(abs(float(top) - edge) < margin for edge in edges) or float(top) - float(second) < margin:
            return False
        if rule.uses_pose_error and len(lengths) > k:
            return abs(float(lengths[k]) - rule.max_pose_error) >= margin * rule.max_pose_error
        return True

    def classify(self, rgb: np.ndarray, hands: list, timings: dict[str, float]):
        """Crop every hand and normalise its pose, classify all hands in one batch:
        (kept hands, image batch, poses, lengths (N, K), image reconstructions, pose reconstructions).
        When the rule measures the pose error, it is the lengths' last column (N, K + 1), so the
        slots smooth it with them.

        The model's inputs are built here and only here, through `preprocess.hand_sample`, the
        function training's cache and `predict` use.
        """
        t0 = time.perf_counter()
        needs_pose = getattr(self.classifier, "needs_pose", False)
        kept, crops, poses = [], [], []
        for hand in hands:
            try:
                crop, pose = hand_sample(rgb, hand, self.crop_cfg) if needs_pose else \
                    (crop_hand(rgb, hand.landmarks, hand.is_left, self.crop_cfg), None)
            except ValueError:  # landmarks entirely outside the frame: nothing to classify
                continue
            kept.append(hand)
            crops.append(crop)
            poses.append(pose)
        batch = to_batch(crops, self.crop_cfg)
        feed = {"image": batch, "pose": np.asarray(poses, np.float32).reshape(-1, 21, 3)} if needs_pose else batch
        t1 = time.perf_counter()
        recon = pose_recon = errors = None
        measure = self.rule.uses_pose_error
        if not kept:
            raw = np.zeros((0, len(self.classes) + measure), np.float32)
        elif self.explain and hasattr(self.classifier, "explain_outputs"):
            out = self.classifier.explain_outputs(feed)  # one pass for every output
            raw, recon, pose_recon = out["lengths"], out.get("reconstruction"), out.get("pose_reconstruction")
            errors = pose_error(pose_recon, feed["pose"]) if measure else None
        elif measure:
            raw, errors = self.classifier.classify_with_pose_error(feed)
        else:
            raw = self.classifier.classify(feed)
            if self.explain:
                recon = self.classifier.reconstruct(feed)
        # a copy either way: a runtime may hand out one output buffer for every call
        raw = np.array(raw, np.float32) if errors is None else np.column_stack([raw, errors]).astype(np.float32)
        t2 = time.perf_counter()
        timings["crop"] = (t1 - t0) * 1000.0
        timings["classify"] = (t2 - t1) * 1000.0  # includes the decoders with --explain
        return kept, batch, poses, raw, recon, pose_recon

    def _explain(self, result: HandResult, image: np.ndarray, pose: np.ndarray, recon: np.ndarray | None,
                 pose_recon: np.ndarray | None) -> None:
        from signcaps.live.overlay import pose_tile

        result.crop = to_image(image, self.crop_cfg)
        if recon is not None:
            result.reconstruction = unit_to_rgb(recon)
        if pose_recon is not None:
            result.pose_tile = pose_tile(pose, pose_recon, 64)
            if result.pose_error is None:  # shown (and written) even when the rule does not use it
                result.pose_error = float(pose_error(pose_recon[None], pose[None])[0])
