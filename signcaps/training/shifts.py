"""Domain-shift evaluation: unseen participants photographed, in effect, somewhere else.

A number on the training photos' own wall and lamp proves little about a webcam in a living room.
This module re-shoots the test split of unseen participants: the background replaced (black, a
random colour, noise, a texture, a cluttered scene), dim and harsh light, warm and cool colour
casts, defocus blur, heavy JPEG, and mirrored (left) hands. Every shifted photo goes through the
whole pipeline a user's photo would: MediaPipe finds the hand again (a hand it misses counts as
wrong), the crop and the pose are made by the shared preprocessing, the model classifies.

The backgrounds use the same generator families as the training augmentation, but with other
seeds and at full photo resolution before detection; the light, colour, blur and JPEG settings
are stronger than anything the augmentation draws. Detections are cached per shift (they
depend on the photos and the detector settings only), so comparing many models costs one
detection pass.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.hands import scenes
from signcaps.util.config import CropConfig, DetectConfig, Recipe
from signcaps.util.errors import UserError
from signcaps.util.outputs import atomic_write_json, claim_files, ensure_writable_dir

SHIFT_OUTPUTS = ("domain-shift.png", "domain-shift.json")  # what `robustness --domain` writes into --out
SHIFT_VERSION = 2  # bump when a shift changes; the key also holds its description (which names its settings)

Shift = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


def _background(kind: str) -> Shift:
    def shift(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        return scenes.composite(image, mask, scenes.BACKGROUNDS[kind](rng, h, w))

    return shift


SHIFTS: dict[str, tuple[str, Shift]] = {
    "none": ("the test photos as they are", lambda image, mask, rng: image),
    "bg-black": ("background replaced by black", _background("black")),
    "bg-colour": ("background replaced by a random colour", _background("colour")),
    "bg-noise": ("background replaced by coloured noise", _background("noise")),
    "bg-texture": ("background replaced by stripes, checks or waves", _background("texture")),
    "bg-clutter": ("background replaced by a cluttered scene (some shapes skin-coloured)", _background("clutter")),
    "dim": ("dim light: 40% exposure, gamma 1.3, sensor noise", lambda i, m, r: scenes.light(i, 0.4, 1.3, 4.0, r)),
    "harsh": ("harsh side light: a strong ramp, overexposed",
              lambda i, m, r: scenes.light(scenes.side_light(i, 0.9, r.uniform(0, 2 * np.pi)), 1.4, 0.8)),
    "warm": ("tungsten colour cast (red +40%, blue -40%)", lambda i, m, r: scenes.colour_cast(i, 0.4)),
    "cool": ("shade colour cast (red -40%, blue +40%)", lambda i, m, r: scenes.colour_cast(i, -0.4)),
    "blur": ("defocus blur, sigma 2% of the photo", lambda i, m, r: scenes.blur(i, 0.02)),
    "jpeg": ("JPEG quality 20", lambda i, m, r: scenes.jpeg(i, 20)),
    "mirror": ("mirrored photo: a left hand", lambda i, m, r: np.ascontiguousarray(i[:, ::-1])),
}


class ShiftError(UserError, ValueError):
    """Unknown shift names or models that cannot be compared (one line)."""


@dataclass
class Detections:
    """MediaPipe's answer on every shifted test photo: found flags, landmarks, handedness."""

    found: np.ndarray  # (N,) bool
    points: np.ndarray  # (N, 21, 3) float32, frame pixels
    left: np.ndarray  # (N,) bool


@dataclass
class TestPhotos:
    """The test split as full photos, with the hand mask of each (from the unshifted detection)."""

    root: Path
    paths: list[str]
    labels: np.ndarray
    classes: list[str]
    fingerprint: str
    masks: list[np.ndarray]

    def image(self, index: int) -> np.ndarray:
        from signcaps.hands.preprocess import read_image_rgb

        return read_image_rgb(self.root / self.paths[index])

    def shifted(self, name: str, index: int) -> np.ndarray:
        """Photo `index` under shift `name`, the same pixels on every call (seeded by name and index)."""
        seed = int.from_bytes(hashlib.sha256(os.fsencode(f"{name}/{self.paths[index]}")).digest()[:4], "little")
        return SHIFTS[name][1](self.image(index), self.masks[index], np.random.default_rng(seed))


# ------------------------------------------------------------------------------ models


@dataclass
class Scorer:
    """A model to judge, checkpoint (torch) or exported ONNX, behind one call: inputs -> lengths."""

    group: str  # the recipe it was trained with: runs of one recipe with other seeds are averaged
    label: str
    path: str
    classes: list[str]
    crop: CropConfig
    detect: DetectConfig
    kinds: tuple[str, ...]
    run: Callable[[dict[str, np.ndarray]], np.ndarray]
    recipe: Recipe | None = None


def load_scorer(path: str | Path) -> Scorer:
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        from signcaps.runtime.classifier import load_classifier

        clf = load_classifier(path)
        return Scorer(str(clf.meta.get("recipe") or path.stem), clf.meta.get("model", path.stem), str(path),
                      clf.classes, clf.crop_cfg, clf.detect_cfg, tuple(clf.inputs), clf.classify)
    import torch

    from signcaps.models.checkpoint import build_from_checkpoint
    from signcaps.training.infer import predict_lengths

    model, recipe, classes, _ = build_from_checkpoint(path)
    return Scorer(recipe.name, recipe.model.name, str(path), classes, recipe.crop, recipe.detect, tuple(model.inputs),
                  lambda inputs: predict_lengths(model, inputs, torch.device("cpu")), recipe)


# ------------------------------------------------------------------------------ the evaluation


def test_photos(recipe: Recipe, hand_model: str | None, data: str | Path | None = None, split: str = "test",
                show_progress: bool = True) -> TestPhotos:
    """The split's photos (participant split of the recipe's data) and their hand masks."""
    from signcaps.data.crops import prepare
    from signcaps.data.splits import split_indices
    from signcaps.hands.preprocess import read_image_rgb

    root = Path(data or recipe.data.root)
    crops, scan, _ = prepare(root, recipe.data, recipe.crop, recipe.detect, hand_model, show_progress=show_progress)
    index = np.arange(len(crops)) if split == "all" else split_indices(crops.paths, crops.labels, recipe.data,
                                                                                      root=scan.root)[split]
    chosen = crops.subset(index)
    masks = [scenes.hand_mask(read_image_rgb(scan.root / rel), pts[:, :2])
             for rel, pts in zip(chosen.paths, chosen.points)]
    return TestPhotos(scan.root, chosen.paths, chosen.labels, chosen.classes, chosen.fingerprint, masks)


def detect_shift(photos: TestPhotos, name: str, detect: DetectConfig, hand_model: str | None,
                 cache_dir: Path, advance: Callable[[int], None] = lambda _n: None) -> Detections:
    """Hands in every shifted photo (IMAGE mode, with the retry), cached per photos, shift and detector."""
    from signcaps.hands.detector import HandDetector
    from signcaps.util.assets import hand_model_tag, resolve_hand_model

    described = [name, SHIFTS[name][0], SHIFT_VERSION, hand_model_tag(hand_model)]
    key = hashlib.sha256(json.dumps([photos.fingerprint, photos.paths, described,
                                     asdict(detect)]).encode()).hexdigest()[:16]
    path = cache_dir / f"shift-{name}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as npz:
                advance(len(photos.paths))
                return Detections(npz["found"], npz["points"], npz["left"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt
    n = len(photos.paths)
    found, points, left = np.zeros(n, bool), np.zeros((n, 21, 3), np.float32), np.zeros(n, bool)
    with HandDetector(resolve_hand_model(hand_model), detect, mode="image") as detector:
        for i in range(n):
            hands = detector.detect(photos.shifted(name, i))
            if hands:
                found[i], points[i], left[i] = True, hands[0].points, hands[0].is_left
            advance(1)
    from signcaps.util.outputs import atomic_write

    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: np.savez(tmp, found=found, points=points, left=left))
    return Detections(found, points, left)


def score_shift(scorer: Scorer, photos: TestPhotos, name: str, found: Detections) -> dict[str, Any]:
    """Accuracy of one model on one shift, over ALL photos: a photo without a found hand is wrong."""
    from signcaps.hands.detector import Hand
    from signcaps.hands.landmarks import normalize_pose
    from signcaps.hands.preprocess import hand_sample, to_batch

    rows = np.flatnonzero(found.found)
    crops, poses = [], []
    for i in rows:
        hand = Hand(found.points[i, :, :2], "Left" if found.left[i] else "Right", 1.0, found.points[i, :, 2])
        if "image" in scorer.kinds:
            crop, pose = hand_sample(photos.shifted(name, int(i)), hand, scorer.crop)
            crops.append(crop)
        else:
            pose = normalize_pose(hand.points, hand.is_left, scorer.crop.mirror_left)
        poses.append(pose)
    inputs = {"pose": np.asarray(poses, np.float32).reshape(-1, 21, 3), "image": to_batch(crops, scorer.crop)}
    correct = 0
    if len(rows):
        predicted = scorer.run({k: inputs[k] for k in scorer.kinds}).argmax(1)
        correct = int((predicted == photos.labels[rows]).sum())
    total = len(photos.paths)
    return {"shift": name, "accuracy": correct / total if total else 0.0, "correct": correct,
            "hands_found": int(len(rows)), "images": total,
            "accuracy_found": correct / len(rows) if len(rows) else 0.0}


def check_shift_names(names: Sequence[str] | None) -> list[str]:
    """The shifts to run (all when none are named), each name checked in one line before any work:
    every command that takes `--shift` calls this first (robustness, `bench variants`)."""
    names = list(names or SHIFTS)
    unknown = [n for n in names if n not in SHIFTS]
    if unknown:
        raise ShiftError(f"unknown shift(s) {unknown}; choose from: {', '.join(SHIFTS)}")
    return names


def evaluate_shifts(models: Sequence[str | Path], names: Sequence[str] | None = None, data: str | Path | None = None,
                    split: str = "test", hand_model: str | None = None, out_dir: str | Path | None = None,
                    show_progress: bool = True) -> dict[str, Any]:
    """Every model under every shift; writes domain-shift.json and domain-shift.png into `out_dir`."""
    from signcaps.training.robustness import model_labels
    from signcaps.util.progress import progress_bar

    names = check_shift_names(names)
    if not models:
        raise ShiftError("no models to evaluate")
    target = Path(out_dir) if out_dir else Path(".")  # checked before the work
    claim_files(ensure_writable_dir(target, "--out", inputs=[data, *models]), SHIFT_OUTPUTS, "--out")
    scorers = [load_scorer(m) for m in models]
    recipe = _reference_recipe(scorers)
    photos = test_photos(recipe, hand_model, data, split, show_progress)
    for scorer in scorers:  # a joint vocabulary's model knows the data's classes first, then the other set's
        if list(scorer.classes[:len(photos.classes)]) != list(photos.classes):
            raise ShiftError(f"{scorer.path} knows classes {scorer.classes}, the data has {photos.classes}")
    cache_dir = Path(recipe.data.cache_dir)
    detections: dict[tuple[str, str], Detections] = {}
    detectors = {json.dumps(asdict(s.detect), sort_keys=True): s.detect for s in scorers}
    with progress_bar("detecting hands in shifted photos", len(names) * len(detectors) * len(photos.paths),
                      enabled=show_progress) as advance:
        for key, detect in detectors.items():
            for name in names:
                detections[(key, name)] = detect_shift(photos, name, detect, hand_model, cache_dir, advance)
    labels = model_labels([(s.label, s.path) for s in scorers])
    results = []
    for label, scorer in zip(labels, scorers):
        key = json.dumps(asdict(scorer.detect), sort_keys=True)
        rows = [score_shift(scorer, photos, name, detections[(key, name)]) for name in names]
        shifted = [r for r in rows if r["shift"] != "none"]
        results.append({"label": label, "model": scorer.label, "recipe": scorer.group, "path": scorer.path,
                        "shifts": rows,
                        "worst": min(r["accuracy"] for r in shifted) if shifted else None,
                        "worst_found": min(r["accuracy_found"] for r in shifted) if shifted else None})
    report = {"data": str(photos.root), "split": split, "images": len(photos.paths), "shifts": names,
              "descriptions": {n: SHIFTS[n][0] for n in names}, "models": results, "recipes": recipe_means(results)}
    report["png"] = str(plot_shifts(report, target / "domain-shift.png"))
    report["json"] = str(target / "domain-shift.json")
    atomic_write_json(report["json"], report)
    return report


def recipe_means(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recipe, the mean over its models (seeds) of every shift's accuracies, in first-seen order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault(result["recipe"], []).append(result)
    means = []
    for name, members in groups.items():
        rows = []
        for i, first in enumerate(members[0]["shifts"]):
            rows.append({"shift": first["shift"], "images": first["images"],
                         **{key: float(np.mean([m["shifts"][i][key] for m in members]))
                            for key in ("accuracy", "accuracy_found", "hands_found")}})
        shifted = [r for r in rows if r["shift"] != "none"]
        means.append({"label": f"{name} (mean of {len(members)})", "recipe": name, "models": len(members),
                      "shifts": rows,
                      "worst": min(r["accuracy"] for r in shifted) if shifted else None,
                      "worst_found": min(r["accuracy_found"] for r in shifted) if shifted else None})
    return means


def _reference_recipe(scorers: Sequence[Scorer]) -> Recipe:
    """The data, split and cache settings: the first checkpoint's recipe (ONNX files carry none)."""
    for scorer in scorers:
        if scorer.recipe is not None:
            return scorer.recipe
    recipe = Recipe()
    recipe.detect = scorers[0].detect
    recipe.crop = scorers[0].crop
    return recipe


# ------------------------------------------------------------------------------ output


def plot_shifts(report: dict[str, Any], path: Path) -> Path:
    """Grouped bars: one group per shift, one bar per model (per recipe, averaged over its seeds,
    when some recipe has several), accuracy on the y axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["shifts"]
    models = report["recipes"] if any(r["models"] > 1 for r in report.get("recipes", [])) else report["models"]
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(min(16.0, max(8.0, 0.3 * len(names) * max(len(models), 2) + 3)), 5.2))
    x = np.arange(len(names))
    for k, model in enumerate(models):
        values = [r["accuracy"] * 100 for r in model["shifts"]]
        centres = x + (k - (len(models) - 1) / 2) * width
        ax.bar(centres, values, width, label=model["label"])
        found = [r["accuracy_found"] * 100 for r in model["shifts"]]
        ax.scatter(centres, found, marker="_", s=60, color="black", linewidths=1.5, zorder=3,
                   label="on found hands" if k == 0 else None)
    ax.axhline(98, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("accuracy, %  (bars: no hand found = wrong;\n ticks: on the photos with a hand found)")
    low = min(min(r["accuracy"] for r in m["shifts"]) for m in models) * 100
    ax.set_ylim(max(0.0, min(low - 5, 90.0)), 100.5)
    ax.set_title(f"domain shifts: {Path(report['data']).name} {report['split']} split, {report['images']} photos of "
                 "unseen participants")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    from signcaps.util.report import save_figure

    return save_figure(fig, path)


def shift_rows(report: dict[str, Any], found_only: bool = False, key_models: str = "models") -> list[list[str]]:
    """Table rows: a shift, then each model's accuracy. End to end (a photo without a found hand is
    wrong; the count of such photos in brackets), or with `found_only` on the photos where
    MediaPipe found the hand: the classifier's own share of the result."""
    key, worst = ("accuracy_found", "worst_found") if found_only else ("accuracy", "worst")
    rows = []
    for i, name in enumerate(report["shifts"]):
        cells = []
        for model in report[key_models]:
            r = model["shifts"][i]
            missed = round(r["images"] - r["hands_found"])
            cells.append(f"{r[key]:.2%}" + (f" ({missed} no hand)" if missed and not found_only else ""))
        rows.append([name, *cells])
    rows.append(["worst shift", *(f"{m[worst]:.2%}" if m[worst] is not None else "-" for m in report[key_models])])
    return rows


def markdown_table(report: dict[str, Any], found_only: bool = False, key_models: str = "models") -> str:
    """`shift_rows` as the markdown table train/README.md shows."""
    header = ["shift", *(m["label"] for m in report[key_models])]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in shift_rows(report, found_only, key_models)]
    return "\n".join(lines)
