"""Keras builders for the architectures (compact and VGG-style 48x48 CNNs, MobileNetV2 transfer) and model loading."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
from keras import layers

from edge.contract import FER2013_LABELS, InputSpec
from edge.model_file import ModelFileError, ModelInfo, check_keras_file, read_info
from train.architectures import DEFAULT_WIDTH, check_architecture
from train.data import holdout_description


def _conv_bn_relu(x, filters: int, weight_decay: float):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_regularizer=keras.regularizers.l2(weight_decay))(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def build_compact(spec: InputSpec, classes: int, width: int = 16, dropout: float = 0.3,
                  weight_decay: float = 1e-4) -> keras.Model:
    """The default edge CNN: cheap at high resolution, wide at low resolution (~31M MACs at width 16).

    One 3x3 conv per stage at 48x48 and 24x24 (width, 2x width filters), then 6x width at 12x12,
    two 12x width convs at 6x6 and a 24x width conv at 3x3, each followed by BN and ReLU, max pooling
    between stages, global pooling and a dense head. Most of the compute sits where the maps are
    small, which is what keeps the int8 invoke under a millisecond on one core.
    """
    inputs = keras.Input(shape=spec.shape, name="face")
    x = inputs
    for stage, multipliers in enumerate([(1,), (2,), (6,), (12, 12)]):
        for multiplier in multipliers:
            x = _conv_bn_relu(x, width * multiplier, weight_decay)
        x = layers.MaxPooling2D()(x)
        if stage >= 1:
            x = layers.Dropout(dropout * stage / 3)(x)
    return _head(x, inputs, classes, width * 24, width * 16, dropout, weight_decay, f"compact_w{width}")


def build_vgg(spec: InputSpec, classes: int, width: int = 24, dropout: float = 0.3,
              weight_decay: float = 1e-4) -> keras.Model:
    """A VGG-style CNN: four stages of two 3x3 convs (BN, ReLU) and max pooling, then global pooling.

    ~72M MACs at width 24 (the first shipped model; 1.8 ms int8 invoke on one core here).
    """
    inputs = keras.Input(shape=spec.shape, name="face")
    x = inputs
    for stage in range(4):
        filters = width * 2 ** stage
        x = _conv_bn_relu(x, filters, weight_decay)
        x = _conv_bn_relu(x, filters, weight_decay)
        x = layers.MaxPooling2D()(x)
        if stage >= 1:
            x = layers.Dropout(dropout * stage / 3)(x)
    return _head(x, inputs, classes, width * 16, width * 8, dropout, weight_decay, f"vgg_w{width}")


def _head(x, inputs, classes: int, conv_filters: int, dense_units: int, dropout: float, weight_decay: float,
          name: str) -> keras.Model:
    """One wider conv on the 3x3 map, global average pooling (no Flatten), a dense layer, softmax.

    No Flatten (dynamic-batch reshapes run badly on old runtimes) and only ReLU/BN/conv/pool/dense,
    which quantize cleanly to int8.
    """
    x = _conv_bn_relu(x, conv_filters, weight_decay)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=keras.regularizers.l2(weight_decay))(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def build_mobilenetv2(spec: InputSpec, classes: int, alpha: float = 0.35,
                      weights: str | Path | None = "imagenet") -> keras.Model:
    """The tutorial's transfer learning: an ImageNet MobileNetV2 base and a Dense 128/64 head."""
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise FileNotFoundError(f"{weights}: no such weights file")
    base = keras.applications.MobileNetV2(input_shape=spec.shape, alpha=alpha, include_top=False,
                                          weights=None if weights is None else str(weights), name="base")
    inputs = keras.Input(shape=spec.shape, name="face")
    x = base(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"mobilenetv2_a{alpha:g}_{spec.height}")


def build(arch: str, spec: InputSpec, classes: int, *, filters: int | None = None, alpha: float = 0.35,
          weights: str | Path | None = "imagenet", weight_decay: float = 1e-4) -> keras.Model:
    check_architecture(arch)
    if arch == "compact":
        return build_compact(spec, classes, width=filters or DEFAULT_WIDTH[arch], weight_decay=weight_decay)
    if arch == "vgg":
        return build_vgg(spec, classes, width=filters or DEFAULT_WIDTH[arch], weight_decay=weight_decay)
    return build_mobilenetv2(spec, classes, alpha=alpha, weights=weights)


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass through the conv and dense layers (the bulk of the cost)."""
    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, layers.DepthwiseConv2D):
            height, width, channels = layer.output.shape[1:]
            total += height * width * channels * int(np.prod(layer.kernel_size))
        elif isinstance(layer, layers.Conv2D):
            height, width, _ = layer.output.shape[1:]
            total += height * width * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def load_keras(path: Path):
    """The Keras model at `path` and its metadata (embedded, or from report.json beside it)."""
    path = Path(path)
    check_keras_file(path)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a file that is not a model
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ModelFileError(f"{path}: not a Keras model ({reason})") from exc
    info = read_info(path) or _info_from_report(path.parent / "report.json")
    if info is None:
        raise ModelFileError(f"{path}: no fer-edge metadata inside and no report.json beside it")
    classes = int(model.output_shape[-1])
    if classes != len(info.labels):
        raise ModelFileError(f"{path}: the model has {classes} outputs but {len(info.labels)} labels")
    if tuple(model.input_shape[1:]) != info.input.shape:
        raise ModelFileError(f"{path}: model input {tuple(model.input_shape[1:])} differs from {info.input.shape}")
    return model, info


def _info_from_report(report: Path) -> ModelInfo | None:
    if not report.is_file():
        return None
    data = json.loads(report.read_text())
    config = data.get("config", {})
    return ModelInfo(labels=data.get("labels", list(FER2013_LABELS)), input=InputSpec.from_dict(data["input"]),
                     variant="keras", architecture=data.get("model", {}).get("name", ""),
                     training={"data": config.get("data"), "arch": config.get("arch"),
                               "epochs": config.get("epochs"), "best_epoch": data.get("best_epoch"),
                               "validation": holdout_description(config.get("val_fraction"), config.get("seed"))})


def load_keras_matching(path: Path, spec: InputSpec) -> keras.Model:
    """The trained Keras model at `path`, which must use the input contract `spec` (to restart from or learn from)."""
    model, info = load_keras(path)
    if info.input != spec:
        raise ModelFileError(f"{path}: its input contract {info.input} differs from this run's {spec}")
    return model


def ensemble(members: list[tuple[Path, keras.Model, ModelInfo]]) -> tuple[keras.Model, ModelInfo]:
    """One model that averages the members' probabilities, and its metadata: the first member's, with
    each member's file (run folder and name), layout, training record and accuracy listed. Members must
    share the input contract and the labels (ModelFileError naming the two files otherwise)."""
    (first_path, _, first), *_ = members
    for path, _, info in members[1:]:
        if info.input != first.input or list(info.labels) != list(first.labels):
            what = "input contract" if info.input != first.input else "labels"
            raise ModelFileError(f"{path} and {first_path} differ in their {what}: they cannot be averaged")
    inputs = keras.Input(shape=first.input.shape, name="face")
    # each member wrapped under its own name: two models of one layout would otherwise clash
    outputs = [keras.Model(model.input, model.output, name=f"member{i}_{model.name}")(inputs)
               for i, (_, model, _) in enumerate(members)]
    name = "ensemble_" + "_".join(model.name for _, model, _ in members)
    averaged = keras.Model(inputs, layers.Average(name="probabilities")(outputs), name=name)
    listed = [{"file": f"{path.parent.name}/{path.name}", "architecture": info.architecture, "training": info.training,
               "accuracy": info.accuracy} for path, _, info in members]
    return averaged, ModelInfo(labels=list(first.labels), input=first.input, variant="keras",
                               architecture="+".join(info.architecture for _, _, info in members),
                               training={"ensemble": listed})


def shift_matrix(size: int, offset: int) -> np.ndarray:
    """(size, size) 0/1 matrix that moves a row of pixels `offset` places along it, repeating the edge
    pixel into the gap: out[j] = in[clip(j - offset)] (the matrix multiplies from the right)."""
    matrix = np.zeros((size, size), dtype="float32")
    matrix[np.clip(np.arange(size) - offset, 0, size - 1), np.arange(size)] = 1.0
    return matrix


def mirror_matrix(size: int) -> np.ndarray:
    """(size, size) 0/1 matrix that reverses a row of pixels (the mirror image, multiplying from the right)."""
    return np.eye(size, dtype="float32")[::-1]


def _moved(x, matrix: np.ndarray, axis: str, name: str):
    """x (n, height, width, channels) multiplied by a fixed 0/1 matrix along the width or the height."""
    order = (1, 3, 2) if axis == "width" else (3, 2, 1)
    dense = layers.Dense(matrix.shape[0], use_bias=False, trainable=False, name=name)
    moved = layers.Permute(order)(dense(layers.Permute(order)(x)))
    dense.set_weights([matrix])
    return moved


def views_averaged(model: keras.Model, shifts: tuple[tuple[int, int], ...], flip: bool = False) -> keras.Model:
    """The model averaged over copies of the face moved DX pixels right and DY down, for each (DX, DY) in
    `shifts`, the edge pixels repeated into the gap, and with `flip` over the mirror image of each copy
    (test-time views in the graph). Each move is a fixed 0/1 matrix (Dense layers, as in `flip_averaged`),
    and the views go through the model as one batch, so its weights are stored once; it converts to int8.
    It costs more than one invoke per view: 6 views of the accurate pair took 6.0 ms where its
    flip-averaged file (2 views) took 1.4."""
    height, width, channels = model.input_shape[1:]
    classes = model.output_shape[-1]
    inputs = keras.Input(shape=(height, width, channels), name="face")
    views = []
    for i, (dx, dy) in enumerate(shifts):
        x = _moved(inputs, shift_matrix(width, dx), "width", f"shift{i}_x") if dx else inputs
        x = _moved(x, shift_matrix(height, dy), "height", f"shift{i}_y") if dy else x
        views.append(x)
        if flip:
            views.append(_moved(x, mirror_matrix(width), "width", f"mirror{i}"))
    count = len(views)
    stacked = layers.Concatenate(axis=1)([layers.Reshape((1, height, width, channels))(v) for v in views])
    batch = layers.Lambda(lambda t: keras.ops.reshape(t, (-1, height, width, channels)), name="views_as_batch")(stacked)
    per_face = layers.Lambda(lambda t: keras.ops.mean(keras.ops.reshape(t, (-1, count, classes)), axis=1),
                             name="probabilities")(model(batch))
    return keras.Model(inputs, per_face, name=f"{model.name}_views{count}")


def flip_averaged(model: keras.Model) -> keras.Model:
    """The model averaged over the face and its mirror image (test-time flip averaging in the graph).

    The mirror is a fixed permutation matrix applied along the width (a Dense layer), so the result
    uses builtin ops only, converts to int8 like the model itself, and costs about two invokes.
    """
    height, width, channels = model.input_shape[1:]
    inputs = keras.Input(shape=(height, width, channels), name="face")
    flipped = _moved(inputs, mirror_matrix(width), "width", "mirror")
    outputs = layers.Average(name="probabilities")([model(inputs), model(flipped)])
    return keras.Model(inputs, outputs, name=f"{model.name}_flipavg")
