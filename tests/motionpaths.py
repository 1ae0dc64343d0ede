"""Paths a hand travels along, for the J and Z tests and train/motion_eval.py (numpy only).

A path is a function of the phase u in [0, 1] that returns the hand's offset from where it rested,
in hand sizes, x right and y down (image axes), drawn for a hand whose thumb side is +x (`thumb`
-1 mirrors it). `timeline` turns one into per-frame offsets: a rest, the motion (eased at both ends,
as a hand starts and stops, optionally at every corner too, and warped as another person would draw
it), a rest.
"""
from __future__ import annotations

import numpy as np

LETTER_PATHS = ("J", "Z")
DISTRACTOR_PATHS = ("line-down", "line-right", "line-diagonal", "circle", "arc", "jitter", "slide", "zigzag-v",
                    "check", "wave", "s-curve", "seven", "ell")
POLYLINES = {
    "Z": [(0, 0), (1, 0), (0, 1), (1, 1)],
    "line-down": [(0, 0), (0, 1)],
    "line-right": [(0, 0), (1, 0)],
    "line-diagonal": [(0, 0), (-0.8, 0.8)],
    "slide": [(0, 0), (0.5, 0.05)],  # the sideways slide of a double letter: short and straight
    "zigzag-v": [(0, 0), (0.2, 1), (0.4, 0), (0.6, 1)],  # down, up, down: a shake, not a Z
    "check": [(0, 0), (0.3, 0.4), (1, -0.4)],  # a tick: short down-right, long up-right
    "wave": [(0, 0), (0.6, 0), (0, 0.05), (0.6, 0.05), (0, 0.1)],  # side to side twice, as in waving
    "seven": [(0, 0), (1, 0), (0, 1)],  # a Z without its last stroke
    "ell": [(0, 0), (0, 0.8), (0.4, 0.8)],  # down, then sideways: a J that never turns up
}


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
    if name in POLYLINES:
        return polyline(POLYLINES[name], u)
    if name == "circle":
        a = 2 * np.pi * u
        return np.stack([0.5 * np.sin(a), 0.5 - 0.5 * np.cos(a)], axis=1)
    if name == "arc":  # a U: down, across, up by as much (a bounce, not a hook)
        a = np.pi * u
        return np.stack([0.5 - 0.5 * np.cos(a), 0.5 * np.sin(a)], axis=1)
    if name == "s-curve":  # down with a sideways wiggle: an S
        return np.stack([0.25 * np.sin(2 * np.pi * u), u], axis=1)
    if name == "jitter":
        rng = rng or np.random.default_rng(0)
        return rng.normal(0, 0.08, size=(len(u), 2))
    raise ValueError(name)


def corners(name: str) -> np.ndarray:
    """The phases of a polyline's vertices (0 and 1 included): where a hand drawing it slows down."""
    pts = np.asarray(POLYLINES.get(name, [(0, 0), (1, 0)]), np.float64)
    along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    return along / along[-1]


def ease(u: np.ndarray, stops: np.ndarray | None = None) -> np.ndarray:
    """Phases that slow to a stop at both ends and at each of `stops` (increasing phases from 0 to 1);
    every part takes a share of the time equal to its share of the length."""
    stops = np.array([0.0, 1.0]) if stops is None else stops
    k = np.clip(np.searchsorted(stops, u, side="right") - 1, 0, len(stops) - 2)
    local = (u - stops[k]) / (stops[k + 1] - stops[k])
    return stops[k] + (stops[k + 1] - stops[k]) * (0.5 - 0.5 * np.cos(np.pi * local))


def warp(path: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """The path as another person draws it: turned (up to 15 degrees), stretched (up to 30% in x) and
    sheared (up to 0.2) by `strength` 0..1, about its start."""
    angle = np.radians(rng.uniform(-15, 15) * strength)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    stretch = np.diag([1 + rng.uniform(-0.3, 0.3) * strength, 1.0])
    shear = np.array([[1.0, rng.uniform(-0.2, 0.2) * strength], [0.0, 1.0]])
    return (path - path[0]) @ (rot @ stretch @ shear).T


def timeline(name: str, fps: float, duration_s: float, size: float, thumb: float = 1.0, rest_s: float = 0.5,
             rng: np.random.Generator | None = None, distort: float = 0.0, corner_stops: bool = False) -> np.ndarray:
    """Per-frame offsets (pixels when `size` is the drawn size in pixels): rest, motion, rest. `distort`
    warps the shape (0..1); `corner_stops` slows the hand to a stop at a polyline's corners."""
    rng = rng or np.random.default_rng(0)
    rest = int(round(rest_s * fps))
    moving = max(2, int(round(duration_s * fps)))
    u = np.linspace(0, 1, moving)
    eased = u if name == "jitter" else ease(u, corners(name) if corner_stops else None)
    path = shape_path(name, eased, rng)
    if distort and name != "jitter":
        path = warp(path, rng, distort)
    path = path * size
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
