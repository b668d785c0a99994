"""fer-average: the mean model of several, with its report; one-line errors."""

import keras
import numpy as np
import pytest

from train.swa import average_weights


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
