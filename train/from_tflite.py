"""A Keras model rebuilt from a float32 `.tflite` of the compact or vgg layout, for a shipped model whose
`.keras` file was not kept (the accurate profile's ensemble is converted from Keras members).

    python -m train.from_tflite models/fer_compact_float32.tflite runs/shipped/model.keras

The converter folded each batch normalization into the convolution before it, so the rebuilt model puts
the folded kernel in the convolution and the folded bias in a batch normalization that adds it and does
nothing else (mean 0, variance 1 - epsilon, scale 1). The metadata (training record, accuracy) is copied.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.model_file import ModelFileError, read_info, read_tflite

LAYOUT = re.compile(r"^(compact|vgg)_w(\d+)$")


Weights = list[tuple[np.ndarray, np.ndarray]]


def weights_in_order(content: bytes) -> tuple[Weights, Weights]:
    """(kernel, bias) of each convolution and each dense layer, in the graph's execution order, in Keras'
    layouts (HWIO kernels, (in, out) matrices)."""
    from edge.interpreter import load_interpreter

    _, interpreter = load_interpreter(content, 1, "auto")
    convs, denses = [], []
    for op in interpreter._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        kernel, bias = (interpreter.get_tensor(int(i)) for i in op["inputs"][1:3])
        if op["op_name"] == "CONV_2D":
            convs.append((kernel.transpose(1, 2, 3, 0), bias))  # OHWI -> HWIO
        else:
            denses.append((kernel.T, bias))
    return convs, denses


def rebuild(path: Path):
    """The Keras model and metadata of a float32 `.tflite` of the compact or vgg layout."""
    import keras

    from train.models import build

    info = read_info(path)
    if info is None:
        raise ModelFileError(f"{path}: no fer-edge metadata, so its layout is unknown")
    layout = LAYOUT.match(info.architecture)
    if info.variant != "float32" or layout is None:
        raise ModelFileError(f"{path}: rebuilding needs a float32 compact or vgg model, this is "
                             f"{info.variant} {info.architecture or 'of an unknown layout'}")
    model = build(layout.group(1), info.input, len(info.labels), filters=int(layout.group(2)))
    convs, denses = weights_in_order(read_tflite(path))
    conv_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    dense_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if (len(convs), len(denses)) != (len(conv_layers), len(dense_layers)):
        raise ModelFileError(f"{path}: {len(convs)} convolutions and {len(denses)} dense layers, the "
                             f"{info.architecture} layout has {len(conv_layers)} and {len(dense_layers)}")
    for layer, norm, (kernel, bias) in zip(conv_layers, norms, convs):
        layer.set_weights([kernel])
        norm.set_weights([np.ones_like(bias), bias, np.zeros_like(bias), np.full_like(bias, 1 - norm.epsilon)])
    for layer, (kernel, bias) in zip(dense_layers, denses):
        layer.set_weights([kernel, bias])
    rebuilt = replace(info, variant="keras", training={**info.training, "rebuilt_from": path.name})
    return model, rebuilt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.from_tflite", description=__doc__.splitlines()[0])
    parser.add_argument("tflite", type=Path, help="a float32 .tflite of the compact or vgg layout")
    parser.add_argument("out", type=Path, help="the .keras file to write")
    args = parser.parse_args(argv)
    from edge.errors import FerEdgeError
    from train.checkpoints import save_model

    try:
        model, info = rebuild(args.tflite)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_model(model, args.out, info)
    except (FerEdgeError, OSError) as exc:
        print(f"train.from_tflite: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({info.architecture}, from {args.tflite})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
