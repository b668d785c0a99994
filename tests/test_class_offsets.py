"""scripts/class_offsets.py: per-class decision offsets fitted on validation, and whether they carry over."""

import importlib.util

import numpy as np

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("class_offsets", ROOT / "scripts" / "class_offsets.py")
co = importlib.util.module_from_spec(spec)
spec.loader.exec_module(co)


def _scores(n: int, bias: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-probability-like scores for 3 classes whose class-0 score is pushed down by `bias`."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    scores = 1.5 * np.eye(3)[labels] + rng.normal(size=(n, 3))
    scores[:, 0] -= bias
    return scores, labels


def test_offsets_undo_a_bias_against_one_class():
    scores, labels = _scores(3000, bias=1.0, seed=0)
    offsets = co.fit_offsets(scores, labels)
    assert offsets[0] - offsets[1:].mean() > 0.6  # class 0 raised back
    assert co.accuracy(scores, labels, offsets) > co.accuracy(scores, labels, np.zeros(3)) + 0.03
    assert co.held_out_gains(scores, labels, rounds=4).mean() > 0.02  # a real gain carries to unseen halves


def test_without_a_bias_the_held_out_gain_is_about_zero():
    scores, labels = _scores(3000, bias=0.0, seed=1)
    assert abs(co.held_out_gains(scores, labels, rounds=4).mean()) < 0.01


def test_runs_on_a_trained_model(tiny_run, tiny_kaggle, capsys):
    assert co.main([str(tiny_kaggle), str(tiny_run / "model.keras"), "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("held-out gain on validation halves (2 rounds):")
    assert lines[1].startswith("offsets fitted on all of validation: angry ")
    assert any(line.startswith("PublicTest: ") for line in lines)


def test_bad_model_is_one_line_and_exit_2(tiny_kaggle, tmp_path, capsys):
    assert co.main([str(tiny_kaggle), str(tmp_path / "absent.tflite")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("class_offsets: error:") and err.count("\n") == 1
