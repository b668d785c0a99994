"""Would per-class decision offsets, fitted on validation, raise a model's accuracy?

The label becomes argmax(log p + b), with one offset b per class (the same as adding b to the final
layer's bias, so it would cost nothing at run time). The offsets are fitted by coordinate search for
validation accuracy on random halves of fer-train's validation split and scored on the other halves,
which says whether the gain is real or fitted noise; then fitted on the whole split and applied to the
report split, printed beside it, never to choose.

  python scripts/class_offsets.py ../shared/data/fer2013 models/fer_compact_float32.tflite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.classify import ModelOptions  # noqa: E402
from edge.model_file import ModelFileError  # noqa: E402
from train.data import DataError, load_fer2013  # noqa: E402
from train.evaluate import load_for_eval  # noqa: E402
from train.fit import TrainOptions, make_splits  # noqa: E402

GRID = np.linspace(-1.5, 1.5, 31)


def accuracy(log_probs: np.ndarray, labels: np.ndarray, offsets: np.ndarray) -> float:
    return float(np.mean(np.argmax(log_probs + offsets, axis=1) == labels))


def fit_offsets(log_probs: np.ndarray, labels: np.ndarray, sweeps: int = 3) -> np.ndarray:
    """Per-class offsets maximizing accuracy, one class at a time over `GRID` (ties: the middle one)."""
    offsets = np.zeros(log_probs.shape[1])
    for _ in range(sweeps):
        for c in range(len(offsets)):
            scores = []
            for value in GRID:
                offsets[c] = value
                scores.append(accuracy(log_probs, labels, offsets))
            best = np.flatnonzero(np.asarray(scores) >= max(scores) - 1e-12)
            offsets[c] = GRID[best[len(best) // 2]]
    return offsets - offsets.mean()


def held_out_gains(log_probs: np.ndarray, labels: np.ndarray, rounds: int = 20, seed: int = 0) -> np.ndarray:
    """Accuracy gain of offsets fitted on a random half, measured on the other half, per round."""
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(rounds):
        half = rng.random(len(labels)) < 0.5
        offsets = fit_offsets(log_probs[half], labels[half])
        rest = ~half
        gains.append(accuracy(log_probs[rest], labels[rest], offsets)
                     - accuracy(log_probs[rest], labels[rest], np.zeros_like(offsets)))
    return np.asarray(gains)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path, help="FER2013 as fer-train read it (Kaggle root or fer2013.csv)")
    p.add_argument("model", type=Path, help="a .keras or .tflite model")
    p.add_argument("--seed", type=int, default=1, help="fer-train's --seed (the validation split)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="fer-train's --val-fraction")
    p.add_argument("--rounds", type=int, default=20, help="random halvings of the validation split")
    args = p.parse_args(argv)
    try:
        info, probabilities_of = load_for_eval(ModelOptions(path=args.model))
        splits = make_splits(load_fer2013(args.data, info.input),
                             TrainOptions(data=args.data, seed=args.seed, val_fraction=args.val_fraction))
    except (ModelFileError, DataError, ValueError, OSError) as exc:
        print(f"class_offsets: error: {exc}", file=sys.stderr)
        return 2
    def log_probabilities(part) -> np.ndarray:
        return np.log(probabilities_of(part) + 1e-6)  # int8 outputs can be exactly 0

    val_log = log_probabilities(splits.val)
    gains = held_out_gains(val_log, splits.val.labels, args.rounds)
    print(f"held-out gain on validation halves ({args.rounds} rounds): "
          f"{100 * gains.mean():+.2f} points (sd {100 * gains.std():.2f})")
    offsets = fit_offsets(val_log, splits.val.labels)
    print("offsets fitted on all of validation: "
          + ", ".join(f"{label} {value:+.2f}" for label, value in zip(info.labels, offsets)))
    zero = np.zeros_like(offsets)
    print(f"validation (in-sample): {100 * accuracy(val_log, splits.val.labels, zero):.2f}% -> "
          f"{100 * accuracy(val_log, splits.val.labels, offsets):.2f}%")
    for name, part in splits.tests.items():
        log_probs = log_probabilities(part)
        print(f"{name}: {100 * accuracy(log_probs, part.labels, zero):.2f}% -> "
              f"{100 * accuracy(log_probs, part.labels, offsets):.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
