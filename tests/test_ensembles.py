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


def test_bad_model_is_one_line_and_exit_2(tiny_kaggle, tmp_path, capsys):
    assert ee.main([str(tiny_kaggle), str(tmp_path / "absent.keras")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m train.ensembles: error:") and err.count("\n") == 1
