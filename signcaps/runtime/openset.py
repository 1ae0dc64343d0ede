"""Does a model answer "none" when a hand signs none of its classes? Signs accepted vs negatives refused.

Closed-set accuracy says nothing about a fist, a resting hand or a letter: a model trained on signs
alone shows some sign for every hand (the first fused default showed 86% of the ASL letters that
are no digit as a confident digit). This module measures the open-set answer of an exported
model as every runtime gives it: the ONNX file with its rejection rule (`rejection.py`) on
onnxruntime, through the shared crop and pose preprocessing, torch-free.

The sets (from the recipe's data settings):

* signs of the test participants (`data.root`, the recipe's split): accepted and right;
* negatives never trained on: the dataset's own `none/` test images and the held-out folders
  (`valid/`, `test/`) of the external negatives (`negatives.root`); refused;
* the external dataset's photos of signs (`negatives.signs`) in those held-out folders: other people
  and rooms than the training signs, accepted and right.

A photo where MediaPipe finds no hand counts as a miss for a sign and as refused for a negative
(it shows no sign). For each score a model can be judged by (the winning sign capsule's length,
its margin over the "none" capsule, the agreement of the decoded skeleton with the observed
pose, and the two combined) the ROC gives signs accepted and right against negatives accepted
over every threshold; the rule stored in the model is one point on it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.data.crops import CropSet
from signcaps.data.folders import NEGATIVE
from signcaps.util.config import Recipe

# the combined score multiplies the winning length by exp(-pose error / this scale): an error of
# 0.3 (a third of the wrist -> middle-knuckle distance per joint) costs a factor e
AGREEMENT_SCALE = 0.3


@dataclass
class ScoredSet:
    """One evaluation set through a model: per hand found, its label and the model's outputs."""

    name: str
    kind: str  # "signs" (accepted and right is good) or "negatives" (refused is good)
    images: int  # photos in the set; those without a hand are not in the arrays
    labels: np.ndarray  # (N,) class index, NEGATIVE for a negative
    lengths: np.ndarray  # (N, K) capsule lengths
    pose_error: np.ndarray | None  # (N,) decoded skeleton vs observed pose, when the model has a pose decoder
    paths: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        return len(self.labels)


@dataclass
class Curve:
    """ROC of one score: thresholds and, at each, signs accepted and right, negatives accepted."""

    score: str
    thresholds: np.ndarray
    signs_right: np.ndarray  # fraction of all sign photos accepted and right
    negatives_accepted: np.ndarray  # fraction of all negative photos accepted as some sign

    @property
    def auc(self) -> float:
        """Area under signs-right over negatives-accepted (1 = perfect, from (0, 0) to (1, max right))."""
        x = np.concatenate([[0.0], self.negatives_accepted, [1.0]])  # thresholds fall, so both rise
        y = np.concatenate([[0.0], self.signs_right, [self.signs_right.max(initial=0.0)]])
        order = np.argsort(x, kind="stable")
        return float(np.trapezoid(y[order], x[order]))

    def at_signs_right(self, target: float) -> tuple[float, float] | None:
        """(threshold, negatives accepted) of the strictest threshold that keeps `target` signs right."""
        ok = self.signs_right >= target
        if not ok.any():
            return None
        i = int(np.flatnonzero(ok)[np.argmax(self.thresholds[ok])])
        return float(self.thresholds[i]), float(self.negatives_accepted[i])


def sign_columns(classes: list[str], none_class: str | None) -> np.ndarray:
    return np.array([i for i, c in enumerate(classes) if c != none_class], np.int64)


def score_functions(classes: list[str], none_class: str | None) -> dict[str, Callable[[ScoredSet], np.ndarray]]:
    """Name -> per-hand score (higher = more like a sign) for every kind of rejection the model supports."""
    cols = sign_columns(classes, none_class)
    none = classes.index(none_class) if none_class in classes else None
    scores: dict[str, Callable[[ScoredSet], np.ndarray]] = {
        "winning length": lambda s: s.lengths[:, cols].max(1, initial=0.0)}
    if none is not None:
        scores["margin over none"] = lambda s: s.lengths[:, cols].max(1, initial=0.0) - s.lengths[:, none]
    return scores


def agreement_functions() -> dict[str, Callable[[ScoredSet], np.ndarray]]:
    return {"pose agreement": lambda s: -s.pose_error,
            "length x agreement": lambda s: s.lengths.max(1) * np.exp(-s.pose_error / AGREEMENT_SCALE)}


def roc(signs: ScoredSet, negatives: ScoredSet, score: Callable[[ScoredSet], np.ndarray], name: str,
        cols: np.ndarray) -> Curve:
    """The ROC of `score`: every distinct value is a threshold (accept when score >= threshold)."""
    s_signs, s_neg = score(signs), score(negatives)
    right = cols[signs.lengths[:, cols].argmax(1)] == signs.labels if signs.found else np.zeros(0, bool)
    thresholds = np.unique(np.concatenate([s_signs, s_neg, [np.inf]]))[::-1]
    right_scores = np.sort(s_signs[right])
    neg_scores = np.sort(s_neg)
    kept_right = len(right_scores) - np.searchsorted(right_scores, thresholds, side="left")
    kept_neg = len(neg_scores) - np.searchsorted(neg_scores, thresholds, side="left")
    return Curve(name, thresholds, kept_right / max(signs.images, 1), kept_neg / max(negatives.images, 1))


def curves(signs: ScoredSet, negatives: ScoredSet, classes: list[str], none_class: str | None) -> list[Curve]:
    funcs = score_functions(classes, none_class)
    if signs.pose_error is not None and negatives.pose_error is not None:
        funcs.update(agreement_functions())
    cols = sign_columns(classes, none_class)
    return [roc(signs, negatives, f, name, cols) for name, f in funcs.items()]


def merge(name: str, kind: str, parts: list[ScoredSet]) -> ScoredSet:
    """Several scored sets as one (the held-out folders of the external negatives together)."""
    parts = [p for p in parts if p is not None]
    errors = [p.pose_error for p in parts]
    return ScoredSet(name, kind, sum(p.images for p in parts), np.concatenate([p.labels for p in parts]),
                     np.concatenate([p.lengths for p in parts]),
                     None if any(e is None for e in errors) else np.concatenate(errors),
                     [x for p in parts for x in p.paths])


# ----------------------------------------------------------------------------- the deployed model


def score_crops(classifier: Any, crops: CropSet, name: str, kind: str, images: int) -> ScoredSet:
    """Capsule lengths (and the pose error, when the model decodes landmarks) of every hand of `crops`."""
    from signcaps.signs.rejection import pose_error

    poses = crops.poses(classifier.crop_cfg.mirror_left) if classifier.needs_pose else None
    lengths, errors = [], []
    for start in range(0, len(crops), 256):
        part = slice(start, start + 256)
        inputs = classifier.hand_inputs(crops.crops[part], None if poses is None else poses[part])
        out = classifier.explain_outputs(inputs)
        lengths.append(out["lengths"])
        if "pose_reconstruction" in out:
            errors.append(pose_error(out["pose_reconstruction"], poses[part]))
    k = len(classifier.classes)
    return ScoredSet(name, kind, images, crops.labels.copy(),
                     np.concatenate(lengths) if lengths else np.zeros((0, k), np.float32),
                     np.concatenate(errors) if errors else (np.zeros(0, np.float32) if poses is not None else None),
                     list(crops.paths))


def evaluation_sets(classifier: Any, recipe: Recipe, hand_model: str | Path | None = None,
                    reshoot: int = 0, show_progress: bool = True) -> list[ScoredSet]:
    """The model's answers on the recipe's test signs, held-out negatives and held-out external signs.

    With `reshoot` > 0 every set is also re-shot that many times (`scenes.random_retake`: a new
    background, light, colour cast, blur or JPEG, the hand detected again): the same hands as another
    camera in another room would show them, so a model that refuses a negative by its room is caught.
    """
    from signcaps.data.folders import held_out_negatives, scan_folder, scan_negative_folder
    from signcaps.data.splits import split_indices

    classes = [c for c in classifier.classes if c != classifier.rule.none_class]
    scan = scan_folder(recipe.data.root, classes)
    labels = np.array([label for _, label in scan.files], np.int64)
    index = split_indices([str(p.relative_to(scan.root)) for p, _ in scan.files], labels, recipe.data,
                          root=scan.root)["test"]
    test_scan = replace(scan, files=[scan.files[i] for i in index])
    parts = [("test participants", test_scan)]
    neg = recipe.negatives
    if neg.root:
        signs_map = {folder: classes.index(str(c)) for folder, c in neg.signs.items() if str(c) in classes}
        parts += [(f"{Path(neg.root).name}/{folder.name}",
                   scan_negative_folder(folder, tuple(neg.classes), neg.stretch_x, signs_map, classes))
                  for folder in held_out_negatives(neg.root).values()]
    sets = []
    for where, part in parts:
        sets += scored_parts(classifier, recipe, part, where, hand_model, 0, show_progress)
        if reshoot:
            sets += scored_parts(classifier, recipe, part, where, hand_model, reshoot, show_progress)
    return sets


def scored_parts(classifier: Any, recipe: Recipe, scan: Any, where: str, hand_model: str | Path | None,
                  reshoot: int, show_progress: bool) -> list[ScoredSet]:
    """The signs and the negatives of one scanned folder, as photographed (or re-shot `reshoot` times)."""
    from signcaps.data.crops import crops_of, load_or_make_retakes

    crop_cfg, detect_cfg = classifier.crop_cfg, replace(classifier.detect_cfg, num_hands=1)
    crops, path = crops_of(scan, recipe.data, crop_cfg, detect_cfg, hand_model, show_progress=show_progress)
    photos = np.array([label for _, label in scan.files])
    if reshoot:
        data_cfg = replace(recipe.data, retakes=reshoot)
        shots = load_or_make_retakes(crops, scan, path, data_cfg, crop_cfg, detect_cfg, hand_model, show_progress)
        rows, cols = np.nonzero(shots.found)
        crops = replace(crops, crops=shots.crops[rows, cols], labels=crops.labels[rows],
                        paths=[f"{crops.paths[r]}#{c}" for r, c in zip(rows, cols)], fallback=crops.fallback[rows],
                        points=shots.points[rows, cols], left=shots.left[rows, cols], masks=None, retakes=None)
        photos = np.repeat(photos, reshoot)
        where = f"{where}, re-shot x{reshoot}"
    out = []
    for kind, mask, count in (("signs", ~crops.negative, int((photos != NEGATIVE).sum())),
                              ("negatives", crops.negative, int((photos == NEGATIVE).sum()))):
        if count:
            out.append(score_crops(classifier, crops.subset(np.flatnonzero(mask)), f"{kind}: {where}", kind, count))
    return out


# ----------------------------------------------------------------------------- the model's own rule


def rule_row(scored: ScoredSet, classes: list[str], rule: Any) -> dict[str, Any]:
    """The model's rule (as `predict` and `live` apply it) on one set: what a user would be shown."""
    from signcaps.signs.rejection import NONE, OK, UNCERTAIN, decide_all
    from signcaps.util.metrics import wilson_upper

    errors = scored.pose_error if rule.uses_pose_error else None
    decisions = decide_all(scored.lengths, classes, rule, errors) if scored.found else []
    statuses = [d.status for d in decisions]
    counts = {s: statuses.count(s) for s in (OK, UNCERTAIN, NONE)}
    if scored.kind == "signs":
        good = sum(1 for d, y in zip(decisions, scored.labels) if d.status == OK and d.index == y)
        what = "accepted and right"
    else:
        good = scored.images - counts[OK]  # a photo without a hand shows no sign either
        what = "refused"
    rate = good / scored.images if scored.images else 0.0
    lower = 1.0 - wilson_upper(1.0 - rate, scored.images) if scored.images else 0.0
    return {"set": scored.name, "kind": scored.kind, "images": scored.images, "hands": scored.found,
            "ok": counts[OK], "uncertain": counts[UNCERTAIN], "none": counts[NONE], "good": good, "measure": what,
            "rate": round(rate, 4), "rate_low95": round(lower, 4)}


def held_out(sets: list[ScoredSet]) -> tuple[ScoredSet, ScoredSet | None]:
    """The test participants' signs, and every held-out negative photo (as taken) as one set: what the ROC compares."""
    signs = next(s for s in sets if s.name == "signs: test participants")
    negatives = [s for s in sets if s.kind == "negatives" and "re-shot" not in s.name]
    return signs, merge("held-out negatives", "negatives", negatives) if negatives else None


OPENSET_OUTPUTS = ("openset-roc.png", "openset.json")  # what `openset` writes into --out


def open_set_report(models: list[str | Path | None], recipe: Recipe, hand_model: str | Path | None = None,
                    out_dir: str | Path = "openset", threshold: float | None = None, reshoot: int = 0,
                    show_progress: bool = True, signs: str | None = None) -> dict[str, Any]:
    """Per model: the rule's table over every set, the ROC of every score (PNG + JSON in `out_dir`)."""
    import json

    from signcaps.runtime.classifier import default_model_path, load_classifier
    from signcaps.util.outputs import atomic_write_text, claim_files, ensure_writable_dir
    from signcaps.util.report import plot_roc

    # the names openset picks itself replace only its own earlier files (the folder's record)
    out = claim_files(ensure_writable_dir(out_dir, "--out", inputs=[m for m in models if m]), OPENSET_OUTPUTS,
                      "--out")
    reports, plotted = [], {}
    for model in models:
        classifier = load_classifier(model, signs=signs)
        rule = classifier.rule.with_accept(threshold)
        sets = evaluation_sets(classifier, recipe, hand_model, reshoot, show_progress)
        signs, negatives = held_out(sets)
        path = Path(model) if model else default_model_path(signs)
        name = path.parent.name if path.stem == "model" else path.stem  # runs/<name>/model.onnx reads as <name>
        entry: dict[str, Any] = {"model": str(model or default_model_path(signs)), "name": name, "rule": rule.to_meta(),
                                 "sets": [rule_row(s, classifier.classes, rule) for s in sets],
                                 "roc": []}
        if negatives is not None:
            own = "margin over none" if rule.none_class else "winning length"  # the score the rule thresholds
            for curve in curves(signs, negatives, classifier.classes, rule.none_class):
                if curve.score == own or not reports:  # the pose scores of the first model only: one plot to read
                    plotted[f"{name}: {curve.score}"] = curve
                entry["roc"].append({"score": curve.score, "auc": round(curve.auc, 4), **{
                    f"negatives_accepted_at_signs_{target:g}": point[1] if point else None
                    for target in (0.995, 0.99, 0.985, 0.98) for point in [curve.at_signs_right(target)]}})
        reports.append(entry)
    png = plot_roc(plotted, out / "openset-roc.png", "signs of unseen participants accepted and right vs held-out "
                   "negatives accepted") if plotted else None
    result = {"recipe": recipe.name, "models": reports, "png": str(png) if png else None}
    atomic_write_text(out / "openset.json", json.dumps(result, indent=1))
    return result


# ----------------------------------------------------------------------------- eval and calibrate


def split_negatives(classifier: Any, recipe: Recipe, split: str, hand_model: str | Path | None = None,
                    show_progress: bool = True) -> ScoredSet | None:
    """The external negatives held out as `split` (`val`: its valid/ folder, `test`: test/), scored by
    the model: what `eval` and `calibrate` add to a split of the model's own data. None without them."""
    from signcaps.data.crops import crops_of, installed_negatives
    from signcaps.data.folders import scan_negative_folder

    neg = recipe.negatives
    if not neg.root or split not in ("val", "test"):
        return None
    folder = (installed_negatives(neg.root) or {}).get(split)  # not installed: judged without them
    if folder is None:
        return None
    scan = scan_negative_folder(folder, tuple(neg.classes), neg.stretch_x)
    crop_cfg, detect_cfg = classifier.crop_cfg, replace(classifier.detect_cfg, num_hands=1)
    crops, _ = crops_of(scan, recipe.data, crop_cfg, detect_cfg, hand_model, show_progress=show_progress)
    return score_crops(classifier, crops, f"negatives: {Path(neg.root).name}/{folder.name}", "negatives",
                       len(scan.files))


def model_recipe(classifier: Any) -> Recipe | None:
    """The shipped recipe an exported model names in its metadata (its negatives settings), else None."""
    from signcaps.util.bundled import find_recipe
    from signcaps.util.config import load_recipe

    name = classifier.meta.get("recipe")
    return load_recipe(name) if isinstance(name, str) and find_recipe(name) is not None else None


def scored(name: str, kind: str, images: int, labels: np.ndarray, lengths: np.ndarray) -> ScoredSet:
    """A ScoredSet of lengths computed elsewhere (a checkpoint in torch, `onnxeval.split_lengths`)."""
    return ScoredSet(name, kind, images, np.asarray(labels), np.asarray(lengths, np.float32), None)
