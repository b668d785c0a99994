"""Weight averaging: one model from several of the same architecture (a "model soup", or SWA snapshots)."""

from __future__ import annotations

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

    layers = [layer for layer in model._flatten_layers(include_self=False)]
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    saved = [(layer.momentum,) for layer in norms], [layer.rate for layer in dropouts]
    for layer in dropouts:
        layer.rate = 0.0
    try:
        for step, start in enumerate(range(0, len(inputs), batch_size)):
            for layer in norms:  # moving = momentum * moving + (1 - momentum) * batch: a running mean
                layer.momentum = step / (step + 1)
            model(inputs[start:start + batch_size], training=True)
    finally:
        for layer, (momentum,) in zip(norms, saved[0]):
            layer.momentum = momentum
        for layer, rate in zip(dropouts, saved[1]):
            layer.rate = rate
    return len(norms)
