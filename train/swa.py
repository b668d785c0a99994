"""Weight averaging: the mean of several weight sets and the batch-norm statistics a mean needs.

Shared by `fer-train --swa-start` (stochastic weight averaging: a running mean over a run's own epochs,
at a held learning rate) and `fer-average` (the mean of several trained models, a "model soup").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge.contract import InputSpec, normalize
from edge.model_file import ModelInfo
from train.checkpoints import save_model
from train.data import FaceSet

log = logging.getLogger(__name__)


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


def update_batch_norm_on(model, faces: FaceSet, spec: InputSpec, seed: int = 0) -> int:
    """`update_batch_norm` over a FaceSet's images (shuffled, through the contract's normalization)."""
    order = np.random.default_rng(seed).permutation(len(faces))
    return update_batch_norm(model, normalize(faces.images[order].astype(np.float32), spec))


def with_swa(schedule, swa_start: int, swa_lr: float):
    """`schedule`, held at `swa_lr` from epoch `swa_start` (1-based; 0 = never)."""
    def held(epoch: int, lr: float | None = None) -> float:
        return swa_lr if swa_start and epoch + 1 >= swa_start else schedule(epoch, lr)
    return held


def averager(out: Path, state: dict[str, Any], info: ModelInfo, swa_start: int):
    """A callback that keeps the running mean of the weights at each epoch's end from `swa_start` on.

    The mean is saved as `swa_running.keras` and its count in the state, so `--resume` continues it.
    It runs before the checkpointer, which writes the state.
    """
    import keras

    class Averager(keras.callbacks.Callback):
        running: list | None = None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch + 1 < swa_start:
                return
            count = state.get("swa_count", 0)
            current = self.model.get_weights()
            if count and self.running is None:  # resumed
                self.running = keras.models.load_model(out / "swa_running.keras", compile=False).get_weights()
            self.running = current if not count else [(r * count + w) / (count + 1)
                                                      for r, w in zip(self.running, current)]
            self.model.set_weights(self.running)
            try:
                save_model(self.model, out / "swa_running.keras", info)
            finally:
                self.model.set_weights(current)
            state["swa_count"] = count + 1

    return Averager()


def finish_swa(model, out: Path, train_faces: FaceSet, spec: InputSpec, state: dict[str, Any],
               info: ModelInfo) -> None:
    """Load the weight average, recompute its batch-norm statistics on the training faces and save it as
    model.keras."""
    import keras

    model.set_weights(keras.models.load_model(out / "swa_running.keras", compile=False).get_weights())
    update_batch_norm_on(model, train_faces, spec)
    log.info("weight average of %d epochs becomes model.keras (best single epoch: val_accuracy %.4f at epoch %d)",
             state["swa_count"], state["best_val_accuracy"], state["best_epoch"])
    info.training["swa"] = {"epochs_averaged": state["swa_count"],
                            "from_epoch": state["epoch"] - state["swa_count"] + 1}
    save_model(model, out / "model.keras", info)
