"""Does a capsule length mean what it says? Reliability of the winning length, and the live threshold.

The winning class capsule's length (0..1) is what `live` compares with `--threshold` to show a
digit or "?". Grouping the test images by that length (bins of 0.1) and comparing each bin's
mean length with its accuracy gives the reliability diagram: on the diagonal, a length of 0.7
means right 70% of the time. Margin-loss training does not aim for that (it pushes the right
capsule above 0.9 and the others below 0.1), so the diagram is read for where accuracy starts
to hold, not for calibration in the strict sense.

The threshold rule (`recommend_threshold`): t is the lower edge of the lowest bin holding at
least `min_count` (5) images such that no such bin from t up is shown to be right less than
`target` (95%) of the time, and all images kept (winning length >= t) are right at least `target`
of the time. "Shown to be" means even the upper end of the bin's 95% Wilson interval lies below
the target: a test split has few unsure images (the default model: 6 in 0.6-0.7, 5 of them
right), and 5 of 6 is no evidence that the bin is worse than 95%. Below t the model has been
wrong too often to show its guess, so `live` shows "?" there. Bins with fewer images are not
trusted either way: t never goes below the evidence, so a model whose test lengths are all above
0.9 gets 0.9, not a guess about lengths it never showed.

One threshold story (`threshold_story`): the model already carries a rule (metadata `rejection`,
its `accept` is what `predict`, `live` and the page use). calibrate compares its recommendation
with that accept and says which way and why they differ (too few images between the two to vouch
for the lower one, or images there shown to be wrong too often), and what adopting the
recommendation changes on the same sets (signs accepted and right, negatives refused): the rule
in the model stays the default until someone exports with `--accept` or passes `--threshold`.

Sample size (`sample_size_warnings`): a warning below `MIN_IMAGES` (200) images with a hand or
below `MIN_PER_CLASS` (20) images of any class. The threshold is one number over all classes
pooled, so the total sets how sharply it is measured: at 200 images the 95% interval of an
accuracy near 95% is already +-3.0 points wide (Wilson/normal), as wide as the steps between the
thresholds tried. Per class, fewer than 20 images means one error moves that class's rate by more
than 5 points, so a class the threshold serves badly cannot be told from bad luck. The shipped
model's test split (279 images, 26-29 per class) passes; a 12-image custom split does not.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.util.metrics import wilson_upper

TARGET = 0.95
MIN_COUNT = 5
MIN_IMAGES = 200  # below this many images with a hand, calibrate warns (module docstring)
MIN_PER_CLASS = 20  # ... or below this many of any class


@dataclass
class Bin:
    low: float
    high: float
    count: int
    mean_length: float
    accuracy: float


@dataclass
class Reliability:
    bins: list[Bin]
    images: int  # images with a hand
    accuracy: float
    ece: float  # expected calibration error: count-weighted |accuracy - mean length|
    threshold: float  # recommended --threshold (see recommend_threshold)
    kept: float  # fraction of images at or above the threshold
    kept_accuracy: float  # accuracy of those

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "accuracy": round(self.accuracy, 4), "ece": round(self.ece, 4),
                "threshold": self.threshold, "kept": round(self.kept, 4),
                "kept_accuracy": round(self.kept_accuracy, 4),
                "rule": f"lower edge of the lowest bin with >= {MIN_COUNT} images from which no such bin is "
                        f"significantly (Wilson 95%) below {TARGET:.0%} right and the images kept are >= "
                        f"{TARGET:.0%} right",
                "bins": [{"low": b.low, "high": b.high, "count": b.count, "mean_length": round(b.mean_length, 4),
                          "accuracy": round(b.accuracy, 4)} for b in self.bins]}


def reliability(lengths: np.ndarray, labels: np.ndarray, bins: int = 10) -> Reliability:
    """Bins of the winning capsule length with their accuracy, the ECE and the recommended threshold."""
    lengths = np.asarray(lengths, np.float32)
    labels = np.asarray(labels)
    conf = lengths.max(axis=1) if len(lengths) else np.zeros(0, np.float32)
    right = lengths.argmax(axis=1) == labels if len(lengths) else np.zeros(0, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    table = []
    for k in range(bins):
        member = which == k
        n = int(member.sum())
        table.append(Bin(round(float(edges[k]), 3), round(float(edges[k + 1]), 3), n,
                         float(conf[member].mean()) if n else 0.0, float(right[member].mean()) if n else 0.0))
    total = len(conf)
    ece = sum(b.count * abs(b.accuracy - b.mean_length) for b in table) / total if total else 0.0
    threshold = recommend_threshold(table, conf, right)
    kept = conf >= threshold
    return Reliability(table, total, float(right.mean()) if total else 0.0, float(ece), threshold,
                       float(kept.mean()) if total else 0.0, float(right[kept].mean()) if kept.any() else 0.0)


def recommend_threshold(table: list[Bin], conf: np.ndarray, right: np.ndarray, target: float = TARGET,
                        min_count: int = MIN_COUNT) -> float:
    """The rule in the module docstring; 1.0 when no bin is reliable."""
    populated = [b for b in table if b.count >= min_count]
    for b in populated:
        kept = conf >= b.low
        if all(wilson_upper(c.accuracy, c.count) >= target for c in populated if c.low >= b.low) \
                and right[kept].mean() >= target:
            return round(b.low, 3)
    return 1.0


def sample_size_warnings(labels: np.ndarray, classes: list[str]) -> list[str]:
    """Warnings when the split is too small to trust the recommendation (the module docstring says why)."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=len(classes))[:len(classes)]
    warnings = []
    if counts.sum() < MIN_IMAGES:
        warnings.append(f"only {int(counts.sum())} images with a hand (fewer than {MIN_IMAGES}): the recommended "
                        "threshold rests on few images; a 95% interval on an accuracy near 95% is wider than "
                        "+-3 points below 200 images")
    few = [f"{name} ({int(n)})" for name, n in zip(classes, counts) if n < MIN_PER_CLASS]
    if few:
        warnings.append(f"{len(few)} class(es) with fewer than {MIN_PER_CLASS} images: {', '.join(few[:8])}"
                        f"{' ...' if len(few) > 8 else ''}: one error moves such a class by over 5 points")
    return warnings


def threshold_story(threshold: float, accept: float, conf: np.ndarray, right: np.ndarray, table: list[Bin],
                    open_set: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """How the recommendation relates to the model's own rule: agree, or why not and what adopting it changes."""
    story: dict[str, Any] = {"model_accept": accept, "recommended": threshold,
                             "agrees": bool(abs(threshold - accept) < 1e-6)}
    if story["agrees"]:
        story["why"] = f"the recommendation is the model's own rule (accept {accept:g}): nothing to change"
        story["adopting"] = []
        return story
    low, high = sorted((accept, threshold))
    between = (conf >= low) & (conf < high)
    n, good = int(between.sum()), int(right[between].sum())
    evidence = any(b.count >= MIN_COUNT and low - 1e-9 <= b.low < high for b in table)
    if threshold > accept and not evidence:
        why = (f"the split has {n} image(s) with a winning length from {low:g} to {high:g} ({good} right): no bin "
               f"there holds the rule's {MIN_COUNT} images, so calibrate does not vouch for that range; nothing "
               f"there speaks against the model's {accept:g} either")
    elif threshold > accept:
        why = (f"from {low:g} to {high:g} the split's {n} image(s) are right {good} times ({good / n:.0%}): the rule "
               f"finds that range too often wrong for {TARGET:.0%}")
    else:
        why = (f"the split supports showing signs from {threshold:g} ({n} image(s) from {low:g} to {high:g}, {good} "
               f"right); the model's rule is stricter, as a rule chosen for hands that sign nothing can be "
               f"(calibrate measures signs only, plus the held-out negatives below)")
    story["why"] = why
    story["adopting"] = [_change(old, new) for old, new in zip(open_set.get("model rule", []),
                                                                open_set.get("recommended threshold", []))]
    return story


def _change(old: dict[str, Any], new: dict[str, Any]) -> str:
    return (f"{old['set']}: {old['measure']} {old['rate']:.2%} -> {new['rate']:.2%} "
            f"({new['good'] - old['good']:+d} of {old['images']})")


def calibrate(model: str | Path | None = None, data: str | Path | None = None, split: str = "test",
              hand_model: str | None = None, out_dir: str | Path = "calibration", bins: int = 10,
              show_progress: bool = True, signs: str | None = None) -> dict[str, Any]:
    """Capsule lengths of `model` on the split -> reliability table, PNG and JSON in `out_dir`."""
    from signcaps.runtime.classifier import default_model_path, load_classifier
    from signcaps.runtime.onnxeval import open_set_rows, split_lengths
    from signcaps.util.outputs import atomic_write_json, claim_files, ensure_writable_dir
    from signcaps.util.report import plot_reliability

    name = Path(model).stem if model else Path(default_model_path(signs)).stem
    names = (f"reliability-{name}-{split}.png", f"reliability-{name}-{split}.json")
    out = ensure_writable_dir(out_dir, "--out", inputs=[model, data])  # before the work
    claim_files(out, names, "--out")
    result = split_lengths(model, data, split, hand_model, show_progress=show_progress, signs=signs)
    rel = reliability(result.lengths, result.labels, bins)
    classifier = load_classifier(model, signs=signs)
    open_set = {"model rule": open_set_rows(classifier, result, data is None, hand_model, show_progress),
                "recommended threshold": open_set_rows(classifier, result, data is None, hand_model, False,
                                                       classifier.rule.with_accept(rel.threshold))}
    png = plot_reliability(rel, out / names[0], f"{name} on {split} split: {rel.images} images, ECE {rel.ece:.3f}")
    conf = result.lengths.max(axis=1) if len(result.lengths) else np.zeros(0, np.float32)
    right = result.lengths.argmax(axis=1) == result.labels if len(result.lengths) else np.zeros(0, bool)
    report = {"model": str(model or default_model_path(signs)), "split": split, **result.summary(), **rel.to_dict(),
              "png": str(png), "rule": classifier.rule.to_meta(), "open_set": open_set,
              "threshold_story": threshold_story(rel.threshold, classifier.rule.accept, conf, right, rel.bins,
                                                 open_set),
              "warnings": sample_size_warnings(result.labels, result.classes)}
    atomic_write_json(out / names[1], report)
    return report
