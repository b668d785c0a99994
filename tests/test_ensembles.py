"""train.ensembles: accuracies of models and their averages on fer-train's validation split."""

import dataclasses

import numpy as np
import pytest

from train import ensembles as ee


def test_a_model_averaged_with_itself_scores_as_itself(tiny_run, tiny_kaggle):
    model = tiny_run / "model.keras"
    rows = ee.accuracy_table(tiny_kaggle, [model, model], val_fraction=0.2)
    assert [len(r["models"]) for r in rows] == [1, 1, 2]
    assert set(rows[0]) == {"models", "validation", "validation flip", "PublicTest", "PublicTest flip"}
    assert rows[2] == {**rows[0], "models": [str(model), str(model)]}
    report = {r["split"]: r for r in __import__("json").loads((tiny_run / "report.json").read_text())["results"]}
    assert rows[0]["validation"] == pytest.approx(report["validation"]["accuracy"])  # fer-train's own split


def test_a_tflite_file_scores_as_the_keras_model_it_came_from(tiny_run, tiny_kaggle, tiny_tflite):
    rows = ee.accuracy_table(tiny_kaggle, [tiny_run / "model.keras", tiny_tflite["float32"]], val_fraction=0.2)
    keras_row, tflite_row = rows[0], rows[1]
    assert tflite_row["models"] == [str(tiny_tflite["float32"])]
    for column in ("validation", "validation flip", "PublicTest", "PublicTest flip"):
        assert tflite_row[column] == pytest.approx(keras_row[column], abs=0.02)  # float32: the same model


def test_one_load_gives_plain_and_flip_averaged_probabilities(tiny_run, tiny_kaggle):
    from edge.classify import ModelOptions
    from train.data import load_fer2013
    from train.evaluate import load_for_eval, predict_keras
    from train.models import flip_averaged, load_keras

    model, info = load_keras(tiny_run / "model.keras")
    faces = load_fer2013(tiny_kaggle, info.input)
    _, probabilities_of = load_for_eval(ModelOptions(path=tiny_run / "model.keras"))
    np.testing.assert_allclose(probabilities_of(faces, False), predict_keras(model, faces, info.input), atol=1e-6)
    flipped = predict_keras(flip_averaged(model), faces, info.input)
    np.testing.assert_allclose(probabilities_of(faces, True), flipped, atol=1e-6)
    assert not np.allclose(probabilities_of(faces, False), flipped, atol=1e-4)  # the mirror matters
    _, flip_default = load_for_eval(ModelOptions(path=tiny_run / "model.keras", flip=True))
    np.testing.assert_allclose(flip_default(faces), flipped, atol=1e-6)


def test_shifted_moves_faces_and_repeats_the_edge():
    faces = np.arange(25).reshape(1, 5, 5)
    right = ee.shifted(faces, 1, 0)[0]
    assert (right[:, 1:] == faces[0, :, :-1]).all() and (right[:, 0] == faces[0, :, 0]).all()
    up = ee.shifted(faces[..., None], 0, -2)[0, ..., 0]
    assert (up[:3] == faces[0, 2:]).all() and (up[3:] == faces[0, 4]).all()
    assert ee.shifted(faces, 0, 0) is faces


def test_shift_views_are_averaged(tiny_run, tiny_kaggle):
    from edge.classify import ModelOptions
    from train.data import load_fer2013, make_splits
    from train.evaluate import load_for_eval

    model = tiny_run / "model.keras"
    shifts = ((2, 0), (0, -2))
    row = ee.accuracy_table(tiny_kaggle, [model], val_fraction=0.2, shifts=shifts)[0]
    info, probabilities_of = load_for_eval(ModelOptions(path=model))
    part = make_splits(load_fer2013(tiny_kaggle, info.input), 0.2, 1).val
    for flip in (False, True):
        mean = np.mean([probabilities_of(dataclasses.replace(part, images=ee.shifted(part.images, dx, dy)), flip)
                        for dx, dy in shifts], axis=0)
        assert row[f"validation{' flip' if flip else ''}"] == pytest.approx((mean.argmax(1) == part.labels).mean())
    assert ee.accuracy_table(tiny_kaggle, [model], val_fraction=0.2, shifts=((0, 0), (0, 0))) == \
        ee.accuracy_table(tiny_kaggle, [model], val_fraction=0.2)


@pytest.mark.parametrize("value", ["1", "1:x", "0:9", ""])
def test_bad_shifts_exit_2_naming_the_flag(tiny_kaggle, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_:
        ee.main([str(tiny_kaggle), str(tmp_path / "m.keras"), f"--shifts={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m train.ensembles: error: argument --shifts:")


def test_bad_model_is_one_line_and_exit_2(tiny_kaggle, tmp_path, capsys):
    assert ee.main([str(tiny_kaggle), str(tmp_path / "absent.keras")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m train.ensembles: error:") and err.count("\n") == 1
