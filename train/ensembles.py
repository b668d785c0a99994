"""Validation and report-split accuracy of trained models (.keras, or .tflite files as the device runs
them) and of their averages, plain and flip-averaged.

With `--shifts`, each face is also classified moved by a few pixels (edge pixels repeated into the
gap) and the views' probabilities are averaged: test-time views measured on validation.

The validation split is fer-train's own (the seeded, stratified holdout of Training), so models can be
compared, and chosen, on it; the report split is printed beside it, never to choose. It measured the
two-model averages in models/EXPERIMENTS.md.

  python -m train.ensembles ../shared/data/fer2013 runs/a/model.keras runs/b/model.keras
  python -m train.ensembles ../shared/data/fer2013 runs/a/model.keras --shifts 0:0,0:1,0:-1
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np

from edge.classify import ModelOptions
from edge.help_format import command_parser
from edge.results import Box
from train.cli import AS_IS, add_split_flags, shifts_flag
from train.data import load_fer2013, make_splits
from train.evaluate import load_for_eval
from train.extra import COMMAND_ERRORS, command_failed

TOOL = "python -m train.ensembles"


Shift = tuple[int, int]


def shifted(images: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Faces (n, height, width[, channels]) moved dx pixels right and dy down; the edge pixels fill the gap
    (each face cropped by `Box.crop` at the moved place)."""
    if not (dx or dy) or not len(images):
        return images
    height, width = images.shape[1:3]
    window = Box(-dx, -dy, width, height)
    return np.stack([window.crop(face) for face in images])


def accuracy_table(data: Path, models: list[Path], report_split: str = "PublicTest", seed: int = 1,
                   val_fraction: float = 0.1, shifts: tuple[Shift, ...] = AS_IS) -> list[dict]:
    """One row per non-empty combination of `models` (.keras, or .tflite as the device runs them):
    accuracies of the mean probabilities, over the `shifts` views of each face."""
    loaded = [load_for_eval(ModelOptions(path=path)) for path in models]
    spec = loaded[0][0].input
    if any(info.input != spec for info, _ in loaded):
        raise ValueError("the models have different input contracts")
    faces = load_fer2013(data, spec)
    splits = make_splits(faces, val_fraction, seed)
    parts = {"validation": splits.val, **({report_split: splits.tests[report_split]}
                                          if report_split in splits.tests else {})}
    views = {name: [dataclasses.replace(part, images=shifted(part.images, dx, dy)) for dx, dy in shifts]
             for name, part in parts.items()}
    probabilities = {(i, name, flip): np.mean([probabilities_of(view, flip) for view in views[name]], axis=0)
                     for i, (_, probabilities_of) in enumerate(loaded) for name in parts for flip in (False, True)}
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


def format_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, each model named by its run folder."""
    columns = [k for k in rows[0] if k != "models"]
    lines = ["| models | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        names = " + ".join(Path(m).parent.name or m for m in row["models"])
        lines.append(f"| {names} | " + " | ".join(f"{100 * row[c]:.2f}%" for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Accuracy of models and of the averages of their predictions on fer-train's validation split."""
    p = command_parser(TOOL, __doc__)
    p.add_argument("data", type=Path, help="FER2013 as fer-train read it (Kaggle root or fer2013.csv)")
    p.add_argument("models", type=Path, nargs="+", help=".keras or .tflite models with the same input contract")
    p.add_argument("--shifts", type=shifts_flag, default=AS_IS, metavar="DX:DY,...",
                   help="views of each face, moved DX pixels right and DY down, probabilities averaged "
                        "(default: 0:0, the face as it is; write --shifts=-1:0,... when the first is negative)")
    add_split_flags(p)
    args = p.parse_args(argv)
    try:
        rows = accuracy_table(args.data, args.models, seed=args.seed, val_fraction=args.val_fraction,
                              shifts=args.shifts)
    except COMMAND_ERRORS as exc:
        return command_failed(TOOL, exc)
    if args.shifts != AS_IS:
        print(f"views: each face at shifts {', '.join(f'{dx}:{dy}' for dx, dy in args.shifts)}"
              " (and the mirror image of each in the flip columns)")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
