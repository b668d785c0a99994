"""fer-average, and the weight averaging and batch-norm statistics it shares with fer-train --swa-start."""

import keras
import numpy as np
import pytest

from train.swa import average_weights, update_batch_norm


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


def test_fer_average_writes_the_mean_model_with_its_report(tiny_run, tiny_kaggle, tmp_path):
    import json

    from edge.model_file import read_info
    from train.cli import average_main as main
    from train.fit import train
    from train.options import TrainOptions

    other = tmp_path / "other"
    train(TrainOptions(data=tiny_kaggle, out=other, epochs=1, filters=4, batch_size=16, warmup_epochs=0,
                       val_fraction=0.2, init=tiny_run / "model.keras"))
    sources = [tiny_run / "model.keras", other / "model.keras"]
    out = tmp_path / "soup"
    assert main([*map(str, sources), "--data", str(tiny_kaggle), "--out", str(out), "--val-fraction", "0.2"]) == 0
    mean = average_weights([keras.models.load_model(path) for path in sources])
    soup = keras.models.load_model(out / "model.keras").get_weights()
    kernels = [i for i, w in enumerate(soup) if w.ndim == 4]
    assert kernels and all(np.allclose(soup[i], mean[i]) for i in kernels)
    report = json.loads((out / "report.json").read_text())
    assert [r["split"] for r in report["results"]][0] == "validation"
    assert read_info(out / "model.keras").training["averaged"] == [str(path) for path in sources]


@pytest.mark.parametrize("extra, message", [([], "at least two models"), (["missing.keras"], "no such file")])
def test_fer_average_bad_input_is_one_line_and_exit_2(extra, message, tiny_run, tiny_kaggle, tmp_path, capsys):
    from train.cli import average_main as main

    argv = [str(tiny_run / "model.keras"), *[str(tmp_path / e) for e in extra], "--data", str(tiny_kaggle),
            "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
