"""Classify images with an exported ONNX model: detect the hand, crop it, run the model.

Torch-free: MediaPipe (IMAGE mode, with the detector settings stored in the model) ->
`preprocess.crop_hand` (the training crop) -> `runtime.OnnxClassifier` -> the model's rejection
rule (`signcaps.signs.rejection`, the same one `live` and the web page apply). A file without a hand
is reported as such, never guessed from the whole picture; unreadable files are reported too.

Row statuses: ``ok`` (a sign: ``class`` is its name), ``uncertain`` (below the threshold, "?")
and ``none`` (no sign), both with ``class`` null and a ``reason``; ``no hand``; ``unreadable``.
Images are files or numpy arrays (a script's own frames: RGB, or OpenCV's BGR with `bgr=True`);
each result carries the hand's 21 landmarks (x, y in pixels of the image, z in the same units).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.util.errors import UserError

NO_HAND = "no hand"
UNREADABLE = "unreadable"
OK = "ok"  # the rule's statuses: rejection.OK, UNCERTAIN, NONE


class PredictInputError(UserError, ValueError):
    """A path argument that does not exist or names no images (one-line message)."""


def collect_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given (any name) plus the image files under each directory, recursively."""
    from signcaps.data.folders import IMAGE_SUFFIXES
    from signcaps.util.inputs import natural_key

    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                     and not any(part.startswith(".") for part in p.relative_to(path).parts)]
            files += sorted(found, key=lambda p: natural_key(str(p)))
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise PredictInputError(f"{path} is not a regular file or folder")
        else:
            raise PredictInputError(f"no such file or directory: {path}")
    if not files:
        raise PredictInputError(f"no image files in {', '.join(str(i) for i in inputs)}")
    return files


def as_rgb(array: Any, bgr: bool = False) -> np.ndarray:
    """A script's frame as the detector's input: (H, W, 3) uint8 RGB from RGB/BGR, grey or RGBA/BGRA arrays."""
    image = np.asarray(array)
    if image.dtype != np.uint8:
        raise PredictInputError(f"an image array must be uint8 (0-255), got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise PredictInputError(f"an image array must be (height, width, 3) or (height, width), got {image.shape}")
    image = image[..., :3]
    return np.ascontiguousarray(image[..., ::-1] if bgr else image)


def predict_image(path: Path | np.ndarray, clf: Any, detector: Any, rule: Any = None,
                  bgr: bool = False) -> dict[str, Any]:
    """One result row: file, status, hand found, class (None when rejected), the winning sign
    (``best``), its confidence, per-class capsule lengths, the rule's reason, the pose error (when
    the rule measures it), handedness and the hand's landmarks. ``rule``: a `RejectionRule`; None =
    the model's own. `path` may be an image array (RGB, or BGR with `bgr`)."""
    from signcaps.hands.preprocess import ImageReadError, hand_sample, read_image_rgb
    from signcaps.signs.rejection import decide

    is_array = isinstance(path, np.ndarray)
    row: dict[str, Any] = {"file": "<array>" if is_array else str(path), "status": OK, "hand": False, "class": None,
                           "best": None, "confidence": None, "confidences": None, "reason": None,
                           "handedness": None, "landmarks": None,
                           "error": None}
    try:
        image = as_rgb(path, bgr) if is_array else read_image_rgb(path)
    except ImageReadError as err:
        return {**row, "status": UNREADABLE, "error": str(err)}
    try:
        hands = detector.detect(image)
    except (RuntimeError, ValueError) as err:  # one odd file must not end the batch
        return {**row, "status": UNREADABLE, "error": f"hand detector failed ({type(err).__name__})"}
    if not hands:
        return {**row, "status": NO_HAND}
    hand = hands[0]
    try:
        crop, pose = hand_sample(image, hand, clf.crop_cfg)
    except ValueError:  # landmarks entirely outside the picture: nothing to classify
        return {**row, "status": NO_HAND}
    rule = rule or clf.rule
    lengths, errors = clf.classify_with_pose_error(clf.hand_inputs([crop], [pose]))
    lengths = lengths[0]
    err = None if errors is None else float(errors[0])
    decision = decide(lengths, clf.classes, rule, err)
    row = {**row, "status": decision.status, "hand": True, "class": decision.label,
           "best": clf.classes[decision.index], "confidence": float(lengths[decision.index]),
           "confidences": {name: float(v) for name, v in zip(clf.classes, lengths)}, "reason": decision.reason,
           "handedness": hand.handedness, "landmarks": np.round(hand.points, 2).tolist()}
    if err is not None:
        row["pose_error"] = err
    return row


class Predictor:
    """An ONNX classifier plus a MediaPipe detector configured from the model's metadata."""

    def __init__(self, model: Any = None, hand_model: str | Path | None = None, threads: int = 1,
                 threshold: float | None = None, signs: str | None = None) -> None:
        """``model``: an ONNX path, None for the shipped default, or an already loaded OnnxClassifier;
        ``threshold``: the rule's accept threshold (None: the model's own); ``signs``: "digits" or
        "letters" (None: the model's default mode)."""
        from signcaps.hands.detector import HandDetector
        from signcaps.runtime.classifier import OnnxClassifier, load_classifier
        from signcaps.util.assets import resolve_hand_model

        self.clf = (model if isinstance(model, OnnxClassifier)
                    else load_classifier(model, threads=threads, signs=signs))
        self.rule = self.clf.rule.with_accept(threshold)  # a bad threshold fails before the detector loads
        self.detector = HandDetector(resolve_hand_model(hand_model), self.clf.detect_cfg, mode="image")

    @property
    def classes(self) -> list[str]:
        return self.clf.classes

    def predict(self, image: str | Path | np.ndarray, bgr: bool = False) -> dict[str, Any]:
        """Classify the hand in an image file or array (RGB; `bgr=True` for OpenCV's frames)."""
        if isinstance(image, np.ndarray):
            return predict_image(image, self.clf, self.detector, self.rule, bgr=bgr)
        return predict_image(Path(image), self.clf, self.detector, self.rule)

    def predict_all(self, images: Iterable[str | Path | np.ndarray], bgr: bool = False) -> Iterator[dict[str, Any]]:
        for image in images:
            yield self.predict(image, bgr=bgr)

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
