"""Keras -> TFLite: float32, float16, dynamic-range, or full-integer int8 calibrated on real faces."""

from __future__ import annotations

import logging

import numpy as np

from edge.contract import InputSpec, normalize
from edge.errors import FerEdgeError
from train.data import FaceSet, stratified_holdout

log = logging.getLogger(__name__)

VARIANTS = ("int8", "float32", "float16", "dynamic")
IO_TYPES = ("int8", "uint8", "float32")


class ConversionError(FerEdgeError):
    """The model cannot be converted as asked; the message says why."""


def calibration_faces(train: FaceSet, size: int, seed: int) -> FaceSet:
    """A seeded, class-stratified sample of `size` real training faces."""
    if size < 1:
        raise ConversionError(f"calibration size must be at least 1, got {size}")
    if len(train) < size:
        raise ConversionError(f"only {len(train)} training faces for a calibration set of {size}")
    if size == len(train):
        return train
    return train.subset(stratified_holdout(train.labels, size / len(train), seed))


def convert(model, variant: str, spec: InputSpec, calibration: FaceSet | None = None, io: str = "int8") -> bytes:
    """The TFLite flatbuffer of `model` for one variant; builtin ops only."""
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ConversionError(f"unknown variant {variant!r} (choose from {', '.join(VARIANTS)})")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if calibration is None or len(calibration) == 0:
            raise ConversionError("int8 needs calibration faces (--data with a Training split)")
        if io not in IO_TYPES:
            raise ConversionError(f"unknown I/O type {io!r} (choose from {', '.join(IO_TYPES)})")
        inputs = normalize(calibration.images.astype(np.float32), spec)

        def representative():
            for row in inputs:
                yield [row[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, io)
        converter.inference_output_type = getattr(tf, io)
    return converter.convert()
