"""Classify image files with an exported ONNX model: detect the hand, crop it, run the model.

Torch-free: MediaPipe (IMAGE mode, with the detector settings stored in the model) ->
`preprocess.crop_hand` (the training crop) -> `runtime.OnnxClassifier`. A file without a hand
is reported as such, never guessed from the whole picture; unreadable files are reported too.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from signcaps.errors import UserError

NO_HAND = "no hand"
UNREADABLE = "unreadable"
OK = "ok"


class PredictInputError(UserError, ValueError):
    """A path argument that does not exist or names no images (one-line message)."""


def collect_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given (any name) plus the image files under each directory, recursively."""
    from signcaps.data import IMAGE_SUFFIXES, natural_key

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


def predict_image(path: Path, clf: Any, detector: Any) -> dict[str, Any]:
    """One result row: file, status, hand found, class, confidence, per-class capsule lengths."""
    from signcaps.preprocess import ImageReadError, hand_sample, read_image_rgb

    row: dict[str, Any] = {"file": str(path), "status": OK, "hand": False, "class": None, "confidence": None,
                           "confidences": None, "handedness": None, "error": None}
    try:
        image = read_image_rgb(path)
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
    lengths = clf.classify_crops([crop], [pose])[0]
    best = int(lengths.argmax())
    return {**row, "hand": True, "class": clf.classes[best], "confidence": float(lengths[best]),
            "confidences": {name: float(v) for name, v in zip(clf.classes, lengths)},
            "handedness": hand.handedness}


class Predictor:
    """An ONNX classifier plus a MediaPipe detector configured from the model's metadata."""

    def __init__(self, model: Any = None, hand_model: str | Path | None = None, threads: int = 1) -> None:
        """``model``: an ONNX path, None for the shipped default, or an already loaded OnnxClassifier."""
        from signcaps.assets import resolve_hand_model
        from signcaps.hands import HandDetector
        from signcaps.runtime import OnnxClassifier, load_classifier

        self.clf = model if isinstance(model, OnnxClassifier) else load_classifier(model, threads=threads)
        self.detector = HandDetector(resolve_hand_model(hand_model), self.clf.detect_cfg, mode="image")

    @property
    def classes(self) -> list[str]:
        return self.clf.classes

    def predict(self, path: str | Path) -> dict[str, Any]:
        return predict_image(Path(path), self.clf, self.detector)

    def predict_all(self, files: Iterable[str | Path]) -> Iterator[dict[str, Any]]:
        for path in files:
            yield self.predict(path)

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
