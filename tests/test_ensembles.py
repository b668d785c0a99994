"""train.ensembles: accuracies of models and their averages on fer-train's validation split."""

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


def test_bad_model_is_one_line_and_exit_2(tiny_kaggle, tmp_path, capsys):
    assert ee.main([str(tiny_kaggle), str(tmp_path / "absent.keras")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m train.ensembles: error:") and err.count("\n") == 1
