"""Models with a rejection rule for the tests, and real hands to feed them.

`with_rule` copies an exported model (the shipped default, a tiny trained one) and writes a rule
into its metadata (format version 3), the way `signcaps export` does: the graph is untouched, so
the copy runs real onnxruntime sessions. The negatives are real photos of ASL letters whose
handshape is no digit (../shared/datasets/asl-letters).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from conftest import HAND_MODEL, SHARED

LETTERS = SHARED / "datasets" / "asl-letters"
NO_DIGIT_LETTERS = ("A", "C", "E", "I", "L", "M", "N", "S", "T", "X", "Y")  # its README: no digit handshape


def with_rule(src: Path, dst: Path, rule: Any) -> Path:
    """A copy of the ONNX model ``src`` at ``dst`` whose metadata carries ``rule`` (a RejectionRule,
    a to_meta() dict written as is, or None to drop the entry)."""
    import onnx

    from signcaps.runtime.classifier import META_KEY

    model = onnx.load(str(src))
    entry = next(p for p in model.metadata_props if p.key == META_KEY)
    meta = json.loads(entry.value)
    meta["format_version"] = 3
    if rule is None:
        meta.pop("rejection", None)
    else:
        meta["rejection"] = rule.to_meta() if hasattr(rule, "to_meta") else rule
    entry.value = json.dumps(meta)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst


def letter_photo(letter: str, name: str) -> Path:
    """An ASL letter photo by its original name ("S0" -> valid/S/S0_jpg.rf.<hash>.jpg, or test/)."""
    for split in ("valid", "test", "train"):
        found = sorted((LETTERS / split / letter).glob(f"{name}_jpg.rf.*.jpg"))
        if found:
            return found[0]
    raise FileNotFoundError(f"no {name} photo under {LETTERS}/*/{letter}")


def hand_inputs(clf: Any, paths: list[Path]) -> dict[str, np.ndarray]:
    """The model inputs of the first hand MediaPipe finds in each photo (IMAGE mode, the model's settings)."""
    from signcaps.hands.detector import HandDetector
    from signcaps.hands.preprocess import hand_sample, read_image_rgb

    crops, poses = [], []
    with HandDetector(HAND_MODEL, clf.detect_cfg, mode="image") as detector:
        for path in paths:
            image = read_image_rgb(path)
            hands = detector.detect(image)
            assert hands, f"no hand found in {path}"
            crop, pose = hand_sample(image, hands[0], clf.crop_cfg)
            crops.append(crop)
            poses.append(pose)
    return clf.hand_inputs(crops, poses)
