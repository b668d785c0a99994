"""Weight averaging: one model from several of the same architecture (a "model soup", or SWA snapshots)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def average_weights(models: list) -> list[np.ndarray]:
    """The element-wise mean of the models' weights; the models must share one architecture."""
    if not models:
        raise ValueError("no models to average")
    weights = [model.get_weights() for model in models]
    shapes = [w.shape for w in weights[0]]
    for model, w in zip(models[1:], weights[1:]):
        if [x.shape for x in w] != shapes:
            raise ValueError(f"{model.name} has another architecture than {models[0].name}: cannot average")
    return [np.mean([w[k] for w in weights], axis=0).astype(weights[0][k].dtype) for k in range(len(shapes))]


def update_batch_norm(model, inputs: np.ndarray, batch_size: int = 256) -> int:
    """Recompute every BatchNormalization layer's moving statistics as the mean over `inputs`.

    Averaged weights need statistics of their own: the averaged moving means and variances belong to
    none of the models. Dropout is switched off meanwhile, so the statistics are those of inference.
    Returns the number of batch-normalization layers updated.
    """
    import keras

    layers = list(model._flatten_layers(include_self=False))
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [layer.momentum for layer in norms], [layer.rate for layer in dropouts]
    for layer in dropouts:
        layer.rate = 0.0
    try:
        for step, start in enumerate(range(0, len(inputs), batch_size)):
            for layer in norms:  # moving = momentum * moving + (1 - momentum) * batch: a running mean
                layer.momentum = step / (step + 1)
            model(inputs[start:start + batch_size], training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
    return len(norms)


def update_batch_norm_on(model, faces, spec, seed: int = 0) -> int:
    """`update_batch_norm` over a FaceSet's images (shuffled, through the contract's normalization)."""
    from edge.contract import normalize

    order = np.random.default_rng(seed).permutation(len(faces))
    return update_batch_norm(model, normalize(faces.images[order].astype(np.float32), spec))


def average_models(paths: list[Path], data: Path, out: Path, seed: int = 1, val_fraction: float = 0.1) -> dict:
    """Average trained models' weights into `out/model.keras`, with batch-norm statistics recomputed on
    fer-train's training part of `data`; write `out/report.json` (validation and report splits)."""
    from dataclasses import replace

    from edge import __version__
    from edge.contract import FER2013_LABELS
    from train.data import holdout_description, load_fer2013
    from train.evaluate import evaluate_splits, predict_keras
    from train.fit import TrainOptions, atomic_save, atomic_write_text, make_splits
    from train.models import load_keras, load_keras_matching

    if len(paths) < 2:
        raise ValueError("give at least two models to average")
    first, info = load_keras(paths[0])
    models = [first] + [load_keras_matching(path, info.input) for path in paths[1:]]
    first.set_weights(average_weights(models))
    faces = load_fer2013(data, info.input)
    splits = make_splits(faces, TrainOptions(data=data, seed=seed, val_fraction=val_fraction))
    update_batch_norm_on(first, splits.train, info.input)
    results = evaluate_splits(lambda part: predict_keras(first, part, info.input),
                              {"validation": splits.val, **splits.tests}, FER2013_LABELS)
    out.mkdir(parents=True, exist_ok=True)
    sources = [str(path) for path in paths]
    atomic_save(first, out / "model.keras", replace(info, training={**info.training, "averaged": sources}))
    report = {"version": __version__, "averaged": sources, "input": info.input.to_dict(),
              "labels": list(FER2013_LABELS), "model": {"name": first.name, "parameters": int(first.count_params())},
              "data": str(data), "validation": holdout_description(val_fraction, seed),
              "results": results}
    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    """`fer-average MODEL MODEL [...] --data DATA --out DIR`: one model from the mean of several's weights."""

    from edge.help_format import command_parser
    from edge.model_file import ModelFileError
    from train.data import DataError
    from train.extra import command_failed
    from train.metrics import format_summary

    p = command_parser("fer-average", main.__doc__)
    p.add_argument("models", type=Path, nargs="+", help=".keras models of one architecture and input contract")
    p.add_argument("--data", type=Path, required=True, help="FER2013 as fer-train read it (batch-norm statistics "
                   "from its training part; validation and report splits evaluated)")
    p.add_argument("--out", type=Path, required=True, help="output folder: model.keras, report.json")
    p.add_argument("--seed", type=int, default=1, help="fer-train's --seed (the validation split)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="fer-train's --val-fraction")
    args = p.parse_args(argv)
    try:
        report = average_models(args.models, args.data, args.out, args.seed, args.val_fraction)
    except (ModelFileError, DataError, ValueError, OSError, ModuleNotFoundError) as exc:
        return command_failed("fer-average", exc)
    for result in report["results"]:
        print(format_summary(result))
    print(f"wrote {args.out}/model.keras and report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
