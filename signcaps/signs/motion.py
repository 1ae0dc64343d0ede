"""The moving letters J and Z, spotted in the recent track of one hand (letters mode).

J is the I handshape whose little-finger tip draws a hook; Z is an index-finger handshape (D, or the
digit 1) whose index tip draws a Z. A static classifier cannot tell them from I and D, so the
speller (`signs.spelling`) feeds every frame's landmarks here as well:

1. each frame's handshape is read from the landmarks (which fingers are stretched out), helped by
   the letters view's answer when the landmarks are unsure;
2. the hand's speed (hand sizes per second, over the last `speed_s`) cuts the track into strokes:
   a stroke starts when the hand travels faster than `move_speed` and ends when it has been slower
   than `still_speed` for `still_s` (two speeds, so a slow part of a stroke does not cut it in two);
3. a stroke that held one handshape, is no longer than `window_s` and spans at least `min_extent`
   hand sizes is judged by `signs.strokes` on its fingertip path (little finger for I, index for the
   index hand), normalised for position, size and speed: its distance to the letter's template, and
   its ends turned as the letter's are. J or Z is returned on the frame the stroke ends (`still_s`
   after the hand stopped).

Measured on real photos moved along J, Z and 13 other paths through MediaPipe (train/README.md,
"J and Z"; `train/motion_eval.py`): 100% of J and 98% of Z clips right, no J or Z on any other
clip, 0.03 ms of CPU per frame.

A hand that travels without drawing the letter (a slide between double letters, a line, a circle,
jitter) gives nothing: the stroke's shape does not match, or it is too small or too long. `moving()`
says whether the hand travels now: the speller commits no static letter while it does.
Numpy only (the browser page may copy it).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from signcaps.signs import strokes
from signcaps.util.errors import UserError

WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17
INDEX_TIP, PINKY_TIP, THUMB_TIP, RING_MCP = 8, 20, 4, 13
# the middle joints and the tips of the index, middle, ring and little fingers
PIPS, TIPS = [6, 10, 14, 18], [8, 12, 16, 20]
I_SHAPE, INDEX_SHAPE = "I", "index"
SHAPE_LETTER = {I_SHAPE: "J", INDEX_SHAPE: "Z"}
# the letters view's answers that show each handshape (its "1" is no letter: the landmarks judge it)
SHAPE_OF_ANSWER = {"I": I_SHAPE, "D": INDEX_SHAPE, "1": INDEX_SHAPE}
SMOOTH = 3  # frames averaged at each end of the span the speed is measured over


class MotionError(UserError, ValueError):
    """Motion settings that cannot work (one line)."""


@dataclass
class MotionConfig:
    window_s: float = 2.0  # the longest stroke judged (a slower J or Z is ignored)
    speed_s: float = 0.15  # the hand's speed is its travel over this much of the track
    move_speed: float = 1.2  # hand sizes per second above which the hand travels
    still_speed: float = 0.5  # hand sizes per second below which the hand rests
    still_s: float = 0.15  # a stroke ends when the hand has rested this long
    gap_s: float = 0.3  # a hand missing longer than this ends the track
    min_extent: float = 0.5  # hand sizes: the smallest J or Z (a tremor is smaller)
    max_extent: float = 8.0  # hand sizes: the largest
    min_shape: float = 0.6  # the share of the stroke's frames that must show the letter's handshape
    extended: float = 1.1  # a finger is out when its tip is this much farther from the wrist than its middle joint
    thumb_out: float = 0.9  # hand sizes from the thumb tip to the ring finger's base: a thumb out (Y, L), no I or D
    method: str = "template"  # how a stroke is judged: template | dtw | rule (signs.strokes)
    threshold: float = 0.25  # the largest template/dtw distance accepted (units of the stroke's longer side; fitted)
    turn: bool = True  # template/dtw: the stroke's ends must also turn as the letter's do (strokes.TURNS)

    def check(self) -> "MotionConfig":
        for name in ("window_s", "speed_s", "move_speed", "still_speed", "still_s", "gap_s", "min_extent", "max_extent",
                     "extended", "thumb_out", "threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise MotionError(f"motion.{name} must be a positive number, got {value!r}")
        if self.still_speed >= self.move_speed:
            raise MotionError(f"motion.still_speed ({self.still_speed}) must be below motion.move_speed "
                              f"({self.move_speed})")
        if self.min_extent >= self.max_extent:
            raise MotionError(f"motion.min_extent ({self.min_extent}) must be below "
                              f"motion.max_extent ({self.max_extent})")
        if not 0 < self.min_shape <= 1:
            raise MotionError(f"motion.min_shape must be in (0, 1], got {self.min_shape!r}")
        if not isinstance(self.turn, bool):
            raise MotionError(f"motion.turn must be true or false, got {self.turn!r}")
        if self.method not in strokes.METHODS:
            raise MotionError(f"motion.method must be one of {', '.join(strokes.METHODS)}, got {self.method!r}")
        return self


def hand_size(landmarks: np.ndarray) -> float:
    """The palm's size in pixels: wrist to the middle finger's base (it does not change with the handshape)."""
    return float(np.linalg.norm(landmarks[MIDDLE_MCP] - landmarks[WRIST]))


def handshape(landmarks: np.ndarray, extended: float = 1.1, thumb_out: float = 0.9) -> str | None:
    """I (only the little finger out), index (only the index out), or None, from the 21 landmarks.
    The thumb must be folded in: a thumb far from the ring finger's base is a Y or an L."""
    if np.linalg.norm(landmarks[THUMB_TIP] - landmarks[RING_MCP]) > thumb_out * hand_size(landmarks):
        return None
    reach = np.linalg.norm(landmarks - landmarks[WRIST], axis=1)  # every joint's distance from the wrist
    out = (reach[TIPS] > extended * reach[PIPS]).tolist()
    if out == [False, False, False, True]:
        return I_SHAPE
    if out == [True, False, False, False]:
        return INDEX_SHAPE
    return None


def thumb_side(landmarks: np.ndarray) -> float:
    """The x direction of the thumb side of the palm, in hand sizes (index base minus little-finger base)."""
    size = hand_size(landmarks)
    return float(landmarks[INDEX_MCP, 0] - landmarks[PINKY_MCP, 0]) / size if size > 0 else 0.0


@dataclass
class _Frame:
    t: float
    points: np.ndarray  # (3, 2): the landmarks' centre, the index tip, the little-finger tip
    size: float
    shape: str | None
    thumb: float
    speed: float = 0.0  # hand sizes per second when this frame came


class MotionSpotter:
    """Recognises the moving letters J and Z from the recent track of one hand."""

    def __init__(self, cfg: MotionConfig | None = None,
                 judge: Callable[[np.ndarray, str, float], bool] | None = None) -> None:
        """`judge(path, letter, thumb)` replaces `cfg.method`'s judge (train/motion_eval.py measures others)."""
        self.cfg = (cfg or MotionConfig()).check()
        self._judge_path = judge or self._method_judge
        self._track: deque[_Frame] = deque()
        self._last_seen = -np.inf
        self._speed = 0.0
        self._stroke_start: float | None = None  # time the current stroke began
        self._still_since: float | None = None

    def reset(self) -> None:
        self._track.clear()
        self._speed = 0.0
        self._stroke_start = self._still_since = None

    def moving(self) -> bool:
        """Is the hand travelling now: a stroke began (faster than `move_speed` hand sizes per second) and
        the hand has not slowed below `still_speed` since?"""
        return self._stroke_start is not None and self._still_since is None

    def update(self, t: float, landmarks: np.ndarray | None, label: str | None, best: str | None) -> str | None:
        """One frame. t: source time in seconds; landmarks: the first hand's (21, 2) pixel landmarks
        (signcaps.hands.detector.Hand.landmarks) or None when no hand; label: the letters view's accepted
        class this frame (None when rejected); best: its longest letter capsule even when rejected.
        Returns "J" or "Z" on the one frame a drawn J or Z completes, else None."""
        if landmarks is None:
            if t - self._last_seen > self.cfg.gap_s:
                self.reset()
            return None
        marks = np.asarray(landmarks, np.float64)[:, :2]
        size = hand_size(marks)
        if not np.all(np.isfinite(marks)) or size <= 0:
            return None
        if self._track and t <= self._track[-1].t:  # a source that restarts its clock starts a new track
            self.reset()
        self._last_seen = t
        shape = self._shape(marks, label, best)
        points = np.stack([marks.mean(axis=0), marks[INDEX_TIP], marks[PINKY_TIP]])
        self._track.append(_Frame(t, points, size, shape, thumb_side(marks)))
        while self._track[0].t < t - self.cfg.window_s - self.cfg.still_s - self.cfg.speed_s:
            self._track.popleft()
        self._speed = self._track[-1].speed = self._current_speed()
        return self._advance(t)

    def _shape(self, marks: np.ndarray, label: str | None, best: str | None) -> str | None:
        """The landmarks' handshape, unless the letters view accepted another letter; the view's answer
        (accepted or best) where the landmarks show neither."""
        if label not in (None, "none", "?") and label not in SHAPE_OF_ANSWER:
            return None
        return handshape(marks, self.cfg.extended, self.cfg.thumb_out) or SHAPE_OF_ANSWER.get(label or best or "")

    def _current_speed(self) -> float:
        """The fastest of the three tracked points over the last `speed_s`, in hand sizes per second; each
        end of that span is the mean of `SMOOTH` frames, which keeps landmark jitter from looking like travel."""
        track = self._track
        then = len(track) - 1
        while then >= 0 and track[then].t > track[-1].t - self.cfg.speed_s + 1e-9:
            then -= 1
        if then < 0:  # less than speed_s of track yet
            return 0.0
        late = [track[i] for i in range(max(then + 1, len(track) - SMOOTH), len(track))]
        early = [track[i] for i in range(max(0, then - SMOOTH + 1), then + 1)]
        dt = sum(f.t for f in late) / len(late) - sum(f.t for f in early) / len(early)
        size = sum(f.size for f in late + early) / (len(late) + len(early))
        gone = sum(f.points for f in late) / len(late) - sum(f.points for f in early) / len(early)
        travel = float(np.sqrt((gone * gone).sum(axis=1)).max())
        return travel / size / dt if dt > 0 else 0.0

    def _advance(self, t: float) -> str | None:
        """Start a stroke when the hand starts travelling; judge it once it has rested for `still_s`."""
        if self._speed > self.cfg.move_speed or (self._stroke_start is not None and
                                                 self._speed >= self.cfg.still_speed):
            self._still_since = None
            if self._stroke_start is None:
                self._stroke_start = self._rest_before()
            return None
        if self._stroke_start is None:
            return None
        if self._still_since is None:
            self._still_since = t
        if t - self._still_since < self.cfg.still_s:
            return None
        start, self._stroke_start, self._still_since = self._stroke_start, None, None
        return self._judge([f for f in self._track if f.t >= start - 1e-9], t - start)

    def _rest_before(self) -> float:
        """When the hand last rested: a hand speeds up gradually, so the stroke began before it was fast."""
        start = self._track[-1].t - self.cfg.speed_s
        for frame in reversed(self._track):
            if frame.speed <= self.cfg.still_speed:
                return min(start, frame.t)
        return self._track[0].t

    def _judge(self, frames: list[_Frame], duration: float) -> str | None:
        """The letter the stroke draws, if its handshape, size, duration and path all say so."""
        if duration > self.cfg.window_s + self.cfg.still_s + self.cfg.speed_s or len(frames) < 4:
            return None
        shapes = [f.shape for f in frames]
        shape = max((I_SHAPE, INDEX_SHAPE), key=shapes.count)
        if shapes.count(shape) < self.cfg.min_shape * len(frames):
            return None
        tip = 1 if shape == INDEX_SHAPE else 2
        path = self._drawn(frames, tip)
        size = float(np.median([f.size for f in frames]))
        extent = float(np.max(path.max(axis=0) - path.min(axis=0))) / size
        if not self.cfg.min_extent <= extent <= self.cfg.max_extent:
            return None
        # J hooks toward the thumb side; a Z is taken in both orientations (a mirrored camera, a left
        # hand, and which way "right" is for the signer all flip it, and no other motion draws a Z)
        letter = SHAPE_LETTER[shape]
        thumb = float(np.median([f.thumb for f in frames])) if letter == "J" else 0.0
        thumb = 0.0 if abs(thumb) < 0.3 else float(np.sign(thumb))
        return letter if self._judge_path(path, letter, thumb) else None

    def _drawn(self, frames: list[_Frame], tip: int) -> np.ndarray:
        """The tip's path while it travelled, smoothed over `SMOOTH` frames: the jitter of the rests at both
        ends would otherwise count as drawn length (the resampling spreads points by length)."""
        fast = [f.t for f in frames if f.speed >= self.cfg.still_speed]
        begin, end = (fast[0] - self.cfg.speed_s, fast[-1]) if fast else (frames[0].t, frames[-1].t)
        points = np.array([f.points[tip] for f in frames if begin - 1e-9 <= f.t <= end + 1e-9])
        if len(points) < SMOOTH:
            return points
        kernel = np.ones(SMOOTH) / SMOOTH
        return np.stack([np.convolve(points[:, k], kernel, mode="valid") for k in range(2)], axis=1)

    def _method_judge(self, path: np.ndarray, letter: str, thumb: float) -> bool:
        return strokes.judge(path, letter, thumb, self.cfg.method, self.cfg.threshold, self.cfg.turn)
