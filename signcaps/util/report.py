"""Plots people would rather look at than read: curves, confusion matrices, sweeps."""
from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import FixedFormatter, FuncFormatter  # noqa: E402

from signcaps.util.text import printable  # noqa: E402

# Fonts tried in order for each character (matplotlib's per-glyph fallback): the bundled DejaVu Sans,
# then whichever of these wide-coverage families the machine has. A class name in a script none of
# them covers is drawn as \uXXXX escapes (`plot_label`), never as empty boxes with a warning.
FALLBACK_FONTS = ("DejaVu Sans", "Noto Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans Arabic",
                  "Noto Sans Hebrew", "Noto Sans Devanagari", "Noto Sans Thai", "Noto Sans Armenian",
                  "Noto Sans Georgian", "Noto Sans Ethiopic", "Droid Sans Fallback", "WenQuanYi Zen Hei")


@functools.cache
def _fonts() -> tuple[list[str], frozenset[int]]:
    """The fallback families installed here, and every character code one of them draws."""
    from matplotlib.ft2font import FT2Font

    installed = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    families = [name for name in FALLBACK_FONTS if name in installed]
    codes: set[int] = set()
    for name in families:
        codes.update(FT2Font(installed[name]).get_charmap())
    return families, frozenset(codes)


def plot_label(text: str) -> str:
    """A file, class or model name as a figure shows it: control bytes and undecodable bytes escaped
    (`printable`: matplotlib cannot even measure a name that is not UTF-8), `$` kept literal (else it
    starts mathtext), and characters no installed font draws written as their code (\\u0f40)."""
    _, codes = _fonts()
    shown = printable(text, lines=True).replace("$", r"\$")
    return "".join(c if c.isspace() or ord(c) in codes else f"\\u{ord(c):04x}" for c in shown)


def _labelled(func, value: float, pos: int | None = None) -> str:
    return plot_label(func(value, pos))


def save_figure(fig, path: Path, rect: tuple[float, float, float, float] | None = None) -> Path:
    """The one way a figure reaches disk: every text in it shown through `plot_label`, laid out,
    written atomically, closed. `rect`: the part of the figure the axes may fill (room for a legend)."""
    from signcaps.util.outputs import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    for artist in fig.findobj(Text):
        artist.set_text(plot_label(artist.get_text()))
        artist.set_fontfamily(_fonts()[0] or ["DejaVu Sans"])
    for axis in (axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)):  # tick labels given as names
        for formatter in (axis.get_major_formatter(), axis.get_minor_formatter()):
            if isinstance(formatter, FixedFormatter):  # (their Text is made again when drawn)
                formatter.seq = [plot_label(label) for label in formatter.seq]
            elif isinstance(formatter, FuncFormatter):  # what `set_xticks(ticks, labels)` makes
                formatter.func = functools.partial(_labelled, formatter.func)
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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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
    return save_figure(fig, path, rect=(0, 0.04 + 0.035 * ((len(labels) + 2) // 3), 1, 1))


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
    return save_figure(fig, path)
