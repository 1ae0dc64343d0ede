"""Training augmentation of a hand: its crop, its mask and its pose, moved together.

The geometric warp is drawn here (not inside albumentations) so the same rotation, scale and
shear can be applied to the landmarks: a pose that disagreed with its pixels would teach the
fused model that the two inputs need not match. Backgrounds are replaced through the hand mask
so the wall can never identify a class; light and colour temperature change so the one lamp of
the training photos cannot either. Photometric noise, blur and JPEG come from albumentations.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from signcaps.hands import scenes
from signcaps.hands.landmarks import augment_pose
from signcaps.util.config import AugmentConfig


@dataclass
class Sample:
    crop: np.ndarray  # (S, S, 3) uint8 RGB
    pose: np.ndarray  # (21, 3) float32, normalised
    mask: np.ndarray | None = None  # (S, S) uint8 hand mask (255 = hand)


def random_affine(rng: np.random.Generator, cfg: AugmentConfig, size: int) -> np.ndarray:
    """2x3 warp about the crop centre: rotation, scale, shear, then a shift (fractions of the side)."""
    angle = np.deg2rad(rng.uniform(-cfg.rotate, cfg.rotate))
    scale = rng.uniform(1 - cfg.scale, 1 + cfg.scale)
    shear = np.deg2rad(rng.uniform(-cfg.shear, cfg.shear))
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])  # counter-clockwise on screen
    linear = scale * rot @ np.array([[1.0, np.tan(shear)], [0.0, 1.0]])
    centre = np.array([(size - 1) / 2.0] * 2)
    shift = rng.uniform(-cfg.translate, cfg.translate, size=2) * size
    offset = centre - linear @ centre + shift
    return np.hstack([linear, offset[:, None]]).astype(np.float32)


def photometric(cfg: AugmentConfig):
    """albumentations pipeline for the pixel-level changes (None when none is enabled)."""
    import albumentations as A

    steps = [
        A.RandomBrightnessContrast(brightness_limit=cfg.brightness, contrast_limit=cfg.contrast, p=cfg.color_p),
        A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 1.0), p=cfg.blur_p),
        A.GaussNoise(std_range=(0.02, 0.06), p=cfg.noise_p),
    ]
    if cfg.jpeg_p > 0:
        steps.append(A.ImageCompression(quality_range=(15, 70), p=cfg.jpeg_p))
    return A.Compose(steps)


class HandAugmenter:
    """Seeded augmentation of (crop, mask, pose) samples; `reseed` makes a run replayable."""

    def __init__(self, cfg: AugmentConfig) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(0)
        self.pixels = photometric(cfg)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed % (2**32))
        self.pixels.set_random_seed(seed % (2**32))

    def __call__(self, sample: Sample, with_image: bool = True) -> Sample:
        """Augment a sample; `with_image=False` (pose-only models) draws the same geometry but
        leaves the pixels alone, which the model never reads."""
        cfg, rng = self.cfg, self.rng
        crop, pose = sample.crop, sample.pose
        size = crop.shape[0]
        replace = sample.mask is not None and rng.random() < cfg.background_p
        if replace and with_image:
            crop = scenes.composite(crop, sample.mask.astype(np.float32) / 255.0,
                                    scenes.random_background(rng, size, size))
        linear = None
        if rng.random() < cfg.affine_p:
            matrix = random_affine(rng, cfg, size)
            if with_image:
                crop = cv2.warpAffine(crop, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE)
            linear = matrix[:, :2]
        flip = bool(rng.random() < cfg.hflip_p)
        if flip and with_image:
            crop = np.ascontiguousarray(crop[:, ::-1])
        if with_image:
            crop = self.pixels(image=self._light(crop))["image"]
        pose = augment_pose(pose, rng, linear, flip, cfg.pose_tilt, cfg.pose_jitter)
        return Sample(crop, pose)

    def _light(self, crop: np.ndarray) -> np.ndarray:
        cfg, rng = self.cfg, self.rng
        if cfg.temperature > 0:
            crop = scenes.colour_cast(crop, rng.uniform(-cfg.temperature, cfg.temperature))
        if cfg.gamma > 0:
            crop = scenes.light(crop, 1.0, float(np.exp(rng.uniform(-cfg.gamma, cfg.gamma))))
        return crop


def build_augmenter(cfg: AugmentConfig) -> HandAugmenter | None:
    return HandAugmenter(cfg) if cfg.enabled else None
