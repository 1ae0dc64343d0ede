"""Classification metrics on plain numpy arrays (shared by train, eval, export and bench)."""
from __future__ import annotations

import numpy as np


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(targets, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def classification_report(targets: np.ndarray, predictions: np.ndarray, classes: list[str]) -> dict:
    """Accuracy plus per-class precision/recall/F1/support and the confusion matrix."""
    matrix = confusion_matrix(targets, predictions, len(classes))
    true_pos = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros_like(true_pos), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    total = int(matrix.sum())
    return {
        "accuracy": float(true_pos.sum() / total) if total else 0.0,
        "samples": total,
        "per_class": [
            {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, precision, recall, f1, actual)
        ],
        "confusion": matrix.tolist(),
        "classes": list(classes),
    }


def wilson_upper(accuracy: float, count: int, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval (95% for z = 1.96) of a proportion seen in `count` trials."""
    if count <= 0:
        return 1.0
    denom = 1.0 + z * z / count
    centre = accuracy + z * z / (2 * count)
    margin = z * np.sqrt(accuracy * (1 - accuracy) / count + z * z / (4 * count * count))
    return float((centre + margin) / denom)
