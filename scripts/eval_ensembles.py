"""Validation and report-split accuracy of trained models and of their averages, plain and flip-averaged.

The validation split is fer-train's own (the seeded, stratified holdout of Training), so models can be
compared, and chosen, on it; the report split is printed beside it, never to choose.

  python scripts/eval_ensembles.py ../shared/data/fer2013 runs/a/model.keras runs/b/model.keras
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.model_file import ModelFileError  # noqa: E402
from train.data import DataError, load_fer2013  # noqa: E402
from train.evaluate import predict_keras  # noqa: E402
from train.fit import TrainOptions, make_splits  # noqa: E402
from train.models import flip_averaged, load_keras  # noqa: E402


def accuracy_table(data: Path, models: list[Path], report_split: str = "PublicTest", seed: int = 1,
                   val_fraction: float = 0.1) -> list[dict]:
    """One row per non-empty combination of `models`: accuracies of the mean probabilities."""
    loaded = [load_keras(path) for path in models]
    spec = loaded[0][1].input
    if any(info.input != spec for _, info in loaded):
        raise ValueError("the models have different input contracts")
    faces = load_fer2013(data, spec)
    splits = make_splits(faces, TrainOptions(data=data, seed=seed, val_fraction=val_fraction))
    parts = {"validation": splits.val, **({report_split: splits.tests[report_split]}
                                          if report_split in splits.tests else {})}
    variants = [{False: model, True: flip_averaged(model)} for model, _ in loaded]
    probabilities = {(i, name, flip): predict_keras(variant[flip], part, spec)
                     for i, variant in enumerate(variants) for name, part in parts.items() for flip in (False, True)}
    rows = []
    for size in range(1, len(models) + 1):
        for combo in itertools.combinations(range(len(models)), size):
            row = {"models": [str(models[i]) for i in combo]}
            for name, part in parts.items():
                for flip in (False, True):
                    mean = sum(probabilities[(i, name, flip)] for i in combo) / len(combo)
                    row[f"{name}{' flip' if flip else ''}"] = float((mean.argmax(1) == part.labels).mean())
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path, help="FER2013 as fer-train read it (Kaggle root or fer2013.csv)")
    p.add_argument("models", type=Path, nargs="+", help=".keras models trained with the same input contract")
    p.add_argument("--seed", type=int, default=1, help="fer-train's --seed (the validation split)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="fer-train's --val-fraction")
    args = p.parse_args(argv)
    try:
        rows = accuracy_table(args.data, args.models, seed=args.seed, val_fraction=args.val_fraction)
    except (ModelFileError, DataError, ValueError, OSError) as exc:
        print(f"eval_ensembles: error: {exc}", file=sys.stderr)
        return 2
    columns = [k for k in rows[0] if k != "models"]
    print("| models | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for row in rows:
        names = " + ".join(Path(m).parent.name or m for m in row["models"])
        print(f"| {names} | " + " | ".join(f"{100 * row[c]:.2f}%" for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
