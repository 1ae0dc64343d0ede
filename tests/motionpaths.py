"""Paths a hand travels along, for the J and Z tests and train/motion_eval.py (numpy only).

A path is a function of the phase u in [0, 1] that returns the hand's offset from where it rested,
in hand sizes, x right and y down (image axes), drawn for a hand whose thumb side is +x (`thumb`
-1 mirrors it). `timeline` turns one into per-frame offsets: a rest, the motion (eased at both ends,
as a hand starts and stops), a rest.
"""
from __future__ import annotations

import numpy as np

LETTER_PATHS = ("J", "Z")
DISTRACTOR_PATHS = ("line-down", "line-right", "line-diagonal", "circle", "arc", "jitter", "slide", "zigzag-v")


def polyline(points: list[tuple[float, float]], u: np.ndarray) -> np.ndarray:
    """Points along the polyline at phases u, equally spaced by length."""
    pts = np.asarray(points, np.float64)
    along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    at = np.clip(u, 0, 1) * along[-1]
    return np.stack([np.interp(at, along, pts[:, 0]), np.interp(at, along, pts[:, 1])], axis=1)


def j_path(u: np.ndarray) -> np.ndarray:
    """Down 0.6, then a hook of radius 0.3 toward +x ending going up (unit height about 1)."""
    stem, hook = 0.6, np.pi * 0.3
    total = stem + hook
    s = np.clip(u, 0, 1) * total
    a = np.clip((s - stem) / 0.3, 0, np.pi)
    x = np.where(s <= stem, 0.0, 0.3 - 0.3 * np.cos(a))
    y = np.where(s <= stem, s, stem + 0.3 * np.sin(a))
    return np.stack([x, y], axis=1)


def shape_path(name: str, u: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Unit-sized offsets (about 1 across) of the named path at phases u."""
    if name == "J":
        return j_path(u)
    if name == "Z":
        return polyline([(0, 0), (1, 0), (0, 1), (1, 1)], u)
    if name == "line-down":
        return polyline([(0, 0), (0, 1)], u)
    if name == "line-right":
        return polyline([(0, 0), (1, 0)], u)
    if name == "line-diagonal":
        return polyline([(0, 0), (-0.8, 0.8)], u)
    if name == "slide":  # the sideways slide of a double letter: short and straight
        return polyline([(0, 0), (0.5, 0.05)], u)
    if name == "circle":
        a = 2 * np.pi * u
        return np.stack([0.5 * np.sin(a), 0.5 - 0.5 * np.cos(a)], axis=1)
    if name == "arc":  # a U: down, across, up by as much (a bounce, not a hook)
        a = np.pi * u
        return np.stack([0.5 - 0.5 * np.cos(a), 0.5 * np.sin(a)], axis=1)
    if name == "zigzag-v":  # down, up, down: a shake, not a Z
        return polyline([(0, 0), (0.2, 1), (0.4, 0), (0.6, 1)], u)
    if name == "jitter":
        rng = rng or np.random.default_rng(0)
        return rng.normal(0, 0.08, size=(len(u), 2))
    raise ValueError(name)


def timeline(name: str, fps: float, duration_s: float, size: float, thumb: float = 1.0, rest_s: float = 0.5,
             rng: np.random.Generator | None = None) -> np.ndarray:
    """Per-frame offsets (pixels when `size` is the drawn size in pixels): rest, motion, rest."""
    rest = int(round(rest_s * fps))
    moving = max(2, int(round(duration_s * fps)))
    u = np.linspace(0, 1, moving)
    eased = u if name == "jitter" else 0.5 - 0.5 * np.cos(np.pi * u)  # slow start and stop
    path = shape_path(name, eased, rng) * size
    path[:, 0] *= thumb
    return np.concatenate([np.repeat(path[:1], rest, axis=0), path, np.repeat(path[-1:], rest, axis=0)])


def synthetic_hand(shape: str, size: float = 60.0, thumb: float = 1.0) -> np.ndarray:
    """(21, 2) landmarks of an upright hand (fingers up, wrist at 0), palm `size` pixels: "I" (little
    finger out), "index" (index out), "fist" or "open"; thumb side +x, or -x for `thumb` -1."""
    out = {"I": (False, False, False, True), "index": (True, False, False, False),
           "fist": (False,) * 4, "open": (True,) * 4}[shape]
    marks = [(0.0, 0.0), (0.3, -0.2), (0.5, -0.45), (0.6, -0.65), (0.65, -0.8)]  # wrist, thumb
    for base_x, up in zip((0.35, 0.1, -0.12, -0.32), out):
        marks.append((base_x, -1.0))
        ys = (-1.45, -1.75, -2.0) if up else (-1.3, -1.1, -0.95)
        marks.extend((base_x, y) for y in ys)
    hand = np.array(marks) * size
    hand[:, 0] *= thumb
    return hand
