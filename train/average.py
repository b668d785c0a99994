"""fer-average's library: one model from the mean of several trained models' weights (a "model soup")."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from edge import __version__
from edge.contract import FER2013_LABELS
from edge.files import write_atomic
from train.checkpoints import save_model
from train.data import holdout_description, load_fer2013, make_splits
from train.evaluate import evaluate_splits, predict_keras
from train.swa import average_weights, update_batch_norm_on


def average_models(paths: list[Path], data: Path, out: Path, seed: int = 1, val_fraction: float = 0.1) -> dict:
    """Average trained models' weights into `out/model.keras`, with batch-norm statistics recomputed on
    fer-train's training part of `data`; write `out/report.json` (validation and report splits)."""
    from train.models import load_keras, load_keras_matching

    if len(paths) < 2:
        raise ValueError("give at least two models to average")
    first, info = load_keras(paths[0])
    models = [first] + [load_keras_matching(path, info.input) for path in paths[1:]]
    first.set_weights(average_weights(models))
    faces = load_fer2013(data, info.input)
    splits = make_splits(faces, val_fraction, seed)
    update_batch_norm_on(first, splits.train, info.input)
    results = evaluate_splits(lambda part: predict_keras(first, part, info.input),
                              {"validation": splits.val, **splits.tests}, FER2013_LABELS)
    out.mkdir(parents=True, exist_ok=True)
    sources = [str(path) for path in paths]
    save_model(first, out / "model.keras", replace(info, training={**info.training, "averaged": sources}))
    report = {"version": __version__, "averaged": sources, "input": info.input.to_dict(),
              "labels": list(FER2013_LABELS), "model": {"name": first.name, "parameters": int(first.count_params())},
              "data": str(data), "validation": holdout_description(val_fraction, seed),
              "results": results}
    write_atomic(out / "report.json", json.dumps(report, indent=1))
    return report
