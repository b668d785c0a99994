"""The preprocessing contract: shapes, colour handling, normalization, and parity with training."""

import numpy as np
import pytest

from edge.contract import InputSpec, normalize, preprocess, to_gray, to_model_pixels

GRAY_48 = InputSpec()
RGB_96 = InputSpec(height=96, width=96, channels=3, scale=2 / 255, offset=-1.0)


@pytest.mark.parametrize("image_shape", [
    (48, 48),        # gray
    (48, 48, 1),     # gray with a channel axis
    (120, 90, 3),    # BGR, larger and not square
    (30, 30, 4),     # BGRA, smaller than the model input
])
@pytest.mark.parametrize("spec", [GRAY_48, RGB_96])
def test_any_crop_becomes_the_model_shape(image_shape, spec):
    face = np.random.default_rng(0).integers(0, 256, size=image_shape, dtype=np.uint8)
    pixels = to_model_pixels(face, spec)
    assert pixels.shape == spec.shape and pixels.dtype == np.uint8
    assert preprocess(face, spec).shape == spec.shape


def test_three_channels_are_the_gray_face_replicated():
    face = np.random.default_rng(1).integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
    pixels = to_model_pixels(face, RGB_96)
    assert (pixels[:, :, 0] == to_gray(face)).all() and (pixels[:, :, 1] == pixels[:, :, 2]).all()


@pytest.mark.parametrize("spec, low, high", [(GRAY_48, 0.0, 1.0), (RGB_96, -1.0, 1.0)])
def test_normalization_range(spec, low, high):
    assert normalize(np.float32(0), spec) == pytest.approx(low)
    assert normalize(np.float32(255), spec) == pytest.approx(high)


@pytest.mark.parametrize("bad", [np.zeros((0, 10), np.uint8), np.zeros((10, 10), np.float32),
                                 np.zeros((10, 10, 2), np.uint8)])
def test_bad_crops_are_rejected(bad):
    with pytest.raises(ValueError):
        to_model_pixels(bad, GRAY_48)


@pytest.mark.parametrize("kwargs", [{"height": 4}, {"channels": 2}, {"scale": 0.0}])
def test_bad_specs_name_the_value(kwargs):
    with pytest.raises(ValueError):
        InputSpec(**kwargs)


def test_training_pipeline_gives_the_same_tensor_as_the_runtime():
    """Parity: the tf.data evaluation pipeline and edge's preprocess agree to the last bit."""
    from train.augment import make_dataset
    from train.data import FaceSet

    rng = np.random.default_rng(2)
    crops = [rng.integers(0, 256, size=(64 + i, 64 + i, 3), dtype=np.uint8) for i in range(5)]
    faces = FaceSet(np.stack([to_model_pixels(c, GRAY_48) for c in crops]), np.arange(5), np.array(["x"] * 5))
    (batch, _), = list(make_dataset(faces, GRAY_48, 8, training=False, seed=0).as_numpy_iterator())
    expected = np.stack([preprocess(c, GRAY_48) for c in crops])
    np.testing.assert_array_equal(batch, expected)


def test_the_label_order_is_fer2013s_and_the_shipped_models():
    """Data-free: a swap in the contract's label order would silently relabel every training folder."""
    from edge.contract import FER2013_LABELS
    from edge.model_file import default_model, read_info

    assert list(FER2013_LABELS) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert read_info(default_model()).labels == list(FER2013_LABELS)


@pytest.mark.parametrize("photo, box, expected", [
    ("grace_hopper.jpg", (146, 104, 246, 246), [0.086, 0.008, 0.027, 0.027, 0.078, 0.012, 0.762]),  # neutral
    ("astronaut.png", (170, 64, 113, 113), [0.008, 0.012, 0.012, 0.929, 0.008, 0.016, 0.016]),  # happy
])
def test_a_fixed_face_crop_gets_its_known_label_and_probabilities(photo, box, expected):
    """The shipped model on a fixed crop of each sample photo (recorded 2026-11-29): the contract's
    preprocessing, the interpreter wrapper and the label order together, with no data set needed."""
    import cv2

    from edge.classify import Classifier, ModelOptions
    from edge.contract import FER2013_LABELS
    from edge.results import Box
    from tests.conftest import SAMPLES

    classifier = Classifier.from_options(ModelOptions())
    crop = Box(*box).crop(cv2.imread(str(SAMPLES / photo)))
    prediction, = classifier.predict(to_model_pixels(crop, classifier.info.input)[None])
    assert prediction.label == FER2013_LABELS[int(np.argmax(expected))]
    np.testing.assert_allclose(prediction.vector, expected, atol=0.01)
