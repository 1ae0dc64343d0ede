"""Is a fingertip path a drawn J or Z? Path normalisation and the judges `signs.motion` can use.

A stroke is the path one fingertip drew between two moments of rest (`signs.motion` cuts it). Here
it is made independent of where, how large and how fast it was drawn: resampled to `SAMPLES`
points equally spaced along its length (the speed and the frame rate drop out), centred on its
bounding box and scaled so the box's longer side is 1 (the aspect ratio stays: a line is no Z).

Coordinates are image pixels (y grows downwards). The shapes, for a hand whose thumb side is +x:

* J: down, then a hook that curves toward the thumb side and up (the little finger's tip);
* Z: a stroke along +x, a diagonal down and back, a stroke along +x again (the index tip).

Their mirror images (x -> -x) are what a hand whose thumb side is -x draws: a left hand, or a
right hand in a mirrored camera. The judges, compared in train/README.md ("J and Z"):

* ``template`` (shipped, with the turn check): mean distance between the normalised path and the
  letter's template, point by point, and the ends' directions turned as the letter's (`TURNS`);
* ``dtw``: the same distance with dynamic time warping (forgives a part drawn faster or slower);
* ``rule``: hand-written checks of the strokes' directions (corners for Z, down-then-up for J);
* `StrokeModel`: logistic regression on the canonical path, fitted by train/motion_eval.py on the
  tuning clips; it spelled a J on a circle of the report half, so no weights ship and it is no `method`.

Numpy only (the browser page may copy it).
"""
from __future__ import annotations

import numpy as np

SAMPLES = 32
LETTERS = ("J", "Z")
METHODS = ("template", "dtw", "rule")


def resample(points: np.ndarray, n: int = SAMPLES) -> np.ndarray:
    """`n` points equally spaced along the polyline `points` (k, 2); a path of no length repeats its start."""
    points = np.asarray(points, np.float64)
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    keep = np.concatenate([[True], steps > 0])  # repeated points would make the lengths non-increasing
    points, steps = points[keep], steps[steps > 0]
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] <= 0:
        return np.repeat(points[:1], n, axis=0)
    at = np.linspace(0.0, along[-1], n)
    return np.stack([np.interp(at, along, points[:, 0]), np.interp(at, along, points[:, 1])], axis=1)


def normalise(points: np.ndarray, n: int = SAMPLES) -> np.ndarray:
    """The path resampled by arc length, centred on its bounding box, its longer side scaled to 1."""
    path = resample(points, n)
    low, high = path.min(axis=0), path.max(axis=0)
    side = float(np.max(high - low))
    return (path - (low + high) / 2) / (side if side > 0 else 1.0)


def _template_points(letter: str) -> np.ndarray:
    """The letter drawn by a hand whose thumb side is +x, as a dense polyline (y down)."""
    if letter == "Z":
        return np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    stem = np.stack([np.zeros(20), np.linspace(0.0, 0.6, 20)], axis=1)
    angle = np.linspace(0.0, np.pi, 40)[1:]  # the hook: a half circle of radius 0.25 below the stem's end
    hook = np.stack([0.25 - 0.25 * np.cos(angle), 0.6 + 0.25 * np.sin(angle)], axis=1)
    return np.concatenate([stem, hook])


TEMPLATES = {letter: normalise(_template_points(letter)) for letter in LETTERS}


def mirrored(path: np.ndarray) -> np.ndarray:
    return path * np.array([-1.0, 1.0])


def orientations(thumb: float) -> tuple[float, ...]:
    """The x signs to try: the thumb side's when it is clear, both when the hand is seen edge-on."""
    return (1.0,) if thumb > 0 else (-1.0,) if thumb < 0 else (1.0, -1.0)


def template_distance(path: np.ndarray, letter: str, thumb: float = 0.0) -> float:
    """Mean point-to-point distance (in units of the path's longer side) to the nearer orientation."""
    own = normalise(path)
    return min(float(np.mean(np.linalg.norm(own * [s, 1.0] - TEMPLATES[letter], axis=1))) for s in orientations(thumb))


def dtw_distance(path: np.ndarray, letter: str, thumb: float = 0.0) -> float:
    """Dynamic-time-warping distance to the template, divided by the warping path's length."""
    own = normalise(path)
    return min(_dtw(own * [s, 1.0], TEMPLATES[letter]) for s in orientations(thumb))


def _dtw(a: np.ndarray, b: np.ndarray) -> float:
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    steps = np.zeros((n + 1, m + 1))
    total[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            options = (total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])
            k = int(np.argmin(options))
            prev = ((i - 1, j - 1), (i - 1, j), (i, j - 1))[k]
            total[i, j] = cost[i - 1, j - 1] + options[k]
            steps[i, j] = steps[prev] + 1
    return float(total[n, m] / steps[n, m])


def _turns(path: np.ndarray) -> np.ndarray:
    """Signed turning angle at each inner point of a resampled path (radians)."""
    d = np.diff(path, axis=0)
    angle = np.arctan2(d[:, 1], d[:, 0])
    return (np.diff(angle) + np.pi) % (2 * np.pi) - np.pi


def rule_says(path: np.ndarray, letter: str, thumb: float = 0.0) -> bool:
    """Hand-written checks: Z has two sharp corners and three strokes right, down-left, right; J goes
    down most of its length, then turns about half a circle toward the thumb side and ends going up."""
    own = normalise(path)
    for s in orientations(thumb):
        p = own * [s, 1.0]
        if (_rule_z(p) if letter == "Z" else _rule_j(p)):
            return True
    return False


def _rule_z(p: np.ndarray) -> bool:
    turns = _turns(p)
    smooth = np.convolve(turns, np.ones(3), mode="same")
    corners = sorted(np.argsort(-np.abs(smooth))[:1].tolist())
    first = int(corners[0])
    masked = np.abs(smooth).copy()
    masked[max(0, first - 4): first + 5] = 0
    second = int(np.argmax(masked))
    a, b = sorted((first + 1, second + 1))
    if b - a < 4 or a < 3 or len(p) - b < 3:
        return False
    strokes = [p[a] - p[0], p[b] - p[a], p[-1] - p[b]]
    (x1, y1), (x2, y2), (x3, y3) = strokes
    return bool(x1 > 2 * abs(y1) and x3 > 2 * abs(y3) and x2 < 0 and y2 > 0.5 * abs(x2))


def _rule_j(p: np.ndarray) -> bool:
    d = np.diff(p, axis=0)
    half = len(d) // 2
    down_first = np.sum(d[:half, 1]) > 2 * abs(np.sum(d[:half, 0]))
    up_last = np.sum(d[-4:, 1]) < 0
    total_turn = float(np.sum(_turns(p)))  # y down: a turn toward +x after going down is anticlockwise on screen
    toward_thumb = p[-1, 0] > p[0, 0]
    return bool(down_first and up_last and toward_thumb and -4.0 < total_turn < -1.8)


# How far the direction at the end of a stroke is turned from the one at its start, in degrees: a J
# turns from down to up (about 180), a Z ends as it began (about 0). Distances to the template hardly
# see it: a stroke down and then sideways (an L) is as near the J template as a sloppy J.
TURNS = {"J": (130.0, 180.0), "Z": (0.0, 60.0)}
TURN_SPAN = 4  # samples (of SAMPLES) each end's direction is measured over


def end_turn(path: np.ndarray) -> float:
    """The angle (degrees, 0..180) between the stroke's direction at its start and at its end."""
    own = normalise(path)
    a, b = own[TURN_SPAN] - own[0], own[-1] - own[-1 - TURN_SPAN]
    turn = np.degrees(np.arctan2(b[1], b[0]) - np.arctan2(a[1], a[0]))
    return float(abs((turn + 180.0) % 360.0 - 180.0))


def turns_like(path: np.ndarray, letter: str) -> bool:
    low, high = TURNS[letter]
    return low <= end_turn(path) <= high


def judge(path: np.ndarray, letter: str, thumb: float, method: str, threshold: float, turn: bool = True) -> bool:
    """Does `path` draw `letter`? `threshold`: the largest distance accepted (template, dtw); `turn`: the
    ends' directions must also turn as the letter's do (`TURNS`)."""
    if method == "rule":
        return rule_says(path, letter, thumb)
    distance = dtw_distance if method == "dtw" else template_distance
    return distance(path, letter, thumb) <= threshold and (not turn or turns_like(path, letter))


def canonical(path: np.ndarray, letter: str, thumb: float) -> np.ndarray:
    """The normalised path in the template's orientation: J by the thumb side (or, seen edge-on, by
    where the hook ends), Z so that its first stroke runs along +x."""
    own = normalise(path)
    if letter == "J":
        sign = thumb if thumb else (1.0 if own[-1, 0] >= own[0, 0] else -1.0)
    else:
        quarter = len(own) // 4
        sign = 1.0 if own[quarter, 0] >= own[0, 0] else -1.0
    return own * [sign, 1.0]


class StrokeModel:
    """Logistic regression per letter on the canonical path's coordinates (numpy only, no torch).

    Fitted on strokes the spotter cut from real tracks (train/motion_eval.py, the tuning half);
    `says` is true where the fitted probability is above one half."""

    def __init__(self, weights: dict[str, tuple[np.ndarray, float]]) -> None:
        self.weights = weights

    @staticmethod
    def features(path: np.ndarray, letter: str, thumb: float) -> np.ndarray:
        return canonical(path, letter, thumb).ravel()

    def probability(self, path: np.ndarray, letter: str, thumb: float) -> float:
        if letter not in self.weights:
            return 0.0
        w, b = self.weights[letter]
        return float(1.0 / (1.0 + np.exp(-(self.features(path, letter, thumb) @ w + b))))

    def says(self, path: np.ndarray, letter: str, thumb: float) -> bool:
        return self.probability(path, letter, thumb) > 0.5

    @classmethod
    def fit(cls, rows: list[tuple[np.ndarray, str, float, bool]], l2: float = 0.01, steps: int = 3000,
            rate: float = 0.5) -> "StrokeModel":
        """Gradient descent on the mean log loss (+ l2), each letter on its own strokes; classes weighted
        equally (there are more strokes of other paths than of letters)."""
        weights = {}
        for letter in LETTERS:
            mine = [(cls.features(p, letter, t), y) for p, lt, t, y in rows if lt == letter]
            if not mine or all(y for _, y in mine) or not any(y for _, y in mine):
                continue
            x = np.array([f for f, _ in mine])
            y = np.array([float(v) for _, v in mine])
            share = np.where(y > 0, 0.5 / y.sum(), 0.5 / (1 - y).sum())
            w, b = np.zeros(x.shape[1]), 0.0
            for _ in range(steps):
                p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
                g = share * (p - y)
                w -= rate * (x.T @ g + l2 * w)
                b -= rate * float(g.sum())
            weights[letter] = (w, b)
        return cls(weights)
