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
    from train.data import FaceSet
    from train.fit import make_dataset

    rng = np.random.default_rng(2)
    crops = [rng.integers(0, 256, size=(64 + i, 64 + i, 3), dtype=np.uint8) for i in range(5)]
    faces = FaceSet(np.stack([to_model_pixels(c, GRAY_48) for c in crops]), np.arange(5), np.array(["x"] * 5))
    (batch, _), = list(make_dataset(faces, GRAY_48, 8, training=False, seed=0).as_numpy_iterator())
    expected = np.stack([preprocess(c, GRAY_48) for c in crops])
    np.testing.assert_array_equal(batch, expected)
