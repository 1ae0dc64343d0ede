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
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signcaps.util.metrics import wilson_upper

TARGET = 0.95
MIN_COUNT = 5


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
    report = {"model": str(model or default_model_path(signs)), "split": split, **result.summary(), **rel.to_dict(),
              "png": str(png), "rule": classifier.rule.to_meta(), "open_set": open_set}
    atomic_write_json(out / names[1], report)
    return report
