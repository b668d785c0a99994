"""Knowledge distillation: teacher models' class probabilities as soft training targets.

Two ways: once, on the plain training faces, before training (`teacher_probabilities`), or on every
training batch, on the same augmented faces the student sees (`teacher_batches`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.contract import InputSpec
from train.data import FaceSet


def teacher_probabilities(paths: list[Path], faces: FaceSet, spec: InputSpec, batch_size: int = 256) -> np.ndarray:
    """The teachers' mean class probabilities for each face, each averaged over the face and its mirror.

    Computed once on the un-augmented faces; the mirror matches the training flip augmentation.
    """
    from train.evaluate import predict_keras
    from train.models import flip_averaged, load_keras_matching

    total = sum(predict_keras(flip_averaged(load_keras_matching(path, spec)), faces, spec, batch_size)
                for path in paths)
    return (total / len(paths)).astype(np.float32)


def mix_targets(targets: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * targets + weight * teacher probabilities."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"teacher weight must be between 0 and 1, got {weight}")
    if targets.shape != teacher.shape:
        raise ValueError(f"the teacher gives {teacher.shape[1]} classes, the data has {targets.shape[1]}")
    return ((1.0 - weight) * targets + weight * teacher).astype(np.float32)


def teacher_batches(data, paths: list[Path], spec: InputSpec, weight: float, steps: int):
    """The training stream `data` (batches of pixels, targets[, weights]) as a Keras PyDataset of `steps`
    batches an epoch, each batch's targets mixed with the teachers' mean probabilities on its own pixels.

    The teachers see each augmented face once, as the student does (no mirror image). Batches come in the
    stream's order whatever index is asked for; the stream repeats, reshuffled, across epochs.
    """
    import keras

    from train.models import load_keras_matching

    if steps < 1:
        raise ValueError("fewer training faces than one batch")
    teachers = [load_keras_matching(path, spec) for path in paths]

    class TeacherBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.stream = iter(data.repeat())

        @property
        def num_batches(self) -> int:
            return steps

        def __getitem__(self, index: int) -> tuple:
            pixels, targets, *rest = (np.asarray(part) for part in next(self.stream))
            teacher = sum(np.asarray(model.predict_on_batch(pixels)) for model in teachers) / len(teachers)
            return (pixels, mix_targets(targets, teacher, weight), *rest)

    return TeacherBatches()
