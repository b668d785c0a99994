"""Classification metrics from labels and predictions, in plain NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Rows are the true class, columns the predicted one."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def summarize(truth: np.ndarray, probabilities: np.ndarray, labels: tuple[str, ...] | list[str],
              split: str) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix of one split."""
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(truth, predicted, len(labels))
    true_positive = np.diag(matrix).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(true_positive / matrix.sum(axis=0))
        recall = np.nan_to_num(true_positive / matrix.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    per_class = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(matrix[i].sum())}
        for i, label in enumerate(labels)
    }
    present = matrix.sum(axis=1) > 0
    return {
        "split": split,
        "n": int(len(truth)),
        "accuracy": float((predicted == truth).mean()) if len(truth) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }


def format_summary(result: dict[str, Any]) -> str:
    """A terminal table of one split's metrics."""
    labels = list(result["per_class"])
    lines = [f"{result['split']}: n={result['n']}  accuracy={result['accuracy']:.2%}  "
             f"macro-F1={result['macro_f1']:.3f}",
             f"  {'class':<9} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>6}"]
    for label, m in result["per_class"].items():
        lines.append(f"  {label:<9} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['support']:>6}")
    lines.append("  confusion (rows true, columns predicted):")
    lines.append(f"  {'':<9} " + " ".join(f"{label[:4]:>5}" for label in labels))
    for label, row in zip(labels, result["confusion"]):
        lines.append(f"  {label:<9} " + " ".join(f"{v:>5}" for v in row))
    return "\n".join(lines)
