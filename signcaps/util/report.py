"""Plots people would rather look at than read: curves, confusion matrices, sweeps."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path, rect: tuple[float, float, float, float] | None = None) -> Path:
    """`rect`: the part of the figure the axes may fill (room left for a legend below them)."""
    from signcaps.util.outputs import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=rect)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))
    finally:
        plt.close(fig)
    return path


def plot_curves(history: list[dict], path: Path, title: str) -> Path:
    """Training loss and train/validation accuracy per epoch."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = [h["epoch"] for h in history]
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [h["train_acc"] for h in history], label="train")
    ax_acc.plot(epochs, [h["val_acc"] for h in history], label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend()
    fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(report: dict, path: Path, title: str) -> Path:
    matrix = np.array(report["confusion"])
    classes = report["classes"]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    limit = matrix.max() / 2 if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        if value:
            ax.text(col, row, str(value), ha="center", va="center", color="white" if value > limit else "black",
                    fontsize=8)
    ax.set_title(f"{title}\naccuracy {report['accuracy']:.2%} of {report['samples']}")
    return _save(fig, path)


def plot_sweep(curves: dict[str, tuple[list[float], list[float]]], path: Path, xlabel: str, title: str) -> Path:
    """One line per model: accuracy against a transform parameter (robustness sweeps)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (xs, ys) in curves.items():
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)


def plot_roc(curves: dict, path: Path, title: str) -> Path:
    """Open-set ROC: signs accepted and right over negatives accepted, one line per model and score."""
    fig, (whole, zoom) = plt.subplots(1, 2, figsize=(10, 4.6))
    for label, curve in curves.items():
        for ax in (whole, zoom):
            ax.step(curve.negatives_accepted, curve.signs_right, where="post", label=f"{label} (AUC {curve.auc:.3f})")
    for ax, (x1, y0), name in ((whole, (1.0, 0.5), "every threshold"), (zoom, (0.1, 0.95), "zoomed: the corner")):
        ax.set_xlim(0, x1)
        ax.set_ylim(y0, 1.0)
        ax.set_xlabel("held-out negatives accepted as a sign")
        ax.grid(alpha=0.3)
        ax.set_title(name, fontsize=9)
    whole.set_ylabel("signs accepted and right")
    handles, labels = whole.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, rect=(0, 0.04 + 0.035 * ((len(labels) + 2) // 3), 1, 1))


def plot_reliability(rel, path: Path, title: str) -> Path:
    """Reliability diagram: accuracy per bin of winning capsule length (bars) against the diagonal,
    bin counts on a log axis below, the recommended --threshold as a vertical line."""
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    centres = [(b.low + b.high) / 2 for b in rel.bins]
    width = rel.bins[0].high - rel.bins[0].low
    ax.bar(centres, [b.accuracy if b.count else 0 for b in rel.bins], width=width * 0.9, color="#4c9a2a",
           edgecolor="black", label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="length = accuracy")
    for b, c in zip(rel.bins, centres):
        if b.count:
            ax.plot(c, b.mean_length, "o", color="black", markersize=3)
    ax.axvline(rel.threshold, color="#e08000", label=f"--threshold {rel.threshold:g}")
    ax.set_ylabel("accuracy in bin")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax_n.bar(centres, [max(b.count, 0) for b in rel.bins], width=width * 0.9, color="#777777")
    ax_n.set_yscale("symlog")
    ax_n.set_ylabel("images")
    ax_n.set_xlabel("winning capsule length")
    ax_n.set_xlim(0, 1)
    return _save(fig, path)
