"""Weight averaging shared by fer-train --swa-start and fer-average: the mean, the batch-norm statistics a
mean needs, and the held learning rate."""

import keras
import numpy as np
import pytest

from train.fit import cosine_with_warmup
from train.swa import average_weights, update_batch_norm, with_swa


def _model(units: int, seed: int):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(3,))
    x = keras.layers.Dense(units)(inputs)
    x = keras.layers.Dropout(0.5)(x)
    return keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.99)(x))


def test_average_is_the_element_wise_mean():
    a, b = _model(4, 1), _model(4, 2)
    mean = average_weights([a, b])
    assert all(np.allclose(m, (x + y) / 2) for m, x, y in zip(mean, a.get_weights(), b.get_weights()))


def test_models_of_different_architectures_are_refused():
    with pytest.raises(ValueError, match="another architecture"):
        average_weights([_model(4, 1), _model(5, 1)])


def test_batch_norm_statistics_are_the_data_mean_and_variance_without_dropout():
    model = _model(2, 3)
    data = np.random.default_rng(0).normal(5.0, 2.0, size=(1000, 3)).astype("float32")
    assert update_batch_norm(model, data, batch_size=100) == 1
    features = keras.ops.convert_to_numpy(model.layers[1](data))
    norm = model.layers[-1]
    assert np.allclose(keras.ops.convert_to_numpy(norm.moving_mean), features.mean(0), rtol=1e-4, atol=1e-4)
    batch_vars = np.mean([features[i:i + 100].var(0) for i in range(0, 1000, 100)], axis=0)
    assert np.allclose(keras.ops.convert_to_numpy(norm.moving_variance), batch_vars, rtol=1e-3)
    assert norm.momentum == 0.99 and model.layers[2].rate == 0.5  # restored


def test_swa_schedule_holds_the_learning_rate():
    held = with_swa(cosine_with_warmup(0.1, epochs=10, warmup=1), swa_start=3, swa_lr=0.02)
    assert held(0) == pytest.approx(0.05) and held(1) == pytest.approx(0.1)
    assert [held(e) for e in range(2, 10)] == [0.02] * 8
    assert with_swa(cosine_with_warmup(0.1, 10, 1), 0, 0.02)(5) == cosine_with_warmup(0.1, 10, 1)(5)
