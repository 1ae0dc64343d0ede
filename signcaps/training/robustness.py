"""Robustness sweeps: test accuracy under controlled rotation, scale, translation and brightness.

Each setting transforms the cached uint8 RGB test crops deterministically (an affine warp about
the crop centre with the replicated border that training augmentation uses, or an additive
brightness shift) and then goes through the shared `preprocess.to_tensor`, exactly like the
plain evaluation. The identity settings (0 degrees, scale 1, no shift, no brightness change)
return the crops untouched, so they reproduce the plain test accuracy exactly.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from signcaps.util.outputs import atomic_write_json, claim_files, ensure_writable_dir

# transform -> (settings, identity value, axis label)
SWEEPS: dict[str, tuple[tuple[float, ...], float, str]] = {
    "rotation": (tuple(float(v) for v in range(-60, 61, 15)), 0.0, "rotation (degrees, counter-clockwise)"),
    "scale": (tuple(round(0.6 + 0.1 * i, 1) for i in range(9)), 1.0, "scale factor (about the crop centre)"),
    "translation": (tuple(round(-0.2 + 0.05 * i, 2) for i in range(9)), 0.0, "x shift (fraction of the crop side)"),
    "brightness": (tuple(round(-0.4 + 0.1 * i, 1) for i in range(9)), 0.0, "brightness change (added, [0, 1] units)"),
}
TRANSFORMS: tuple[str, ...] = tuple(SWEEPS)
SWEEP_OUTPUTS = ("robustness.png", "robustness.json")  # what one checkpoint's sweep writes into --out


# ----------------------------------------------------------------------------- transforms


def affine(crops: np.ndarray, angle: float = 0.0, scale: float = 1.0, shift_x: float = 0.0,
           shift_y: float = 0.0) -> np.ndarray:
    """Rotate (degrees, counter-clockwise) and scale about the crop centre, then shift by a fraction
    of the side; (N, S, S, 3) or (S, S, 3) uint8 in, same shape out. Identity returns the input."""
    if angle == 0 and scale == 1 and shift_x == 0 and shift_y == 0:
        return crops
    single = crops.ndim == 3
    batch = crops[None] if single else crops
    h, w = batch.shape[1:3]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(angle), float(scale))
    matrix[0, 2] += shift_x * w
    matrix[1, 2] += shift_y * h
    out = np.stack([cv2.warpAffine(c, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    for c in batch]) if len(batch) else batch.copy()
    return out[0] if single else out


def brightness(crops: np.ndarray, delta: float) -> np.ndarray:
    """Add `delta` (in [0, 1] units, i.e. delta x 255 grey levels) to every pixel, clipped to uint8."""
    if delta == 0:
        return crops
    return np.clip(np.rint(crops.astype(np.float32) + delta * 255.0), 0, 255).astype(np.uint8)


def apply_transform(crops: np.ndarray, transform: str, value: float) -> np.ndarray:
    """One sweep setting applied to uint8 RGB crops."""
    if transform == "rotation":
        return affine(crops, angle=value)
    if transform == "scale":
        return affine(crops, scale=value)
    if transform == "translation":
        return affine(crops, shift_x=value)
    if transform == "brightness":
        return brightness(crops, value)
    raise ValueError(f"unknown transform {transform!r}; choose from {', '.join(TRANSFORMS)}")


def format_setting(transform: str, value: float) -> str:
    if transform == "rotation":
        return f"rotation {value:+g}°" if value else "rotation 0°"
    if transform == "scale":
        return f"scale x{value:.1f}"
    if transform == "translation":
        return f"translate x {value:+.2f}" if value else "translate x 0"
    return f"brightness {value:+.1f}" if value else "brightness 0"


# ----------------------------------------------------------------------------- sweeps


def transform_poses(poses: np.ndarray | None, transform: str, value: float) -> np.ndarray | None:
    """The normalised poses of crops under one setting: a rotation of the crop turns the pose with
    it; scale, shift and brightness leave a wrist-centred, scale-free pose unchanged."""
    if poses is None or transform != "rotation" or value == 0:
        return poses
    from signcaps.hands.landmarks import augment_pose

    angle = np.deg2rad(value)  # cv2.getRotationMatrix2D's convention: counter-clockwise on screen
    linear = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]], np.float32)
    rng = np.random.default_rng(0)  # unused: no tilt, no jitter
    return np.stack([augment_pose(p, rng, linear) for p in poses])


def sweep_crops(model: Any, crops: np.ndarray, labels: np.ndarray, crop_cfg: Any,
                sweeps: dict[str, Sequence[float]] | None = None, show_progress: bool = False,
                label: str = "robustness sweep", poses: np.ndarray | None = None) -> dict[str, list[dict]]:
    """Accuracy of `model` on `crops` under every setting: {transform: [{"value", "accuracy"}, ...]}.

    The identity settings are the untransformed crops, predicted exactly as the plain evaluation
    does (same batches), so they report the plain accuracy bit for bit; the other settings of a
    transform are predicted together in one pass (fewer, fuller batches).
    """
    import torch

    from signcaps.hands.preprocess import to_batch
    from signcaps.training.infer import predict_lengths
    from signcaps.util.progress import progress_bar

    sweeps = sweeps or {name: values for name, (values, _, _) in SWEEPS.items()}
    cpu = torch.device("cpu")
    labels = np.asarray(labels)
    def inputs(images: np.ndarray, pose: np.ndarray | None) -> dict[str, np.ndarray]:
        return {"image": images, **({} if pose is None else {"pose": pose})}

    plain = float((predict_lengths(model, inputs(to_batch(crops, crop_cfg), poses),
                                   cpu).argmax(1) == labels).mean()) if len(crops) else 0.0
    result: dict[str, list[dict]] = {}
    with progress_bar(label, len(sweeps), enabled=show_progress) as advance:
        for transform, values in sweeps.items():
            identity = SWEEPS[transform][1] if transform in SWEEPS else None
            changed = [float(v) for v in values if v != identity]
            accuracy = {identity: plain}
            if changed and len(crops):
                images = np.concatenate([to_batch(apply_transform(crops, transform, v), crop_cfg) for v in changed])
                moved = None if poses is None else \
                    np.concatenate([transform_poses(poses, transform, v) for v in changed])
                pred = predict_lengths(model, inputs(images, moved), cpu).argmax(1).reshape(len(changed), len(crops))
                accuracy.update({v: float((p == labels).mean()) for v, p in zip(changed, pred)})
            result[transform] = [{"value": float(v), "accuracy": accuracy.get(float(v), 0.0)} for v in values]
            advance(1)
    return result


def _sweep(checkpoint: str | Path, data: str | Path | None, split: str, hand_model: str | None,
           show_progress: bool) -> dict[str, Any]:
    from signcaps.training.evaluate import load_eval_crops

    model, recipe, crops, split, _ = load_eval_crops(checkpoint, data, split, hand_model, show_progress)
    poses = crops.poses(recipe.crop.mirror_left) if crops.points is not None else None
    curves = sweep_crops(model, crops.crops, crops.labels, recipe.crop, show_progress=show_progress,
                         label=f"robustness of {recipe.model.name}", poses=poses)
    return {**curves, "model": recipe.model.name, "checkpoint": str(checkpoint), "samples": len(crops),
            "data": str(data or recipe.data.root), "split": split}


def robustness_sweep(checkpoint: str | Path, data: str | Path | None, split: str, hand_model: str | None,
                     out_dir: str | Path | None, show_progress: bool = True) -> dict[str, Any]:
    """Sweep one checkpoint; writes robustness.json and robustness.png (4 panels) into `out_dir`
    (default: beside the checkpoint). Returns {transform: [{"value", "accuracy"}, ...], "model",
    "checkpoint", "samples", "data", "split", "json", "png"}."""
    from signcaps.models.checkpoint import require_checkpoint_file

    target = ensure_writable_dir(Path(out_dir) if out_dir else require_checkpoint_file(checkpoint).parent, "--out",
                                 inputs=[data])
    claim_files(target, SWEEP_OUTPUTS, "--out")
    result = _sweep(checkpoint, data, split, hand_model, show_progress)
    label = result["model"]
    result["png"] = str(plot_panels({label: result}, target / "robustness.png",
                                    f"{label}: {Path(result['data']).name} ({result['split']}, "
                                    f"{result['samples']} images)"))
    result["json"] = str(target / "robustness.json")
    atomic_write_json(result["json"], result)
    return result


def compare_checkpoints(checkpoints: Sequence[str | Path], data: str | Path | None = None, split: str = "auto",
                        hand_model: str | None = None, out_dir: str | Path | None = None,
                        show_progress: bool = True) -> dict[str, Any]:
    """Sweep several checkpoints; writes robustness-rotation.png (one line per model), robustness.png
    (4 panels) and robustness-compare.json into `out_dir` (default: the checkpoints' common folder)."""
    if not checkpoints:
        raise ValueError("no checkpoints to compare")
    from signcaps.models.checkpoint import require_checkpoint_file

    for checkpoint in checkpoints:
        require_checkpoint_file(checkpoint)
    target = ensure_writable_dir(Path(out_dir) if out_dir else common_folder(checkpoints), "--out",
                                 inputs=[data])  # before the sweeps
    claim_files(target, ("robustness-rotation.png", "robustness.png", "robustness-compare.json"), "--out")
    sweeps = [_sweep(c, data, split, hand_model, show_progress) for c in checkpoints]
    labels = model_labels([(s["model"], s["checkpoint"]) for s in sweeps])
    for label, sweep in zip(labels, sweeps):
        sweep["label"] = label
    by_label = dict(zip(labels, sweeps))
    from signcaps.util.report import plot_sweep

    rotation = plot_sweep({label: ([r["value"] for r in s["rotation"]], [r["accuracy"] for r in s["rotation"]])
                           for label, s in by_label.items()},
                          target / "robustness-rotation.png", SWEEPS["rotation"][2],
                          f"accuracy vs rotation ({', '.join(sorted({s['split'] for s in sweeps}))} split)")
    panels = plot_panels(by_label, target / "robustness.png", "robustness: " + " vs ".join(labels))
    result = {"models": sweeps, "rotation_png": str(rotation), "png": str(panels),
              "json": str(target / "robustness-compare.json")}
    atomic_write_json(result["json"], result)
    return result


def model_labels(models: Sequence[tuple[str, str]]) -> list[str]:
    """Legend names: the model name, qualified by the run folder (then the file) only where needed."""
    def qualified(level: int, name: str, path: str) -> str:
        p = Path(path)
        return [name, f"{name} ({p.parent.name})", f"{name} ({p.parent.name}/{p.name})"][level]

    labels = [name for name, _ in models]
    for level in (1, 2):
        labels = [qualified(level, name, path) if labels.count(label) > 1 else label
                  for label, (name, path) in zip(labels, models)]
    return [label if labels.count(label) == 1 else f"{label} #{i + 1}" for i, label in enumerate(labels)]


def common_folder(paths: Sequence[str | Path]) -> Path:
    parents = [str(Path(p).resolve().parent) for p in paths]
    return Path(os.path.commonpath(parents))


# ----------------------------------------------------------------------------- output


def plot_panels(results: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """2x2 figure, one panel per transform, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for ax, transform in zip(axes.flat, TRANSFORMS):
        _, identity, xlabel = SWEEPS[transform]
        for label, result in results.items():
            rows = result[transform]
            ax.plot([r["value"] for r in rows], [r["accuracy"] for r in rows], marker="o", label=label)
        ax.axvline(identity, color="grey", lw=0.8, ls="--")
        ax.set_title(transform)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    from signcaps.util.report import save_figure

    return save_figure(fig, path)


def setting_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Table rows: setting, then each result's accuracy for that setting (results swept alike)."""
    rows = []
    for transform in TRANSFORMS:
        for i, entry in enumerate(results[0][transform]):
            rows.append([format_setting(transform, entry["value"]),
                         *(f"{r[transform][i]['accuracy']:.2%}" for r in results)])
    return rows
