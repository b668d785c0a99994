"""Offline knowledge distillation: teacher models' class probabilities as soft training targets."""

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
