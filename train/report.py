"""The training report: report.json, curves.png and confusion.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edge import __version__
from edge.contract import FER2013_LABELS
from edge.files import atomic_path, write_atomic
from train.data import FaceSet, Splits
from train.evaluate import evaluate_splits, predict_keras
from train.options import TrainOptions, options_dict


def _save_figure(figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight")


def plot_curves(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    _save_figure(figure, path)
    plt.close(figure)


def plot_confusion(result: dict[str, Any], path: Path) -> None:
    """The confusion matrix of one split, normalized per true class, with counts."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(result["per_class"])
    counts = np.array(result["confusion"])
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, f"{rates[i, j]:.2f}\n{n}", ha="center", va="center", fontsize=7,
                color="white" if rates[i, j] > 0.5 else "black")
    ax.set_title(f"{result['split']}: accuracy {result['accuracy']:.1%}")
    figure.colorbar(image, ax=ax, fraction=0.046)
    _save_figure(figure, path)
    plt.close(figure)


def write_report(model, options: TrainOptions, splits: Splits, faces: FaceSet, history: dict[str, list[float]],
                 state: dict[str, Any], *, seconds: float, interrupted: bool) -> dict[str, Any]:
    """Evaluate the best model on validation and every test split; write the report files."""
    spec = options.spec
    parts = {"validation": splits.val, **splits.tests}
    results = evaluate_splits(lambda part: predict_keras(model, part, spec), parts, FER2013_LABELS)
    report = {
        "version": __version__,
        "config": options_dict(options),
        "input": spec.to_dict(),
        "labels": list(FER2013_LABELS),
        "model": {"name": model.name, "parameters": int(model.count_params())},
        "data": {"train": splits.train.counts(), "validation": splits.val.counts(),
                 **{name: part.counts() for name, part in splits.tests.items()},
                 "skipped": len(faces.skipped), "skipped_first": faces.skipped[:5]},
        "best_epoch": state.get("best_epoch"),
        **({"swa": {"epochs_averaged": state["swa_count"], "best_single_epoch_val_accuracy":
                    state.get("best_val_accuracy"), "average_val_accuracy": results[0]["accuracy"]}}
           if state.get("swa_count") else {}),  # results[0] is validation, measured on the average
        "epochs_run": state.get("epoch"),
        "interrupted": interrupted,
        "seconds": round(seconds, 1),
        "history": history,
        "results": results,
    }
    out = Path(options.out)
    write_atomic(out / "report.json", json.dumps(report, indent=1))
    if history:
        plot_curves(history, out / "curves.png")
    plot_confusion(results[-1] if len(results) > 1 else results[0], out / "confusion.png")
    return report
