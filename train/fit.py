"""Fit a model on FER2013: seeded stratified validation, augmentation, schedule, checkpoints."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.contract import FER2013_LABELS, InputSpec, normalize
from edge.model_file import ModelInfo, embed_in_keras, read_info
from train.architectures import check_architecture, input_spec_for
from train.data import FaceSet, holdout_description, load_fer2013, stratified_holdout
from train.distill import mix_targets, teacher_batches, teacher_probabilities
from train.ferplus import soft_targets, vote_distributions

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")
CLASS_WEIGHTING = ("none", "sqrt", "balanced")


@dataclass(frozen=True)
class TrainOptions:
    """Everything one training run needs; saved in report.json."""

    data: Path
    """A Kaggle FER2013 root (train/, test/), a folder of class folders, or fer2013.csv."""
    out: Path = Path("runs/fer")
    """Output folder: model.keras, report.json, curves.png, confusion.png."""
    arch: str = "compact"
    """compact (48x48 gray edge CNN), vgg (the heavier 48x48 VGG-style CNN) or mobilenetv2 (ImageNet transfer)."""
    epochs: int = 34
    """Training epochs in all (for mobilenetv2 including the frozen-base epochs)."""
    batch_size: int = 128
    """Images per step."""
    learning_rate: float = 0.1
    """Peak learning rate (SGD with Nesterov momentum), reached after warm-up, then cosine decay."""
    warmup_epochs: int = 2
    """Epochs of linear learning-rate warm-up."""
    weight_decay: float = 1e-4
    """L2 penalty on conv and dense kernels (compact, vgg)."""
    label_smoothing: float = 0.1
    """Label smoothing of the cross-entropy."""
    class_weighting: str = "sqrt"
    """none, sqrt (inverse square-root frequency) or balanced (inverse frequency)."""
    ferplus: Path | None = None
    """A FER+ folder (fer2013new.csv, kaggle_to_fer2013_row.csv): train on FER2013 labels mixed with FER+ votes."""
    ferplus_weight: float = 0.5
    """With `ferplus`: the share of the FER+ vote distribution in each training target (0..1)."""
    teachers: tuple[Path, ...] = ()
    """Trained `.keras` models whose mean probabilities are mixed into the training targets (distillation)."""
    teacher_weight: float = 0.5
    """With `teachers`: the share of the teachers' probabilities in each training target (0..1)."""
    teacher_online: bool = False
    """With `teachers`: run them on each augmented training batch instead of once on the plain faces."""
    val_fraction: float = 0.1
    """Seeded, stratified share of the training split held out to pick the best epoch."""
    patience: int = 12
    """Stop after this many epochs without a better validation accuracy; the best epoch is kept."""
    erasing: float = 0.0
    """Random erasing: the share of training faces that get one random rectangle replaced by noise."""
    mixup: float = 0.0
    """Mixup: blend training faces and their targets in pairs, Beta(mixup, mixup) (0 = off; 0.2 is usual)."""
    cutmix: float = 0.0
    """CutMix: the share of training faces that get a square from another face of the batch pasted in
    (up to half the face; target and loss weight mixed by area). 0 = off. Not together with mixup."""
    swa_start: int = 0
    """Stochastic weight averaging: from this epoch (1-based) on, the learning rate stays at `swa_lr` and
    the weights at each epoch's end are averaged; the average, with batch-norm statistics recomputed on
    the training faces, becomes model.keras. 0 = off. Early stopping is off with it."""
    swa_lr: float = 0.01
    """With `swa_start`: the constant learning rate of the averaging epochs."""
    seed: int = 1
    """Seeds the split, the shuffling, the augmentation and the weights."""
    filters: int | None = None
    """compact, vgg: filters of the first stage (default 16 for compact, 24 for vgg)."""
    alpha: float = 0.35
    """mobilenetv2: width multiplier."""
    size: int | None = None
    """Input side in pixels (default 48 for compact, 96 for mobilenetv2)."""
    weights: str | None = "imagenet"
    """mobilenetv2: imagenet, a weights file path, or none."""
    freeze_epochs: int = 5
    """mobilenetv2: epochs with the base frozen before fine-tuning at a tenth of the learning rate."""
    strategy: str = "default"
    """tf.distribute strategy: default (one device), mirrored (all local GPUs), multiworker (TF_CONFIG)."""
    mixed_precision: bool = False
    """Compute in float16 (GPU only); the output layer stays float32."""
    resume: bool = False
    """Continue from the last checkpoint in `out`."""
    init: Path | None = None
    """Start from this trained `.keras` model's weights (same input) with a fresh schedule: a warm restart."""
    limit: int | None = None
    """Use at most this many training images (smoke tests)."""

    def __post_init__(self) -> None:
        check_architecture(self.arch)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r} (choose from {', '.join(STRATEGIES)})")
        if self.class_weighting not in CLASS_WEIGHTING:
            raise ValueError(f"unknown class weighting {self.class_weighting!r}")
        for name in ("epochs", "batch_size", "filters"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        for name in ("ferplus_weight", "teacher_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if not 0.0 <= self.erasing <= 1.0 or not 0.0 <= self.cutmix <= 1.0 or self.mixup < 0:
            raise ValueError(f"erasing and cutmix must be between 0 and 1 and mixup at least 0, "
                             f"got {self.erasing}, {self.cutmix}, {self.mixup}")
        if self.mixup and self.cutmix:
            raise ValueError("choose mixup or cutmix, not both")
        if self.teacher_online and not self.teachers:
            raise ValueError("teacher_online needs teachers")
        if self.learning_rate <= 0 or self.swa_lr <= 0:
            raise ValueError(f"learning rates must be positive, got {self.learning_rate} and {self.swa_lr}")
        if not 0 <= self.swa_start <= self.epochs:
            raise ValueError(f"swa_start must be between 0 (off) and epochs ({self.epochs}), got {self.swa_start}")

    @property
    def spec(self) -> InputSpec:
        return input_spec_for(self.arch, self.size)


@dataclass
class Splits:
    """The three roles: fit on train, pick epochs on val, report on each test split."""

    train: FaceSet
    val: FaceSet
    tests: dict[str, FaceSet] = field(default_factory=dict)


def make_splits(faces: FaceSet, options: TrainOptions) -> Splits:
    """Hold out a stratified part of the training split; every other split is a report split."""
    training = faces.split("Training")
    if len(training) == 0:
        raise ValueError("the data has no Training split (expected train/ or Usage=Training rows)")
    held_out = stratified_holdout(training.labels, options.val_fraction, options.seed)
    train = training.subset(~held_out)
    if options.limit:
        keep = np.random.default_rng(options.seed).permutation(len(train))[:options.limit]
        train = train.subset(np.sort(keep))
    tests = {name: faces.split(name) for name in sorted(set(faces.splits.tolist()) - {"Training"})}
    return Splits(train=train, val=training.subset(held_out), tests=tests)


def class_weights(labels: np.ndarray, mode: str, classes: int) -> np.ndarray:
    """Per-class loss weights with mean 1 over the samples."""
    counts = np.maximum(np.bincount(labels, minlength=classes), 1).astype(float)
    weights = {"none": np.ones(classes), "sqrt": counts ** -0.5, "balanced": 1.0 / counts}[mode]
    return weights / (weights[labels].mean())


@dataclass(frozen=True)
class Augmentation:
    """Random geometry and photometry applied to training faces (on 0..255 pixels)."""

    flip: bool = True
    """Mirror half the faces left-right."""
    rotation: float = 10.0
    """Largest rotation, degrees."""
    shift: float = 0.1
    """Largest shift, as a share of the side."""
    zoom: float = 0.1
    """Largest zoom in or out, as a share."""
    brightness: float = 0.15
    """Largest brightness change, as a share of 255."""
    contrast: float = 0.2
    """Largest contrast change, as a share."""
    erasing: float = 0.0
    """Random erasing: the share of faces that get one rectangle (2-25% of the area) replaced by noise."""


def augment_batch(pixels, augmentation: Augmentation):
    """Augment a float batch (n, h, w, c) of 0..255 pixels with one affine warp per image (TensorFlow ops)."""
    import tensorflow as tf

    a = augmentation
    n = tf.shape(pixels)[0]
    height, width = tf.cast(tf.shape(pixels)[1], tf.float32), tf.cast(tf.shape(pixels)[2], tf.float32)
    angle = tf.random.uniform([n], -a.rotation, a.rotation) * (math.pi / 180.0)
    scale = 1.0 + tf.random.uniform([n], -a.zoom, a.zoom)
    mirror = tf.where(tf.random.uniform([n]) < 0.5, -1.0, 1.0) if a.flip else tf.ones([n])
    dx = tf.random.uniform([n], -a.shift, a.shift) * width
    dy = tf.random.uniform([n], -a.shift, a.shift) * height
    # The inverse map (output -> input pixel) about the image centre, as ImageProjectiveTransformV3 wants.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a0, a1 = cos * mirror, -sin
    b0, b1 = sin * mirror, cos
    transforms = tf.stack([a0, a1, cx - a0 * cx - a1 * cy + dx, b0, b1, cy - b0 * cx - b1 * cy + dy,
                           tf.zeros([n]), tf.zeros([n])], axis=1)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=pixels, transforms=transforms, output_shape=tf.shape(pixels)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST")
    mean = tf.reduce_mean(warped, axis=[1, 2, 3], keepdims=True)
    contrast = 1.0 + tf.random.uniform([n, 1, 1, 1], -a.contrast, a.contrast)
    brightness = tf.random.uniform([n, 1, 1, 1], -a.brightness, a.brightness) * 255.0
    pixels = tf.clip_by_value((warped - mean) * contrast + mean + brightness, 0.0, 255.0)
    return erase_rectangles(pixels, a.erasing) if a.erasing > 0 else pixels


def rectangle_masks(height, width, top, left, box_height, box_width):
    """[n, height, width] booleans, true inside each face's rectangle (all arguments in one dtype)."""
    import tensorflow as tf

    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    return ((rows >= top[:, None, None]) & (rows < (top + box_height)[:, None, None])
            & (cols >= left[:, None, None]) & (cols < (left + box_width)[:, None, None]))


def blend_pairs(x, partner, own_share):
    """Each row of `x` mixed with row `partner` of it: `own_share` of itself, the rest of its partner."""
    import tensorflow as tf

    s = tf.reshape(own_share, [-1] + [1] * (len(x.shape) - 1))
    return s * x + (1 - s) * tf.gather(x, partner)


def erase_rectangles(pixels, share: float):
    """Replace one random rectangle (2-25% of the area, aspect 0.3-3.3) by uniform noise in `share` of the faces."""
    import tensorflow as tf

    n = tf.shape(pixels)[0]
    height, width = tf.cast(tf.shape(pixels)[1], tf.float32), tf.cast(tf.shape(pixels)[2], tf.float32)
    area = tf.random.uniform([n], 0.02, 0.25) * height * width
    aspect = tf.exp(tf.random.uniform([n], math.log(0.3), math.log(1 / 0.3)))
    h = tf.minimum(tf.sqrt(area * aspect), height)
    w = tf.minimum(tf.sqrt(area / aspect), width)
    top = tf.random.uniform([n]) * (height - h)
    left = tf.random.uniform([n]) * (width - w)
    inside = rectangle_masks(height, width, top, left, h, w)
    chosen = tf.random.uniform([n, 1, 1]) < share
    mask = tf.cast(inside & chosen, pixels.dtype)[..., None]
    noise = tf.random.uniform(tf.shape(pixels), 0.0, 255.0)
    return pixels * (1 - mask) + noise * mask


def mix_pairs(pixels, targets, weights, alpha: float):
    """Mixup: each face (its target and loss weight too) blended with another face of the batch.

    The blend factor is drawn from Beta(alpha, alpha) per face and folded to at least 0.5, so each
    face stays the larger part of its own mix.
    """
    import tensorflow as tf

    n = tf.shape(pixels)[0]
    first, second = tf.random.gamma([n], alpha), tf.random.gamma([n], alpha)
    share = first / (first + second)
    share = tf.maximum(share, 1 - share)
    partner = tf.random.shuffle(tf.range(n))
    return (blend_pairs(pixels, partner, share), blend_pairs(targets, partner, share),
            None if weights is None else blend_pairs(weights, partner, share))


def cut_pairs(pixels, targets, weights, share: float):
    """CutMix: in `share` of the faces, a square from another face of the batch (same place) is pasted in.

    The square covers a uniform 0-50% of the face, so each face stays the larger part of its own mix;
    its target and loss weight are mixed by the pasted area.
    """
    import tensorflow as tf

    n = tf.shape(pixels)[0]
    height, width = tf.shape(pixels)[1], tf.shape(pixels)[2]
    cut = tf.where(tf.random.uniform([n]) < share, tf.random.uniform([n], 0.0, 0.5), 0.0)
    side_h = tf.cast(tf.round(tf.sqrt(cut) * tf.cast(height, tf.float32)), tf.int32)
    side_w = tf.cast(tf.round(tf.sqrt(cut) * tf.cast(width, tf.float32)), tf.int32)
    top = tf.cast(tf.random.uniform([n]) * tf.cast(height - side_h + 1, tf.float32), tf.int32)
    left = tf.cast(tf.random.uniform([n]) * tf.cast(width - side_w + 1, tf.float32), tf.int32)
    mask = tf.cast(rectangle_masks(height, width, top, left, side_h, side_w), pixels.dtype)[..., None]
    partner = tf.random.shuffle(tf.range(n))
    kept = 1 - tf.reduce_mean(mask, axis=[1, 2, 3])  # the share of its own face, after rounding
    mixed = pixels * (1 - mask) + tf.gather(pixels, partner) * mask
    return (mixed, blend_pairs(targets, partner, kept),
            None if weights is None else blend_pairs(weights, partner, kept))


def make_dataset(faces: FaceSet, spec: InputSpec, batch_size: int, *, training: bool, seed: int,
                 weights: np.ndarray | None = None, targets: np.ndarray | None = None,
                 augmentation: Augmentation = Augmentation(), mixup: float = 0.0, cutmix: float = 0.0):
    """A tf.data pipeline: uint8 pixels -> (augment) -> the contract's normalize -> batches.

    `targets` are per-face class distributions (soft labels); by default the one-hot labels.
    `mixup` > 0 blends training faces in pairs (the Beta distribution's alpha; see `mix_pairs`);
    `cutmix` > 0 pastes squares between them in that share of the faces (see `cut_pairs`).
    """
    import tensorflow as tf

    if targets is None:
        targets = np.eye(len(FER2013_LABELS), dtype=np.float32)[faces.labels]
    parts: tuple = (faces.images, targets)
    if weights is not None:
        parts += (weights[faces.labels].astype(np.float32),)
    data = tf.data.Dataset.from_tensor_slices(parts)
    if training:
        data = data.shuffle(len(faces), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size, drop_remainder=training)
    if training:
        tf.random.set_seed(seed)

    def prepare(images, batch_targets, *rest):
        pixels = tf.cast(images, tf.float32)
        if training:
            pixels = augment_batch(pixels, augmentation)
        pixels = normalize(pixels, spec)
        if training and mixup > 0:
            pixels, batch_targets, weight = mix_pairs(pixels, batch_targets, rest[0] if rest else None, mixup)
            rest = () if weight is None else (weight,)
        if training and cutmix > 0:
            pixels, batch_targets, weight = cut_pairs(pixels, batch_targets, rest[0] if rest else None, cutmix)
            rest = () if weight is None else (weight,)
        return (pixels, batch_targets, *rest)

    return data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


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


def with_swa(schedule, swa_start: int, swa_lr: float):
    """`schedule`, held at `swa_lr` from epoch `swa_start` (1-based; 0 = never)."""
    def held(epoch: int, lr: float | None = None) -> float:
        return swa_lr if swa_start and epoch + 1 >= swa_start else schedule(epoch, lr)
    return held


def atomic_save(model, path: Path, info: ModelInfo) -> None:
    """Save a Keras model with its metadata embedded to a temporary file, then rename it into place."""
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        model.save(tmp)
        embed_in_keras(tmp, info)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _checkpointer(out: Path, history: dict[str, list[float]], state: dict[str, Any], info: ModelInfo):
    """A callback that keeps the best model (by validation accuracy), the last one and the history."""
    import keras

    class Checkpointer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = dict(logs or {})
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            for key, value in logs.items():
                history.setdefault(key, []).append(float(value))
            state["epoch"] = epoch + 1
            if logs.get("val_accuracy", -1.0) > state.get("best_val_accuracy", -1.0):
                state["best_val_accuracy"] = float(logs["val_accuracy"])
                state["best_epoch"] = epoch + 1
                info.training["best_epoch"] = epoch + 1
                atomic_save(self.model, out / "model.keras", info)
            atomic_save(self.model, out / "last.keras", info)
            atomic_write_text(out / "state.json", json.dumps({"state": state, "history": history,
                                                              "training": info.training}, indent=1))
            log.info("epoch %d: val_accuracy %.4f (best %.4f at epoch %d)", epoch + 1,
                     logs.get("val_accuracy", float("nan")), state["best_val_accuracy"], state["best_epoch"])

    return Checkpointer()


def _averager(out: Path, state: dict[str, Any], info: ModelInfo, swa_start: int):
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
                atomic_save(self.model, out / "swa_running.keras", info)
            finally:
                self.model.set_weights(current)
            state["swa_count"] = count + 1

    return Averager()


def _finish_swa(model, out: Path, splits: Splits, spec: InputSpec, state: dict[str, Any], info: ModelInfo) -> None:
    """Load the weight average, recompute its batch-norm statistics and save it as model.keras."""
    import keras

    from train.average import update_batch_norm_on

    model.set_weights(keras.models.load_model(out / "swa_running.keras", compile=False).get_weights())
    update_batch_norm_on(model, splits.train, spec)
    log.info("weight average of %d epochs becomes model.keras (best single epoch: val_accuracy %.4f at epoch %d)",
             state["swa_count"], state["best_val_accuracy"], state["best_epoch"])
    info.training["swa"] = {"epochs_averaged": state["swa_count"],
                            "from_epoch": state["epoch"] - state["swa_count"] + 1}
    atomic_save(model, out / "model.keras", info)


def _compile(model, learning_rate: float, options: TrainOptions) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=options.label_smoothing),
        metrics=["accuracy"],
    )


def _saved_run(options: TrainOptions) -> dict[str, Any] | None:
    """The state and history of the run in `out` when `--resume` is given and it has a checkpoint."""
    if options.resume and (options.out / "last.keras").is_file():
        return json.loads((options.out / "state.json").read_text())
    return None


def lineage(options: TrainOptions, saved: dict[str, Any] | None) -> dict[str, Any]:
    """The training record embedded in the model: this run and, for a warm start, the record of the run
    its starting weights came from (so a model's whole history travels with it). A resumed run keeps
    the record it started with; only its length changes."""
    if saved and "training" in saved:
        return {**saved["training"], "epochs": options.epochs}
    record: dict[str, Any] = {
        "run": options.out.resolve().name, "data": str(options.data), "arch": options.arch,
        "epochs": options.epochs, "init": None,
        "validation": holdout_description(options.val_fraction, options.seed)}
    if options.init is not None:
        before = read_info(options.init)
        record["init"] = {"path": str(options.init), "training": before.training if before else {}}
        record["arch"] = record["init"]["training"].get("arch", options.arch)  # the starting model's, not --arch
    return record


def epochs_before(training: dict[str, Any]) -> int:
    """How many epochs the starting weights of a run were trained for, through every warm start."""
    init = training.get("init")
    if not isinstance(init, dict):
        return 0
    earlier = init.get("training") or {}
    return int(earlier.get("epochs") or 0) + epochs_before(earlier)


def train(options: TrainOptions) -> dict[str, Any]:
    """Run one training; returns the report (also written to `out/report.json`)."""
    import keras

    from train import models
    from train.report import write_report

    strategy = build_strategy(options.strategy, keras.backend.backend())
    keras.utils.set_random_seed(options.seed)
    spec = options.spec
    started = time.time()
    faces = load_fer2013(options.data, spec)
    splits = make_splits(faces, options)
    options.out.mkdir(parents=True, exist_ok=True)  # only once the data is known to be good
    log.info("data: %d train, %d validation, tests %s; %d skipped", len(splits.train), len(splits.val),
             {k: len(v) for k, v in splits.tests.items()}, len(faces.skipped))
    weights = class_weights(splits.train.labels, options.class_weighting, len(FER2013_LABELS))
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
    saved = _saved_run(options)
    training = lineage(options, saved)
    # The training stream (order and augmentation) is a function of its seed, so it is seeded with the
    # epochs the weights have already seen (a resumed run's, a warm start's starting model's): the same
    # seed would replay the first epochs' batches, not continue.
    stream_seed = options.seed + epochs_before(training) + (saved["state"]["epoch"] if saved else 0)
    train_data = make_dataset(splits.train, spec, options.batch_size, training=True, seed=stream_seed,
                              weights=weights, targets=targets, augmentation=Augmentation(erasing=options.erasing),
                              mixup=options.mixup, cutmix=options.cutmix)
    if options.teacher_online:
        train_data = teacher_batches(train_data, list(options.teachers), spec, options.teacher_weight,
                                     steps=len(splits.train) // options.batch_size)
        log.info("teachers (%d) run on every training batch, weight %.2f", len(options.teachers),
                 options.teacher_weight)
    val_data = make_dataset(splits.val, spec, 256, training=False, seed=options.seed)

    history: dict[str, list[float]] = {}
    state: dict[str, Any] = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0}
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")

    def scope():
        return strategy.scope() if strategy is not None else nullcontext()

    with scope():
        if saved:
            state, history = saved["state"], saved["history"]
            model = keras.models.load_model(options.out / "last.keras")
            log.info("resuming after epoch %d", state["epoch"])
        elif options.init is not None:
            model = models.load_keras_matching(options.init, spec)
            log.info("starting from the weights of %s", options.init)
        else:
            model = models.build(options.arch, spec, len(FER2013_LABELS), filters=options.filters,
                                 alpha=options.alpha, weights=options.weights, weight_decay=options.weight_decay)
    frozen = options.arch == "mobilenetv2" and options.freeze_epochs > 0
    phases = [(0, options.freeze_epochs, 1.0, False), (options.freeze_epochs, options.epochs, 0.1, True)] \
        if frozen else [(0, options.epochs, 1.0, True)]
    info = ModelInfo(labels=list(FER2013_LABELS), input=spec, variant="keras", architecture=model.name,
                     training=training)
    callbacks_common = [_checkpointer(options.out, history, state, info)]
    if options.swa_start:
        callbacks_common.insert(0, _averager(options.out, state, info, options.swa_start))
    else:
        callbacks_common.append(keras.callbacks.EarlyStopping("val_accuracy", patience=options.patience, mode="max"))
    interrupted = False
    try:
        for start, end, lr_factor, base_trainable in phases:
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
                    _compile(model, peak, options)
            model.fit(train_data, validation_data=val_data, initial_epoch=begin, epochs=end, verbose=2,
                      shuffle=False,  # the tf.data stream shuffles itself (make_dataset); Keras warned it ignores this
                      callbacks=[keras.callbacks.LearningRateScheduler(shifted), *callbacks_common])
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: keeping the best model so far (epoch %d)", state["best_epoch"])
    if not (options.out / "model.keras").is_file():
        raise RuntimeError("training stopped before the first epoch ended: no model saved")
    if state.get("swa_count"):
        _finish_swa(model, options.out, splits, spec, state, info)
    best = keras.models.load_model(options.out / "model.keras")
    return write_report(best, options, splits, faces, history, state,
                        seconds=time.time() - started, interrupted=interrupted)


def options_dict(options: TrainOptions) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Path) else value
    return {k: plain(v) for k, v in asdict(options).items()}
