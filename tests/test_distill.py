"""Distillation targets: teacher probabilities (flip-averaged, or on each augmented batch) mixed into the targets."""


import numpy as np
import pytest

from edge.contract import FER2013_LABELS, InputSpec
from train.augment import make_dataset
from train.data import load_fer2013
from train.distill import mix_targets, teacher_batches, teacher_probabilities
from train.options import TrainOptions


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


def test_online_teachers_see_the_augmented_batch_the_student_gets(tiny_run, tiny_kaggle):
    import keras

    spec = InputSpec()
    faces = load_fer2013(tiny_kaggle, spec).split("Training")
    weights = np.linspace(0.5, 2.0, len(FER2013_LABELS)).astype(np.float32)
    stream = make_dataset(faces, spec, 16, training=True, seed=3, weights=weights)
    steps = len(faces) // 16
    batches = teacher_batches(stream, [tiny_run / "model.keras"] * 2, spec, 0.25, steps)
    assert batches.num_batches == steps
    model = keras.models.load_model(tiny_run / "model.keras")
    seen = []
    for index in range(2 * steps + 1):  # past the end of one pass: the stream goes on, reshuffled
        pixels, targets, sample_weights = batches[index]
        teacher = model.predict_on_batch(pixels)
        labels = (targets - 0.25 * teacher).argmax(1)
        np.testing.assert_allclose(targets, 0.75 * np.eye(len(FER2013_LABELS))[labels] + 0.25 * teacher, atol=1e-5)
        np.testing.assert_allclose(sample_weights, weights[labels])
        seen.append(pixels)
    plain = faces.images.astype(np.float32) / 255.0
    assert not any(np.allclose(pixels, plain[: len(pixels)]) for pixels in seen)  # augmented, not plain faces
    assert not np.allclose(seen[0], seen[steps])  # the second pass is another shuffle and augmentation


def test_online_teachers_need_teachers_and_a_full_batch(tiny_run, tiny_kaggle):
    with pytest.raises(ValueError, match="needs teachers"):
        TrainOptions(data=tiny_kaggle, teacher_online=True)
    stream = make_dataset(load_fer2013(tiny_kaggle, InputSpec()).split("Training"), InputSpec(), 16, training=True,
                          seed=1)
    with pytest.raises(ValueError, match="one batch"):
        teacher_batches(stream, [tiny_run / "model.keras"], InputSpec(), 0.5, steps=0)
