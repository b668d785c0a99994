"""Distillation targets: teacher probabilities (flip-averaged) mixed into the training targets."""

import json

import numpy as np
import pytest

from edge.contract import FER2013_LABELS, InputSpec
from train.data import load_fer2013
from train.distill import mix_targets, teacher_probabilities
from train.fit import TrainOptions, train


def test_teacher_probabilities_are_the_flip_averaged_model(tiny_run, tiny_kaggle):
    import keras

    spec = InputSpec()
    faces = load_fer2013(tiny_kaggle, spec).split("Training")
    probabilities = teacher_probabilities([tiny_run / "model.keras"], faces, spec)
    model = keras.models.load_model(tiny_run / "model.keras")
    pixels = faces.images.astype(np.float32) / 255.0
    expected = (model.predict(pixels, verbose=0) + model.predict(pixels[:, :, ::-1], verbose=0)) / 2
    assert probabilities.shape == (len(faces), len(FER2013_LABELS))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    two = teacher_probabilities([tiny_run / "model.keras"] * 2, faces, spec)  # an ensemble of one model twice
    np.testing.assert_allclose(two, probabilities, atol=1e-6)


def test_a_teacher_with_another_input_contract_is_refused(tiny_run, tiny_kaggle):
    spec = InputSpec(height=40, width=40)
    faces = load_fer2013(tiny_kaggle, spec).split("Training")
    with pytest.raises(ValueError, match="input contract"):
        teacher_probabilities([tiny_run / "model.keras"], faces, spec)


def test_mix_targets():
    targets = np.eye(3, dtype=np.float32)[[0, 2]]
    teacher = np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(mix_targets(targets, teacher, 0.25), [[0.8, 0.2, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="between 0 and 1"):
        mix_targets(targets, teacher, 1.5)
    with pytest.raises(ValueError, match="classes"):
        mix_targets(targets, teacher[:, :2], 0.5)


def test_training_with_a_teacher_records_it(tiny_run, tiny_kaggle, tmp_path):
    report = train(TrainOptions(data=tiny_kaggle, out=tmp_path, epochs=1, width=4, batch_size=16, warmup_epochs=0,
                                teachers=(tiny_run / "model.keras",), teacher_weight=0.7))
    assert report["config"]["teachers"] == [str(tiny_run / "model.keras")]
    assert json.loads((tmp_path / "report.json").read_text())["config"]["teacher_weight"] == 0.7
