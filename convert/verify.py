"""Compare a converted model with the Keras model it came from, on the report split."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edge.classify import Classifier, ModelOptions
from edge.model_file import ModelInfo
from train.data import FaceSet


@dataclass(frozen=True)
class Verification:
    """How far a converted model is from its Keras model on one split."""

    split: str
    n: int
    keras_accuracy: float
    tflite_accuracy: float
    agreement: float
    """Share of faces where both give the same top label."""
    mean_abs_diff: float
    """Mean absolute difference of the probabilities."""

    @property
    def drop_points(self) -> float:
        return 100.0 * (self.keras_accuracy - self.tflite_accuracy)

    def to_dict(self) -> dict:
        return {**asdict(self), "drop_points": round(self.drop_points, 3)}

    def format(self, variant: str) -> str:
        return (f"{variant}: {self.split} n={self.n}  keras {self.keras_accuracy:.2%}  "
                f"tflite {self.tflite_accuracy:.2%}  drop {self.drop_points:+.2f} pt  "
                f"agreement {self.agreement:.2%}  mean |dp| {self.mean_abs_diff:.4f}")


def verify(keras_probs: np.ndarray, model_content: bytes, info: ModelInfo, faces: FaceSet, split: str,
           runtime: ModelOptions = ModelOptions()) -> Verification:
    """Run the converted flatbuffer through edge's classifier (threads and interpreter from `runtime`)
    and compare it with the Keras output."""
    classifier = Classifier(model_content, info, runtime.threads, runtime.interpreter, source=split)
    tflite_probs = classifier.probabilities_of_pixels(faces.images)
    return Verification(
        split=split, n=len(faces),
        keras_accuracy=float((keras_probs.argmax(1) == faces.labels).mean()),
        tflite_accuracy=float((tflite_probs.argmax(1) == faces.labels).mean()),
        agreement=float((keras_probs.argmax(1) == tflite_probs.argmax(1)).mean()),
        mean_abs_diff=float(np.abs(keras_probs - tflite_probs).mean()),
    )


