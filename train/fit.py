"""fer-train's run: data, targets, model, schedule and callbacks put together; the report at the end.

The rooms it draws on: `train.options` (what a run is asked to do), `train.data` (loading and the split),
`train.augment` (the training stream), `train.checkpoints` (saving, resuming, lineage), `train.swa`
(weight averaging) and `train.report` (report.json and the figures).
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from typing import Any

import numpy as np

from edge.contract import FER2013_LABELS, InputSpec
from edge.errors import FerEdgeError
from edge.model_file import ModelInfo
from train.augment import make_dataset
from train.checkpoints import checkpointer, epochs_before, lineage, saved_run
from train.data import Splits, load_fer2013, make_splits
from train.distill import mix_targets, teacher_batches, teacher_probabilities
from train.ferplus import soft_targets, vote_distributions
from train.options import TrainOptions
from train.report import write_report
from train.swa import averager, finish_swa, with_swa

log = logging.getLogger(__name__)


class TrainingStopped(FerEdgeError, RuntimeError):
    """Training ended (interrupted, or failed) before its first epoch had saved a model."""


def class_weights(labels: np.ndarray, mode: str, classes: int) -> np.ndarray:
    """Per-class loss weights with mean 1 over the samples."""
    counts = np.maximum(np.bincount(labels, minlength=classes), 1).astype(float)
    weights = {"none": np.ones(classes), "sqrt": counts ** -0.5, "balanced": 1.0 / counts}[mode]
    return weights / (weights[labels].mean())


def training_targets(options: TrainOptions, splits: Splits, spec: InputSpec) -> np.ndarray:
    """What each training face is fitted to: its one-hot label, mixed with its FER+ votes and the
    teachers' probabilities (computed once, before training) when the options ask for them."""
    targets = np.eye(len(FER2013_LABELS), dtype=np.float32)[splits.train.labels]
    if options.ferplus is not None:
        shares = vote_distributions(options.ferplus, splits.train.names)
        log.info("FER+ votes for %d of %d training faces, weight %.2f", int((shares.sum(1) > 0).sum()),
                 len(shares), options.ferplus_weight)
        targets = soft_targets(splits.train.labels, shares, options.ferplus_weight)
    if options.teachers and not options.teacher_online:
        teacher = teacher_probabilities(list(options.teachers), splits.train, spec)
        log.info("teachers (%d) agree with the training labels on %.1f%% of faces, weight %.2f",
                 len(options.teachers), 100 * float((teacher.argmax(1) == splits.train.labels).mean()),
                 options.teacher_weight)
        targets = mix_targets(targets, teacher, options.teacher_weight)
    return targets


def training_stream(options: TrainOptions, splits: Splits, spec: InputSpec, seed: int):
    """What training fits, batch by batch: the training faces in a seeded order, augmented as the options
    say, with their targets (mixed with the teachers', once or on every batch) and class weights."""
    weights = class_weights(splits.train.labels, options.class_weighting, len(FER2013_LABELS))
    targets = training_targets(options, splits, spec)
    data = make_dataset(splits.train, spec, options.batch_size, training=True, seed=seed, weights=weights,
                        targets=targets, augment=options.augment)
    if options.teacher_online:
        data = teacher_batches(data, list(options.teachers), spec, options.teacher_weight,
                               steps=len(splits.train) // options.batch_size)
        log.info("teachers (%d) run on every training batch, weight %.2f", len(options.teachers),
                 options.teacher_weight)
    return data


def build_strategy(name: str, backend: str = "tensorflow"):
    """The tf.distribute strategy for `name` on Keras' TensorFlow backend; None on another backend, where
    only the default (one device) can run: anything else is refused, not ignored."""
    if backend != "tensorflow":
        if name != "default":
            raise ValueError(f"--strategy {name} is a tf.distribute strategy: it needs Keras' TensorFlow backend "
                             f"(KERAS_BACKEND is {backend})")
        return None
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def cosine_with_warmup(peak: float, epochs: int, warmup: int):
    """Learning rate per epoch: linear warm-up to `peak`, then cosine decay to 1% of it."""
    def schedule(epoch: int, _lr: float | None = None) -> float:
        if epoch < warmup:
            return peak * (epoch + 1) / (warmup + 1)
        progress = (epoch - warmup) / max(1, epochs - warmup)
        return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
    return schedule


def compile_model(model, learning_rate: float, options: TrainOptions) -> None:
    """SGD with Nesterov momentum from `learning_rate`, label-smoothed cross-entropy, accuracy."""
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=options.label_smoothing),
        metrics=["accuracy"],
    )


def starting_model(options: TrainOptions, spec: InputSpec, saved: dict[str, Any] | None):
    """The model a run starts from: its last checkpoint (resumed), a trained model's weights (`init`), or
    new weights."""
    import keras

    from train import models

    if saved:
        log.info("resuming after epoch %d", saved["state"]["epoch"])
        return keras.models.load_model(options.out / "last.keras")
    if options.init is not None:
        log.info("starting from the weights of %s", options.init)
        return models.load_keras_matching(options.init, spec)
    return models.build(options.arch, spec, len(FER2013_LABELS), filters=options.filters, alpha=options.alpha,
                        weights=options.weights, weight_decay=options.weight_decay)


def phases(options: TrainOptions) -> list[tuple[int, int, float, bool]]:
    """(first epoch, end epoch, learning-rate factor, base trainable) of each phase: mobilenetv2 first trains
    its head on a frozen base, then everything at a tenth of the learning rate."""
    if options.arch == "mobilenetv2" and options.freeze_epochs > 0:
        return [(0, options.freeze_epochs, 1.0, False), (options.freeze_epochs, options.epochs, 0.1, True)]
    return [(0, options.epochs, 1.0, True)]


def train(options: TrainOptions) -> dict[str, Any]:
    """Run one training; returns the report (also written to `out/report.json`)."""
    import keras

    strategy = build_strategy(options.strategy, keras.backend.backend())
    keras.utils.set_random_seed(options.seed)
    spec = options.spec
    started = time.time()
    faces = load_fer2013(options.data, spec)
    splits = make_splits(faces, options.val_fraction, options.seed, options.limit)
    options.out.mkdir(parents=True, exist_ok=True)  # only once the data is known to be good
    log.info("data: %d train, %d validation, tests %s; %d skipped", len(splits.train), len(splits.val),
             {k: len(v) for k, v in splits.tests.items()}, len(faces.skipped))
    saved = saved_run(options)
    training = lineage(options, saved)
    # The training stream (order and augmentation) is a function of its seed, so it is seeded with the
    # epochs the weights have already seen (a resumed run's, a warm start's starting model's): the same
    # seed would replay the first epochs' batches, not continue.
    stream_seed = options.seed + epochs_before(training) + (saved["state"]["epoch"] if saved else 0)
    train_data = training_stream(options, splits, spec, stream_seed)
    val_data = make_dataset(splits.val, spec, 256, training=False, seed=options.seed)

    history: dict[str, list[float]] = {}
    state: dict[str, Any] = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0}
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")

    def scope():
        return strategy.scope() if strategy is not None else nullcontext()

    if saved:
        state, history = saved["state"], saved["history"]
    with scope():
        model = starting_model(options, spec, saved)
    frozen = options.arch == "mobilenetv2" and options.freeze_epochs > 0
    info = ModelInfo(labels=list(FER2013_LABELS), input=spec, variant="keras", architecture=model.name,
                     training=training)
    callbacks_common = [checkpointer(options.out, history, state, info)]
    if options.swa_start:
        callbacks_common.insert(0, averager(options.out, state, info, options.swa_start))
    else:
        callbacks_common.append(keras.callbacks.EarlyStopping("val_accuracy", patience=options.patience, mode="max"))
    interrupted = False
    try:
        for start, end, lr_factor, base_trainable in phases(options):
            begin = max(start, state["epoch"])
            if begin >= end:
                continue
            if frozen:
                model.get_layer("base").trainable = base_trainable
            peak = options.learning_rate * lr_factor
            schedule = cosine_with_warmup(peak, end - start, min(options.warmup_epochs, end - start - 1))
            shifted = with_swa((lambda s, offset: lambda epoch, lr=None: s(epoch - offset))(schedule, start),
                               options.swa_start, options.swa_lr)
            if not (options.resume and begin == state["epoch"] and begin > start):
                with scope():
                    compile_model(model, peak, options)
            model.fit(train_data, validation_data=val_data, initial_epoch=begin, epochs=end, verbose=2,
                      shuffle=False,  # the tf.data stream shuffles itself (make_dataset); Keras warned it ignores this
                      callbacks=[keras.callbacks.LearningRateScheduler(shifted), *callbacks_common])
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: keeping the best model so far (epoch %d)", state["best_epoch"])
    if not (options.out / "model.keras").is_file():
        raise TrainingStopped("training stopped before the first epoch ended: no model saved")
    if state.get("swa_count"):
        finish_swa(model, options.out, splits.train, spec, state, info)
    best = keras.models.load_model(options.out / "model.keras")
    return write_report(best, options, splits, faces, history, state,
                        seconds=time.time() - started, interrupted=interrupted)


