"""Synthetic negative hand poses: edits of real training hands that no sign of the training set shows.

Why: a classifier that only ever saw digits must call every hand a digit (issue 18: 84.8% of real
no-digit ASL photos read as a confident digit). Real negatives are few and from other cameras; edits
of the user's own training hands are unlimited, reproducible from a seed, and keep that camera's
MediaPipe noise in every joint they do not move. An edit is kept only when its `finger_signature`
(which fingers are out, bent or curled, where the thumb is, which tip it touches) is one no class of
the training poses shows, a set derived from the data, so the same code serves a user's own signs.

Input: `landmarks.normalize_pose` poses of right hands (the default recipe mirrors left ones):
wrist at the origin, |wrist -> middle knuckle| = 1, x right, y down, z MediaPipe's depth.
The hand frame: `palm` n = unit((p5 - p0) x (p17 - p0)) points out of the palm (measured: 100% of
the curled middle, ring and pinky tips of real "1" photos lie on its + side), `up` is wrist -> middle
knuckle in the palm plane, `side` = up x palm points towards the thumb. Numpy only, like landmarks.py.
"""
from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from signcaps.hands.landmarks import NUM_JOINTS

FINGERS = ("index", "middle", "ring", "pinky")
CHAINS: dict[str, tuple[int, int, int, int]] = {
    "thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}
_FINGER_CHAINS = np.array([CHAINS[f] for f in FINGERS])  # (4, 4): knuckle, PIP, DIP, tip
_TIPS = _FINGER_CHAINS[:, 3]


class HandFrame(NamedTuple):
    """Orthonormal axes of a right hand: `up` (wrist -> middle knuckle), `side` (towards the thumb),
    `palm` (out of the palm)."""

    up: np.ndarray
    side: np.ndarray
    palm: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.sqrt(v @ v)), 1e-9)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors; np.cross costs ten times more on one pair (generator speed)."""
    a0, a1, a2 = a.tolist()
    b0, b1, b2 = b.tolist()
    return np.array((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0))


def palm_normal(pose: np.ndarray) -> np.ndarray:
    """Unit normal of the plane wrist, index knuckle, pinky knuckle; + is the palm side of a right hand."""
    return _unit(_cross(pose[5] - pose[0], pose[17] - pose[0]))


def hand_frame(pose: np.ndarray) -> HandFrame:
    """The axes every edit and every signature feature is measured in, so both agree on any hand tilt."""
    palm = palm_normal(pose)
    up = pose[9] - pose[0]
    up = _unit(up - palm * float(up @ palm))
    return HandFrame(up, _cross(up, palm), palm)


def bone_lengths(pose: np.ndarray, finger: str) -> np.ndarray:
    """(3,) lengths knuckle -> PIP -> DIP -> tip (thumb: CMC -> MCP -> IP -> tip) of this hand."""
    chain = pose[list(CHAINS[finger])]
    return np.linalg.norm(np.diff(chain, axis=0), axis=1)


def _finger_axes(pose: np.ndarray, frame: HandFrame, finger: str) -> tuple[np.ndarray, np.ndarray]:
    """A finger's straight direction (its metacarpal, wrist -> knuckle, in the palm plane) and its
    lateral direction (towards the thumb): the plane flexion and spread are measured in."""
    knuckle = pose[CHAINS[finger][0]] - pose[0]
    ahead = _unit(knuckle - frame.palm * float(knuckle @ frame.palm))
    return ahead, _cross(ahead, frame.palm)


def finger_angles(pose: np.ndarray, finger: str) -> np.ndarray:
    """(mcp, pip, dip, side1, side2, side3) in degrees, the exact inverse of `set_finger`.

    Flexion (towards the palm: +) is each bone's turn in the plane of the metacarpal and the palm
    normal; side is each bone's tilt out of that plane (towards the thumb: +), the spread for the
    first bone. Used to calibrate the edits on real MediaPipe hands, whose fingers are never planar.
    """
    frame = hand_frame(pose)
    ahead, lateral = _finger_axes(pose, frame, finger)
    bones = np.diff(pose[list(CHAINS[finger])], axis=0).astype(np.float64)
    bones /= np.maximum(np.linalg.norm(bones, axis=1, keepdims=True), 1e-9)
    side = np.arcsin(np.clip(bones @ lateral, -1.0, 1.0))
    total = np.unwrap(np.arctan2(bones @ frame.palm, bones @ ahead))
    return np.degrees(np.concatenate([np.diff(total, prepend=0.0), side]))


def set_finger(pose: np.ndarray, finger: str, flexion: Sequence[float], spread: float | None = None,
               wobble: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A new pose with one finger (index..pinky) bent to `flexion` = (MCP, PIP, DIP) degrees.

    The finger turns in the plane of its metacarpal and the palm normal, so it bends towards the
    palm side, never backwards or sideways through its neighbour; the knuckle stays where the hand
    had it and every bone keeps this hand's length. `spread` (degrees towards the thumb, the first
    bone's side tilt) is kept from the pose when None; `wobble` adds to each bone's side tilt, as
    real fingers are never exactly planar.
    """
    out = np.array(pose, np.float32, copy=True)
    if spread is None:
        spread = float(finger_angles(out, finger)[3])
    _bend_finger(out, hand_frame(out), finger, flexion, spread, wobble)
    return out


def _bend_finger(out: np.ndarray, frame: HandFrame, finger: str, flexion: Sequence[float], spread: float,
                 wobble: Sequence[float]) -> None:
    """`set_finger` in place, with the frame computed once per edit (the knuckles never move)."""
    ahead, lateral = _finger_axes(out, frame, finger)
    chain = CHAINS[finger]
    lengths = np.linalg.norm(np.diff(out[list(chain)], axis=0), axis=1)
    total = np.radians(np.cumsum(np.asarray(flexion, np.float64)))
    side = np.radians(spread + np.asarray(wobble, np.float64))
    in_plane = np.cos(total)[:, None] * ahead + np.sin(total)[:, None] * frame.palm
    bones = np.cos(side)[:, None] * in_plane + np.sin(side)[:, None] * lateral
    out[list(chain[1:])] = out[chain[0]] + np.cumsum(lengths[:, None] * bones, axis=0)


# Thumb IK: a grid of MCP bends; the IP bends `ip_ratio` times as much (the two flex together).
_THUMB_BENDS = np.radians(np.linspace(0.0, 110.0, 56))


def place_thumb(pose: np.ndarray, target: np.ndarray, ip_ratio: float = 0.8,
                pole: np.ndarray | None = None) -> np.ndarray:
    """A new pose whose thumb reaches for `target`: CMC kept, MCP/IP/tip by a small planar IK.

    The chain bends in the plane of CMC -> target and `pole` (default: the hand's thumb side, where
    a thumb's knuckles point; of the directions tried it put the MCP and IP nearest to where the ASL
    letters' train/ photos have them), with MCP and IP flexing together, so it bends the way a
    thumb does instead of the arbitrary way a free IK chain would. Bone lengths are kept; a
    target out of reach gets the straight thumb pointing at it.
    """
    out = np.array(pose, np.float32, copy=True)
    _reach_thumb(out, hand_frame(out), np.asarray(target, np.float64), ip_ratio, pole)
    return out


def _reach_thumb(out: np.ndarray, frame: HandFrame, target: np.ndarray, ip_ratio: float,
                 pole: np.ndarray | None) -> None:
    """`place_thumb` in place."""
    root = out[1].astype(np.float64)
    lengths = np.linalg.norm(np.diff(out[[1, 2, 3, 4]], axis=0), axis=1).astype(np.float64)
    aim = target - root
    dist = max(float(np.linalg.norm(aim)), 1e-6)
    aim /= dist
    pole = frame.side if pole is None else np.asarray(pole, np.float64)
    bulge = pole - aim * float(pole @ aim)
    if np.linalg.norm(bulge) < 1e-6:  # target straight along the pole: any perpendicular will do
        bulge = _cross(aim, frame.palm)
    bulge = _unit(bulge)
    turns = -np.stack([np.zeros_like(_THUMB_BENDS), _THUMB_BENDS, _THUMB_BENDS * (1 + ip_ratio)], axis=1)
    reach = np.hypot((lengths * np.cos(turns)).sum(1), (lengths * np.sin(turns)).sum(1))  # falls as it bends
    bend = float(np.interp(dist, reach[::-1], _THUMB_BENDS[::-1]))
    angles = -np.array([0.0, bend, bend * (1 + ip_ratio)])
    end = lengths @ np.stack([np.cos(angles), np.sin(angles)], axis=1)
    angles -= np.arctan2(end[1], end[0])  # turn the chain so its tip lies on the line to the target
    bones = np.cos(angles)[:, None] * aim + np.sin(angles)[:, None] * bulge
    out[[2, 3, 4]] = root + np.cumsum(lengths[:, None] * bones, axis=0)


# ------------------------------------------------------------------------------------ signature

class Signature(NamedTuple):
    """A hand's discrete shape: per finger (index, middle, ring, pinky) `x` extended, `b` bent, `c`
    curled; the thumb `out` (beside the hand), `side` (along the index) or `across` (over the palm);
    the fingertip it touches (`-` for none); index and middle crossed."""

    fingers: str
    thumb: str
    touch: str
    crossed: bool


@dataclass(frozen=True)
class SignatureRules:
    """Thresholds of `finger_signature`, set in the valleys of real MediaPipe hands (1,820 digit photos
    and 1,392 ASL letter photos: a finger's total flexion is below 50 degrees or above 115 degrees for
    all but 4% of fingers). A feature within `*_margin` of a threshold could be read either way:
    `signature_candidates` then gives both readings, so one noisy joint cannot sneak a digit in."""

    extended_below: float = 50.0  # total flexion MCP + PIP + DIP, degrees
    curled_above: float = 115.0
    flex_margin: float = 12.0
    curled_tip_below: float = 0.5  # a curled tip lies on the palm (fists' median 0.13-0.36); an O's floats at 0.7
    tip_margin: float = 0.08
    across_below: float = -0.05  # thumb tip beside the index knuckle, along `side`, in wrist-knuckle units
    out_above: float = 0.35
    thumb_margin: float = 0.08
    touch_below: float = 0.3  # thumb tip to fingertip distance (touching tips: 0.13 median; an O's: 0.23)
    touch_margin: float = 0.07
    near_below: float = 0.6  # no tip touched but one this close: an O's thumb (99% of "0"s < 0.42), not a C's (0.86)
    cross_margin: float = 0.03  # index tip past the middle tip, along `side`


DEFAULT_RULES = SignatureRules()


class ShapeFeatures(NamedTuple):
    """The continuous measurements behind a signature (for thresholds, tests and the report)."""

    flexion: np.ndarray  # (4,) total flexion of index..pinky, degrees
    tip_heights: np.ndarray  # (4,) index..pinky tips above the palm plane, towards the palm side
    thumb_reach: float  # thumb tip past the index knuckle towards the thumb side
    tip_gaps: np.ndarray  # (4,) thumb tip -> index..pinky tip
    cross: float  # index tip past the middle tip towards the pinky side (> 0: crossed)


def _angles_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def shape_features(pose: np.ndarray) -> ShapeFeatures:
    """Measurements that do not depend on how the hand is turned: joint angles and distances in the
    hand's own frame. Flexion sums the unsigned bends (metacarpal -> proximal bone at the knuckle,
    then PIP, DIP), which is what MediaPipe gets right even when its depth is flat."""
    pose = np.asarray(pose, np.float64)
    if not np.linalg.norm(_cross(pose[5] - pose[0], pose[17] - pose[0])) > 1e-6:  # no palm (or NaN): no shape
        pose = np.full_like(pose, np.nan)
    frame = hand_frame(pose)
    joints = pose[_FINGER_CHAINS]  # (4, 4, 3)
    segments = np.concatenate([joints[:, :1] - pose[0], np.diff(joints, axis=1)], axis=1)  # (4, 4, 3)
    flexion = _angles_between(segments[:, :-1], segments[:, 1:]).sum(1)
    return ShapeFeatures(flexion, (pose[_TIPS] - pose[0]) @ frame.palm, float((pose[4] - pose[5]) @ frame.side),
                         np.linalg.norm(pose[_TIPS] - pose[4], axis=1), float((pose[12] - pose[8]) @ frame.side))


def _finger_options(flexion: float, height: float, rules: SignatureRules, scale: float) -> str:
    """`x` straight, `c` rolled into the palm, `b` in between: a C-curve, a hook, or the O's fingers
    that bend as much as a fist's but keep their tips off the palm."""
    margin, high = rules.flex_margin * scale, rules.tip_margin * scale
    options = ""
    if flexion < rules.extended_below + margin:
        options += "x"
    if (rules.extended_below - margin <= flexion <= rules.curled_above + margin
            or (flexion > rules.curled_above - margin and height >= rules.curled_tip_below - high)):
        options += "b"
    if flexion > rules.curled_above - margin and height < rules.curled_tip_below + high:
        options += "c"
    return options


def _thumb_options(reach: float, rules: SignatureRules, margin: float) -> tuple[str, ...]:
    options = []
    if reach > rules.out_above - margin:
        options.append("out")
    if rules.across_below - margin <= reach <= rules.out_above + margin:
        options.append("side")
    if reach < rules.across_below + margin:
        options.append("across")
    return tuple(options)


def _touch_options(gaps: np.ndarray, rules: SignatureRules, margin: float) -> tuple[str, ...]:
    """The fingertip the thumb touches, `near` when one is close, `-` when the thumb is far from all."""
    touched = [FINGERS[i] for i in np.argsort(gaps) if gaps[i] < rules.touch_below + margin]
    gap = float(gaps.min())
    options = touched[:1] if margin == 0 else touched
    if rules.touch_below - margin <= gap < rules.near_below + margin and not (margin == 0 and touched):
        options.append("near")
    if gap >= rules.near_below - margin and not (margin == 0 and gap < rules.near_below):
        options.append("-")
    return tuple(options)


def _cross_options(features: ShapeFeatures, fingers: str, rules: SignatureRules, margin: float) -> tuple[bool, ...]:
    if "c" in fingers[:2]:  # curled fingers cannot be told crossed or not
        return (False,)
    if abs(features.cross) <= margin:
        return (False, True)
    return (features.cross > 0,)


def finger_signature(pose: np.ndarray, rules: SignatureRules = DEFAULT_RULES) -> Signature:
    """The one reading of a hand's shape (each feature on its side of the threshold)."""
    found = _signatures(shape_features(pose), rules, 0.0)
    if not found:
        raise ValueError("the pose has no readable shape (NaN or degenerate landmarks)")
    return found[0]


def signature_candidates(pose: np.ndarray, rules: SignatureRules = DEFAULT_RULES,
                         scale: float = 1.0) -> list[Signature]:
    """Every signature the hand could have if each feature within `scale` margins of a threshold were
    read the other way: a synthetic negative is kept only if none of these is a sign's."""
    return _signatures(shape_features(pose), rules, scale)


def _signatures(features: ShapeFeatures, rules: SignatureRules, scale: float) -> list[Signature]:
    per_finger = [_finger_options(float(f), float(h), rules, scale)
                  for f, h in zip(features.flexion, features.tip_heights)]
    thumbs = _thumb_options(features.thumb_reach, rules, rules.thumb_margin * scale)
    touches = _touch_options(features.tip_gaps, rules, rules.touch_margin * scale)
    found = []
    for fingers in map("".join, itertools.product(*per_finger)):
        crossed = _cross_options(features, fingers, rules, rules.cross_margin * scale)
        found += [Signature(fingers, t, touch, c) for t, touch, c in itertools.product(thumbs, touches, crossed)]
    return found


# ----------------------------------------------------------------------------------- finger states

class FingerState(NamedTuple):
    """Ranges an edit draws a finger's angles from: (MCP, PIP, DIP) flexion and the three bones'
    side tilts, per finger (index..pinky), in degrees."""

    flex_low: tuple[float, float, float]
    flex_high: tuple[float, float, float]
    sides: tuple[tuple[float, float, float], ...]  # centre of (side1, side2, side3) per finger


# MediaPipe's own view of real hands, not the anatomy books': its fists bend most at the PIP. The
# ranges are the 20th-80th percentiles of `finger_angles` on the ASL letters' train/ photos (E for
# tight, X for hooked, C for half, the digit photos' 5s for extended); for curled, the range whose
# fingertips land where real A S T M N fists put them (median PIP and tip positions 0.07 off, with
# this hand's bone lengths kept; MediaPipe draws curled phalanges shorter-longer than straight ones).
# Edits that copy the anatomy books would give negatives no camera ever shows, which teach nothing.
_EXTENDED_SIDES = ((-1, -4, -7), (-2, -2, -5), (1, 5, 6), (-4, 2, 8))
_CURLED_SIDES = ((-11, 11, 4), (-2, 8, -1), (9, 1, -5), (33, -7, -17))
STATES: dict[str, FingerState] = {
    "extended": FingerState((0, 0, -3), (9, 10, 2), _EXTENDED_SIDES),
    "curled": FingerState((35, 120, 10), (60, 150, 40), _CURLED_SIDES),
    "tight": FingerState((5, 125, 3), (30, 158, 25), ((-19, 11, 8), (-6, 5, 2), (2, 6, -1), (19, 6, -7))),
    "hooked": FingerState((-2, 28, 22), (15, 50, 45), ((-19, 0, 5), *_CURLED_SIDES[1:])),
    # folded hard at the knuckle, as MediaPipe sees the fist of an X (its photos are side views)
    "folded": FingerState((65, 70, 35), (105, 95, 70), ((-11, 11, 4), (19, 3, -16), (24, -1, -15), (25, -7, -24))),
    "half": FingerState((8, 20, 8), (22, 45, 25), ((-21, -17, -11), (-9, -2, 3), (2, 9, 12), (16, 17, 17))),
    "bent": FingerState((55, 0, -3), (85, 12, 5), _EXTENDED_SIDES),  # bent at the knuckle only
}
_SIDE_JITTER = 6.0
_MIN_CURLED_TIP = 0.02  # a curled fingertip rests on the palm, in front of its plane
# The signature letter a state reads as: a finger already in it is left as the camera saw it.
_STATE_LETTER = {"extended": "x", "curled": "c", "tight": "c", "folded": "c", "hooked": "b", "half": "b",
                 "bent": "b"}

# Thumb tip targets: from the CMC, along the hand frame's (up, side, palm), in units of this hand's
# thumb length (so a placement bends a short thumb as much as a long one); centre and half range, the
# medians and 20th-80th percentile spreads of the ASL letters' train/ photos with each placement
# ("across": the digit photos' 4s).
THUMB_PLACES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "out": ((0.78, 0.57, 0.15), (0.07, 0.07, 0.12)),  # L, Y: beside the hand
    "side": ((0.90, 0.06, 0.01), (0.05, 0.09, 0.09)),  # A: along the curled index
    "over": ((0.64, -0.26, 0.03), (0.09, 0.06, 0.09)),  # S, I: over the curled fingers
    "between": ((0.93, -0.09, 0.04), (0.04, 0.10, 0.04)),  # T: between index and middle
    "under_tips": ((0.54, -0.47, 0.06), (0.07, 0.08, 0.14)),  # E: under the fingertips
    "under_three": ((0.72, -0.47, 0.03), (0.08, 0.15, 0.10)),  # M: tip under the ring finger
    "under_two": ((0.82, -0.38, -0.02), (0.04, 0.07, 0.05)),  # N: tip under the middle finger
    "opposed": ((0.80, 0.13, 0.47), (0.06, 0.16, 0.15)),  # C: facing the fingertips, no contact
    "over_middle": ((0.78, 0.02, 0.27), (0.07, 0.14, 0.09)),  # X: on the curled middle finger
    "across": ((0.63, -0.43, -0.04), (0.09, 0.11, 0.03)),  # 4, B: across the palm
}


def shape_finger(pose: np.ndarray, finger: str, state: str, rng: np.random.Generator) -> np.ndarray:
    """A new pose with `finger` in `state` (a key of STATES), its angles drawn from the state's range."""
    out = np.array(pose, np.float32, copy=True)
    _shape_finger(out, hand_frame(out), FINGERS.index(finger), state, rng)
    return out


def _shape_finger(out: np.ndarray, frame: HandFrame, index: int, state: str, rng: np.random.Generator) -> None:
    """Draw the state's angles; a curled tip that would end behind the palm plane (a short hand's
    pinky rolled 250 degrees) is bent less, towards the range's low end, until it rests in front."""
    spec = STATES[state]
    flexion = rng.uniform(spec.flex_low, spec.flex_high)
    sides = np.asarray(spec.sides[index], np.float64) + rng.uniform(-_SIDE_JITTER, _SIDE_JITTER, 3)
    finger, tip = FINGERS[index], _TIPS[index]
    low = np.asarray(spec.flex_low, np.float64)
    for ease in (0.0, 0.5, 1.0):
        _bend_finger(out, frame, finger, flexion + ease * (low - flexion), float(sides[0]), sides - sides[0])
        if _STATE_LETTER[state] != "c" or float((out[tip] - out[0]) @ frame.palm) >= _MIN_CURLED_TIP:
            return


def thumb_target(pose: np.ndarray, place: str, rng: np.random.Generator) -> np.ndarray:
    """A point for the thumb tip at `place` (a key of THUMB_PLACES) of this hand, drawn in its range."""
    return _thumb_point(pose, hand_frame(pose), place, rng)


def _thumb_point(pose: np.ndarray, frame: HandFrame, place: str, rng: np.random.Generator) -> np.ndarray:
    centre, half = THUMB_PLACES[place]
    up, side, palm = (np.asarray(centre) + rng.uniform(-1.0, 1.0, 3) * np.asarray(half)) * float(
        bone_lengths(pose, "thumb").sum())
    return pose[1] + up * frame.up + side * frame.side + palm * frame.palm


# ----------------------------------------------------------------------------------------- edits

class _Source(NamedTuple):
    """What an edit needs to know about the hand it starts from."""

    frame: HandFrame
    letters: str  # each finger's signature letter (x / b / c) on the real hand


Edit = Callable[[np.ndarray, _Source, np.random.Generator], None]  # changes the pose in place


def _set_states(out: np.ndarray, source: _Source, states: Sequence[str | None], rng: np.random.Generator) -> None:
    """Each finger to its state (None: as it is); a finger the camera already saw in that state is
    left as it was, so as much of the real hand as possible survives the edit."""
    for index, state in enumerate(states):
        if state is not None and source.letters[index] != _STATE_LETTER[state]:
            _shape_finger(out, source.frame, index, state, rng)


def _set_thumb(out: np.ndarray, source: _Source, place: str, rng: np.random.Generator) -> None:
    target = _thumb_point(out, source.frame, place, rng)
    _reach_thumb(out, source.frame, target, float(rng.uniform(0.6, 1.0)), None)


def _shape(states: Sequence[str | None], place: str | None) -> Edit:
    """An edit to a fixed hand shape: finger states and a thumb place (None: kept)."""
    def edit(out: np.ndarray, source: _Source, rng: np.random.Generator) -> None:
        _set_states(out, source, states, rng)
        if place is not None:
            _set_thumb(out, source, place, rng)
    return edit


def _curl_one(out: np.ndarray, source: _Source, rng: np.random.Generator) -> None:
    """One straight finger curled (or, if none is straight, any one), the rest and the thumb kept."""
    straight = [i for i, letter in enumerate(source.letters) if letter == "x"] or list(range(4))
    _shape_finger(out, source.frame, int(rng.choice(straight)), "curled", rng)


def _extend_one(out: np.ndarray, source: _Source, rng: np.random.Generator) -> None:
    """One bent or curled finger straightened (or, if all are straight, any one bent at the knuckle)."""
    folded = [i for i, letter in enumerate(source.letters) if letter != "x"]
    if folded:
        _shape_finger(out, source.frame, int(rng.choice(folded)), "extended", rng)
    else:
        _shape_finger(out, source.frame, int(rng.integers(4)), "bent", rng)


def _crossed(out: np.ndarray, source: _Source, rng: np.random.Generator) -> None:
    """Index and middle straight and crossed, the middle over the back of the index (ASL R, fingers
    crossed for luck); ring and pinky curled under the thumb."""
    index_side, middle_side = -float(rng.uniform(12, 20)), float(rng.uniform(10, 16))
    _bend_finger(out, source.frame, "index", rng.uniform((5, 0, 0), (15, 10, 5)), index_side,
                 rng.uniform(-3, 3, 3))
    _bend_finger(out, source.frame, "middle", rng.uniform((-4, 0, 0), (1, 8, 4)), middle_side,
                 rng.uniform(-3, 3, 3))
    _set_states(out, source, (None, None, "curled", "curled"), rng)
    _set_thumb(out, source, "over", rng)


_RANDOM_STATES = ("extended", "curled", "half", "hooked", "bent", "tight")


def _random(out: np.ndarray, source: _Source, rng: np.random.Generator) -> None:
    """Any finger in any state (a quarter of them kept as they are) and the thumb anywhere."""
    states = [None if rng.random() < 0.25 else _RANDOM_STATES[int(rng.integers(len(_RANDOM_STATES)))]
              for _ in FINGERS]
    _set_states(out, source, states, rng)
    if rng.random() < 0.8:
        places = tuple(THUMB_PLACES)
        _set_thumb(out, source, places[int(rng.integers(len(places)))], rng)


_FIST = ("curled",) * 4
EDITS: dict[str, Edit] = {
    "fist_a": _shape(_FIST, "side"),
    "fist_s": _shape(_FIST, "over"),
    "fist_t": _shape(_FIST, "between"),
    "fist_e": _shape(("tight",) * 4, "under_tips"),
    "fist_m": _shape(_FIST, "under_three"),
    "fist_n": _shape(_FIST, "under_two"),
    "c_curve": _shape(("half",) * 4, "opposed"),
    "hooked_index": _shape(("hooked", "folded", "folded", "folded"), "over_middle"),
    "pinky_only": _shape(("curled", "curled", "curled", "extended"), "over"),
    "thumb_pinky": _shape(("curled", "curled", "curled", "extended"), "out"),
    "thumb_index": _shape(("extended", "curled", "curled", "curled"), "out"),
    "bent_flat": _shape(("bent",) * 4, "side"),
    "curl_one": _curl_one,
    "extend_one": _extend_one,
    "thumb_across": _shape((None,) * 4, "across"),
    "thumb_out": _shape((None,) * 4, "out"),
    "crossed": _crossed,
    "random": _random,
}


def apply_edit(pose: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """A new pose: `pose` changed by the edit `name` (a key of EDITS), not yet checked against any sign."""
    out = np.array(pose, np.float32, copy=True)
    EDITS[name](out, _source(out), rng)
    return out


def _source(pose: np.ndarray) -> _Source:
    features = shape_features(pose)
    letters = "".join(_finger_options(float(f), float(h), DEFAULT_RULES, 0.0)
                      for f, h in zip(features.flexion, features.tip_heights))
    return _Source(hand_frame(pose), letters)


# -------------------------------------------------------------------------------------- generator

def _class_box(found: Counter[Signature], min_fraction: float, min_count: int) -> set[Signature]:
    """Every combination of the parts one class shows in at least `min_fraction` of its poses (and in
    `min_count` of them: in a small class one odd photo would otherwise forbid a whole family)."""
    total = sum(found.values())
    least = max(min_fraction * total, min_count)
    parts = []
    for field in range(len(Signature._fields)):
        share: Counter = Counter()
        for signature, count in found.items():
            share[signature[field]] += count
        parts.append([value for value, count in share.items() if count >= least])
    return {Signature(*combo) for combo in itertools.product(*parts)}


class SyntheticNegatives:
    """Negatives made on the fly from training hands, kept only where no sign of the training set matches.

    Built from the training poses of the signs (leave any negative class out): a signature is
    forbidden when one class shows each of its parts (fingers, thumb, touch, crossed) in at least
    `min_fraction` (and `min_count`) of its poses. That includes every signature the class itself
    shows that often, and the combinations of two ways it varies at once (a 9 read with the index
    bent in 14% and the thumb across in 17% of photos forbids the bent index with the thumb across,
    seen in 1%). An edit is kept only if none of its `signature_candidates` is forbidden, so a pose
    that is a digit but for one noisy feature is not taught as "none". `edits` names the edits to
    draw from (all of EDITS by default, equally often) or maps them to weights. The same source pose
    and the same generator state give the same negative.
    """

    def __init__(self, poses: np.ndarray, labels: Sequence[int] | np.ndarray, min_fraction: float = 0.03,
                 edits: Sequence[str] | Mapping[str, float] | None = None, tries: int = 4,
                 rules: SignatureRules = DEFAULT_RULES, min_count: int = 2) -> None:
        poses = np.asarray(poses, np.float32).reshape(-1, NUM_JOINTS, 3)
        labels = np.asarray(labels)
        if len(poses) != len(labels) or len(poses) == 0:
            raise ValueError(f"need matching, non-empty poses and labels (got {len(poses)} and {len(labels)})")
        unknown = sorted(set(edits or ()) - set(EDITS))
        if unknown:
            raise ValueError(f"unknown edits {unknown}; choose from {sorted(EDITS)}")
        weights = dict(edits) if isinstance(edits, Mapping) else dict.fromkeys(edits or EDITS, 1.0)
        if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError("edit weights must be >= 0 with a positive sum")
        self.rules = rules
        self.edits = tuple(weights)
        self._cumulative = np.cumsum(list(weights.values())) / sum(weights.values())
        self.tries = tries
        self.class_signatures: dict[int, dict[Signature, float]] = {}
        forbidden: set[Signature] = set()
        for label in np.unique(labels):  # a pose with NaN joints reads as nothing and forbids nothing
            found = Counter(s for pose in poses[labels == label] for s in _signatures(shape_features(pose), rules, 0))
            if not found:
                continue
            total = sum(found.values())
            self.class_signatures[int(label)] = {s: n / total for s, n in found.most_common()}
            forbidden |= _class_box(found, min_fraction, min_count)
        self.forbidden = frozenset(forbidden)

    def allows(self, pose: np.ndarray) -> bool:
        """True when no reading of this pose's shape is one a training class shows (and it has one)."""
        candidates = signature_candidates(pose, self.rules)
        return bool(candidates) and not any(s in self.forbidden for s in candidates)

    def generate(self, pose: np.ndarray, rng: np.random.Generator,
                 edit: str | None = None) -> tuple[np.ndarray, str] | None:
        """(negative, edit name) made from `pose`, or None when `tries` edits all matched a sign."""
        for _ in range(self.tries):
            name = edit or self.edits[min(int(np.searchsorted(self._cumulative, rng.random(), side="right")),
                                          len(self.edits) - 1)]
            out = apply_edit(pose, name, rng)
            if self.allows(out):
                return out, name
        return None

    def __call__(self, pose: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """A negative made from `pose` by a random edit, or None (a Dataset then uses a real negative)."""
        made = self.generate(pose, rng)
        return None if made is None else made[0]
