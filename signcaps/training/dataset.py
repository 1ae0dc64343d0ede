"""The torch-style Dataset of hand crops and poses: augmentation, then the one preprocessing path."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from signcaps.data.crops import CropSet
from signcaps.data.folders import NEGATIVE
from signcaps.util.config import CropConfig

Synthesize = Callable[[np.ndarray, np.random.Generator], "np.ndarray | None"]  # a sign's pose -> a negative's


class CropDataset:
    """torch-style Dataset of (image tensor, pose, label, has image): augmentation (training only),
    then the shared `to_tensor` and `normalize_pose`, exactly what inference computes.

    With `synthesize` (`negatives.SyntheticNegatives`), `synthetic` x (number of signs) more items
    follow the real ones: each a sign's landmarks edited into a hand that signs nothing, drawn
    afresh every epoch from the seeded generator, labelled NEGATIVE and without a crop (has image
    False: no pixels show that hand, so the image branch must not learn from them).
    """

    def __init__(self, crops: CropSet, crop_cfg: CropConfig, augmenter=None,
                 kinds: tuple[str, ...] = ("image", "pose"), synthesize: Synthesize | None = None,
                 synthetic: float = 0.0) -> None:
        self.crops, self.labels, self.crop_cfg, self.augmenter = crops.crops, crops.labels, crop_cfg, augmenter
        self.with_image = "image" in kinds  # pose-only models skip the pixel work they would never read
        self.masks = crops.masks
        self.retakes = crops.retakes
        self.poses = (crops.poses(crop_cfg.mirror_left) if crops.points is not None
                      else np.zeros((len(crops), 21, 3), np.float32))
        self.signs = np.flatnonzero(self.labels != NEGATIVE)
        self.synthesize = synthesize
        self.synthetic = int(round(len(self.signs) * synthetic)) if synthesize is not None else 0
        self.blank = np.zeros((crop_cfg.channels, crop_cfg.input_size, crop_cfg.input_size) if self.with_image
                              else (1, 1, 1), np.float32)

    def __len__(self) -> int:
        return len(self.labels) + self.synthetic

    def reseed(self, seed: int) -> None:
        """The augmenter keeps its own generators; seed them so a run (and its resume) is reproducible."""
        if self.augmenter is not None:
            self.augmenter.reseed(seed)

    def __getitem__(self, index: int):
        from signcaps.hands.preprocess import to_tensor
        from signcaps.training.augment import Sample

        if index >= len(self.labels):
            return self._synthetic(index - len(self.labels))
        crop, pose = self.crops[index], self.poses[index]
        mask = self.masks[index] if self.masks is not None else None
        if self.augmenter is not None and self.retakes is not None:
            crop, pose, mask = self._maybe_retake(index, crop, pose, mask)
        if self.augmenter is not None:
            augmented = self.augmenter(Sample(crop, pose, mask), self.with_image)
            crop, pose = augmented.crop, augmented.pose
        image = to_tensor(crop, self.crop_cfg) if self.with_image else np.zeros((1, 1, 1), np.float32)
        return image, np.asarray(pose, np.float32), int(self.labels[index]), True

    def _synthetic(self, k: int):
        """The k-th synthetic negative of this epoch: an edit of sign k (mod the signs), or of the next
        signs when no edit of it keeps clear of every class; pose-augmented like a real hand."""
        from signcaps.training.augment import Sample

        rng = self.augmenter.rng if self.augmenter is not None else np.random.default_rng(k)
        pose = None
        for step in range(8):
            pose = self.synthesize(self.poses[self.signs[(k + step) % len(self.signs)]], rng)
            if pose is not None:
                break
        if pose is None:  # nothing kept: an empty hand, which every capsule answers with length 0
            pose = np.zeros((21, 3), np.float32)
        elif self.augmenter is not None:
            pose = self.augmenter(Sample(np.zeros((1, 1, 3), np.uint8), pose, None), False).pose
        return self.blank, np.asarray(pose, np.float32), NEGATIVE, False

    def _maybe_retake(self, index: int, crop: np.ndarray, pose: np.ndarray, mask: np.ndarray | None):
        """With probability `augment.retake_p`, one of the photo's re-shot copies where MediaPipe
        found the hand: its crop and its landmarks, as that worse camera gave them (no mask: the
        copy's background is already another one, or the same wall)."""
        from signcaps.hands.landmarks import normalize_pose

        rng = self.augmenter.rng
        found = np.flatnonzero(self.retakes.found[index])
        if not len(found) or rng.random() >= self.augmenter.cfg.retake_p:
            return crop, pose, mask
        r = int(rng.choice(found))
        retake_pose = normalize_pose(self.retakes.points[index, r], bool(self.retakes.left[index, r]),
                                     self.crop_cfg.mirror_left)
        return self.retakes.crops[index, r], retake_pose, None
