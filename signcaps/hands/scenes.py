"""What a photo shows besides the hand: hand masks, replacement backgrounds, light and camera changes.

The digits dataset was shot against one light wall in one light; a network that sees only those
photos can learn the wall as part of each class. These functions change everything but the hand:
training uses them as augmentation (random backgrounds, colour temperature, light) and the
domain-shift evaluation (`signcaps.training.shifts`) uses them, with fixed seeds, to stand in for the
rooms, lights and cameras of real users. Numpy and OpenCV only.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from signcaps.hands.landmarks import HAND_CONNECTIONS, PARTS

# -------------------------------------------------------------------------------- hand mask


def skeleton_mask(shape: tuple[int, int], points_xy: np.ndarray, width: float) -> np.ndarray:
    """uint8 mask of the landmark skeleton drawn `width` pixels thick, with the palm filled."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round(np.asarray(points_xy, np.float32) * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    thickness = max(int(round(width)), 1)
    for a, b in HAND_CONNECTIONS:
        cv2.line(mask, tuple(pts[a]), tuple(pts[b]), 255, thickness, cv2.LINE_AA, shift=2)
    cv2.fillConvexPoly(mask, pts[list(PARTS["palm"])], 255, cv2.LINE_AA, shift=2)
    return mask


def hand_mask(image_rgb: np.ndarray, points_xy: np.ndarray, threshold: float = 22.0) -> np.ndarray:
    """float32 mask in [0, 1]: 1 on the hand (and its arm), 0 on the background.

    The landmarks say where the hand certainly is (its skeleton, drawn thick); the background
    colour is read from pixels far from it. Pixels that differ from that colour and are
    connected to the skeleton belong to the hand, which keeps the forearm and the fingers'
    full width. Edges are feathered so a pasted background leaves no hard seam.
    """
    h, w = image_rgb.shape[:2]
    pts = np.asarray(points_xy, np.float32)
    size = float(max(pts.max(axis=0) - pts.min(axis=0))) or 1.0
    core = skeleton_mask((h, w), pts, 0.07 * size)
    far = skeleton_mask((h, w), pts, 0.45 * size) == 0
    lab = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    wall = smooth_background(lab, far)
    differs = np.linalg.norm(lab - wall, axis=2) > threshold
    candidate = (differs | (core > 0)).astype(np.uint8)
    candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels = cv2.connectedComponents(candidate | (core > 0).astype(np.uint8))
    touching = np.unique(labels[core > 0])
    mask = np.isin(labels, touching[touching > 0]).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.8)


def smooth_background(lab: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A quadratic fit, per channel, of the pixels `known` to be background, over the whole picture.

    A wall is never one colour: light falls off towards the corners (vignetting) and across the
    room. A smooth surface through the far-from-hand pixels follows that, where a single median
    colour would call the bright wall behind the hand "hand".
    """
    h, w = lab.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = xx / max(w - 1, 1) - 0.5, yy / max(h - 1, 1) - 0.5
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)
    if known.sum() < 12:
        known = np.zeros((h, w), bool)
        known[[0, -1], :] = True
        known[:, [0, -1]] = True
    coef, *_ = np.linalg.lstsq(basis[known], lab[known], rcond=None)
    return basis @ coef


def composite(image_rgb: np.ndarray, mask01: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The hand (mask 1) over `background` (same size), uint8 RGB."""
    alpha = np.asarray(mask01, np.float32)[..., None]
    return np.clip(image_rgb * alpha + background * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------ backgrounds


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3).astype(np.float32)


def solid(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return np.broadcast_to(_colour(rng), (h, w, 3)).astype(np.float32)


def black(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return np.zeros((h, w, 3), np.float32)


def gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A linear blend of two random colours at a random angle (a lit wall, a window)."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(angle) * xx / max(w, 1) + np.sin(angle) * yy / max(h, 1))
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return _colour(rng) * (1 - t[..., None]) + _colour(rng) * t[..., None]


def noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Coloured noise at a random grain size, from pixel noise to soft blotches."""
    grain = int(rng.integers(1, 9))
    small = rng.normal(0, rng.uniform(25, 70), size=(max(h // grain, 1), max(w // grain, 1), 3)).astype(np.float32)
    return np.clip(_colour(rng) + cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0, 255)


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stripes, checks or waves in two colours (fabric, tiles, wallpaper), with a little noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3, 16) * max(h, w) / 64.0
    angle = rng.uniform(0, np.pi)
    u = np.cos(angle) * xx + np.sin(angle) * yy
    v = -np.sin(angle) * xx + np.cos(angle) * yy
    kind = int(rng.integers(3))
    if kind == 0:
        t = (np.floor(u / period) % 2).astype(np.float32)
    elif kind == 1:
        t = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    else:
        t = 0.5 + 0.5 * np.sin(2 * np.pi * u / period + 2 * np.sin(2 * np.pi * v / (3 * period)))
    out = _colour(rng) * (1 - t[..., None]) + _colour(rng) * t[..., None]
    return np.clip(out + rng.normal(0, 8, size=out.shape), 0, 255).astype(np.float32)


def clutter(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A busy room: a gradient with random boxes, discs, bars and lines, some in skin tones."""
    canvas = gradient(rng, h, w)
    scale = max(h, w)
    for _ in range(int(rng.integers(6, 16))):
        colour = _skin(rng) if rng.random() < 0.25 else _colour(rng)
        colour = tuple(float(c) for c in colour)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.uniform(0.08, 0.4) * scale)
        kind = int(rng.integers(4))
        if kind == 0:
            cv2.rectangle(canvas, (x, y), (x + size, y + int(size * rng.uniform(0.3, 2))), colour, -1)
        elif kind == 1:
            cv2.circle(canvas, (x, y), max(size // 2, 1), colour, -1)
        elif kind == 2:
            cv2.ellipse(canvas, (x, y), (size, max(size // 4, 1)), rng.uniform(0, 180), 0, 360, colour, -1)
        else:
            end = (x + int(rng.normal(0, size)), y + int(rng.normal(0, size)))
            cv2.line(canvas, (x, y), end, colour, max(int(size * 0.1), 1))
    return cv2.GaussianBlur(canvas, (0, 0), 0.02 * scale + 0.3)


def _skin(rng: np.random.Generator) -> np.ndarray:
    """A skin-like colour: the hardest background for anything that looks at pixels."""
    base = np.array([224, 172, 140], np.float32) * rng.uniform(0.45, 1.1)
    return np.clip(base + rng.normal(0, 12, 3), 0, 255)


BACKGROUNDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "black": black, "colour": solid, "gradient": gradient, "noise": noise, "texture": texture, "clutter": clutter,
}
TRAINING_BACKGROUNDS = ("colour", "gradient", "noise", "texture", "clutter")


def random_background(rng: np.random.Generator, h: int, w: int,
                      kinds: tuple[str, ...] = TRAINING_BACKGROUNDS) -> np.ndarray:
    return BACKGROUNDS[kinds[int(rng.integers(len(kinds)))]](rng, h, w)


# ---------------------------------------------------------------------- light and camera


def light(image_rgb: np.ndarray, gain: float, gamma: float = 1.0, noise_std: float = 0.0,
          rng: np.random.Generator | None = None) -> np.ndarray:
    """Exposure: out = 255 * gain * (in / 255) ** gamma (+ sensor noise, which grows in the dark)."""
    out = 255.0 * gain * np.power(image_rgb.astype(np.float32) / 255.0, gamma)
    if noise_std > 0:
        out = out + (rng or np.random.default_rng(0)).normal(0, noise_std, size=out.shape)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def side_light(image_rgb: np.ndarray, strength: float, angle: float) -> np.ndarray:
    """Harsh light from one side: a strong brightness ramp across the picture."""
    h, w = image_rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.cos(angle) * (xx / w - 0.5) + np.sin(angle) * (yy / h - 0.5)
    gain = 1.0 + strength * t * 2.0
    return np.clip(image_rgb.astype(np.float32) * gain[..., None] + 0.5, 0, 255).astype(np.uint8)


def colour_cast(image_rgb: np.ndarray, warmth: float) -> np.ndarray:
    """White balance: warmth > 0 is tungsten (red up, blue down), < 0 daylight shade (bluish)."""
    gains = np.array([1.0 + warmth, 1.0, 1.0 - warmth], np.float32)
    return np.clip(image_rgb.astype(np.float32) * gains + 0.5, 0, 255).astype(np.uint8)


def jpeg(image_rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else image_rgb


def blur(image_rgb: np.ndarray, sigma_fraction: float) -> np.ndarray:
    """Defocus: a Gaussian blur whose sigma is a fraction of the picture's longer side."""
    sigma = sigma_fraction * max(image_rgb.shape[:2])
    return cv2.GaussianBlur(image_rgb, (0, 0), sigma)


# ---------------------------------------------------------------------------- retakes


def random_retake(image_rgb: np.ndarray, mask01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same photo as another camera in another room might have taken it: one or two of a new
    background, dim or harsh light, a colour cast, defocus, heavy JPEG, at random strengths.

    MediaPipe's landmarks on such a photo carry that camera's errors; training on them (see
    `data.crops.retake_photos`) teaches the classifier MediaPipe's failure modes, not only clean poses.
    """
    steps = rng.choice(6, size=int(rng.integers(1, 3)), replace=False)
    h, w = image_rgb.shape[:2]
    out = image_rgb
    for step in sorted(steps):  # background first, camera effects (JPEG) last
        if step == 0:
            out = composite(out, mask01, random_background(rng, h, w, tuple(BACKGROUNDS)))
        elif step == 1:
            out = light(out, rng.uniform(0.25, 0.7), rng.uniform(1.0, 1.5), rng.uniform(1, 6), rng)
        elif step == 2:
            out = light(side_light(out, rng.uniform(0.3, 1.0), rng.uniform(0, 2 * np.pi)), rng.uniform(1.0, 1.5), 0.85)
        elif step == 3:
            out = colour_cast(out, rng.uniform(-0.5, 0.5))
        elif step == 4:
            out = blur(out, rng.uniform(0.005, 0.03))
        else:
            out = jpeg(out, int(rng.integers(10, 60)))
    return out
