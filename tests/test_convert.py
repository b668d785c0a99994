"""fer-convert: every variant, self-describing files, int8 I/O, verification, bad input."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

from convert.cli import main as convert_main
from convert.export import ConvertOptions, run
from convert.quantize import ConversionError
from edge.classify import Classifier
from edge.model_file import read_info
from tests.conftest import ROOT, write_kaggle_tree
from train.data import load_fer2013


@pytest.mark.parametrize("variant, io_dtype", [("int8", np.int8), ("float32", np.float32),
                                               ("float16", np.float32), ("dynamic", np.float32)])
def test_each_variant_is_written_and_runs(tiny_tflite, variant, io_dtype):
    classifier = Classifier.from_file(tiny_tflite[variant])
    assert classifier.info.variant == variant
    assert classifier._input.dtype == io_dtype and classifier._output.dtype == io_dtype
    assert classifier.batchable
    probabilities = classifier.probabilities_of_pixels(np.zeros((3, 48, 48, 1), np.uint8))
    assert probabilities.shape == (3, 7) and np.allclose(probabilities.sum(1), 1, atol=1e-3)


def test_metadata_travels_in_the_file(tiny_tflite):
    info = read_info(tiny_tflite["int8"])
    assert info.labels[3] == "happy" and info.input.shape == (48, 48, 1)
    assert set(info.accuracy) == {"PublicTest"}
    assert info.verification["agreement"] > 0.8 and info.verification["calibration"]["faces"] == 21
    assert info.training["arch"] == "compact" and info.version


def agreement_where_decided(probabilities: np.ndarray, reference: np.ndarray, margin: float = 0.01) -> float:
    """Share of faces given the reference's label, counting only faces whose top two reference
    probabilities are more than `margin` apart (about twice the largest int8 rounding error seen, 0.005):
    the tiny model leaves near-ties, and 8-bit rounding may flip those either way. How decided the tiny
    model is varies from run to run (CPU training is not repeatable), so at least 20 faces must count."""
    top_two = np.sort(reference, axis=1)[:, -2:]
    decided = top_two[:, 1] - top_two[:, 0] > margin
    assert decided.sum() >= 20, f"only {decided.sum()} of {len(decided)} faces have a clear top label"
    return float((probabilities.argmax(1) == reference.argmax(1))[decided].mean())


def all_faces(data, spec) -> np.ndarray:
    """The tiny data's faces, training and test alike (224): more faces the tiny model is sure of."""
    return np.concatenate([load_fer2013(data / part, spec).images for part in ("train", "test")])


def test_int8_agrees_with_float32(tiny_tflite, tiny_kaggle):
    pixels = all_faces(tiny_kaggle, read_info(tiny_tflite["int8"]).input)
    int8 = Classifier.from_file(tiny_tflite["int8"]).probabilities_of_pixels(pixels)
    float32 = Classifier.from_file(tiny_tflite["float32"]).probabilities_of_pixels(pixels)
    assert agreement_where_decided(int8, float32) > 0.95
    assert np.abs(int8 - float32).mean() < 0.05


def test_uint8_io_is_scaled_from_the_tensor(tiny_run, tiny_kaggle, tiny_tflite, tmp_path):
    path, = run(ConvertOptions(model=tiny_run / "model.keras", data=tiny_kaggle, io="uint8", out_dir=tmp_path,
                               calib_size=21, max_drop=100.0))
    classifier = Classifier.from_file(path)
    assert classifier._input.dtype == np.uint8 and classifier.info.io_dtype == "uint8"
    pixels = all_faces(tiny_kaggle, classifier.info.input)
    reference = Classifier.from_file(tiny_tflite["float32"]).probabilities_of_pixels(pixels)
    assert agreement_where_decided(classifier.probabilities_of_pixels(pixels), reference) > 0.95


def test_verification_catches_a_broken_calibration(tiny_run, tmp_path):
    """Calibrating on blank faces ruins the input range; verification must refuse to write the file."""
    data = write_kaggle_tree(tmp_path / "data", {"train": 3, "test": 8})
    blank = np.zeros((48, 48), np.uint8)
    for image in (data / "train").rglob("*.jpg"):
        cv2.imwrite(str(image), blank)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ConversionError, match="accuracy dropped"):
        run(ConvertOptions(model=tiny_run / "model.keras", data=data, out_dir=out, calib_size=21))
    assert list(out.iterdir()) == []  # nothing half-written


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_not_a_keras_model(tmp_path, tiny_kaggle, capsys):
    bogus = tmp_path / "model.keras"
    bogus.write_text("hello")
    assert convert_main([str(bogus), "--data", str(tiny_kaggle), "--out-dir", str(tmp_path)]) == 2
    err = one_line_error(capsys)
    assert "not a Keras model (a .keras file is a zip archive" in err and "File not found" not in err


def test_output_size_must_match_the_labels(tiny_run, tiny_kaggle, tmp_path, capsys):
    with zipfile.ZipFile(tiny_run / "model.keras") as source, zipfile.ZipFile(tmp_path / "model.keras", "w") as copy:
        for name in source.namelist():
            data = source.read(name)
            if name == "fer_edge.json":
                info = json.loads(data)
                data = json.dumps({**info, "labels": info["labels"][:5]})
            copy.writestr(name, data)
    assert convert_main([str(tmp_path / "model.keras"), "--data", str(tiny_kaggle), "--out-dir", str(tmp_path)]) == 2
    assert "7 outputs but 5 labels" in one_line_error(capsys)


@pytest.mark.parametrize("extra, message", [
    (["--calib-size", "5000"], "for a calibration set of 5000"),
    (["--calib-size", "3"], "calib_size must be at least 10"),
    (["--out-dir", "/dev/null/sub"], "cannot write to /dev/null/sub: /dev/null is not a writable folder"),
    (["--split", "Validation"], "no Validation images"),
])
def test_bad_conversion_requests(tiny_run, tiny_kaggle, tmp_path, capsys, extra, message):
    argv = [str(tiny_run / "model.keras"), "--data", str(tiny_kaggle), "--out-dir", str(tmp_path), *extra]
    assert convert_main(argv) == 2
    assert message in one_line_error(capsys)
    assert not list(tmp_path.glob("*.tflite"))


def test_classes_must_match_the_model(tiny_run, tmp_path, capsys):
    data = tmp_path / "data"
    (data / "train" / "joy").mkdir(parents=True)
    assert convert_main([str(tiny_run / "model.keras"), "--data", str(data), "--out-dir", str(tmp_path)]) == 2
    assert "unknown class folder 'joy'" in one_line_error(capsys)


def test_flip_averaged_model_is_the_mean_over_the_mirror(tiny_run):
    from edge.contract import InputSpec
    from train.data import FaceSet
    from train.evaluate import predict_keras
    from train.models import flip_averaged, load_keras

    model, info = load_keras(tiny_run / "model.keras")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 48, 48, 1), dtype=np.uint8)
    faces, mirrored = (FaceSet(x, np.zeros(6, int), np.array(["t"] * 6)) for x in (images, images[:, :, ::-1]))
    spec = InputSpec()
    expected = (predict_keras(model, faces, spec) + predict_keras(model, mirrored, spec)) / 2
    np.testing.assert_allclose(predict_keras(flip_averaged(model), faces, spec), expected, atol=1e-6)


def test_flip_average_converts_to_int8(tiny_run, tiny_kaggle, tmp_path):
    path, = run(ConvertOptions(model=tiny_run / "model.keras", data=tiny_kaggle, out_dir=tmp_path,
                               calib_size=21, max_drop=100.0, flip_average=True))
    info = read_info(path)
    assert info.training["flip_average"] and info.architecture.endswith("_flipavg")
    assert Classifier.from_file(path).probabilities_of_pixels(np.zeros((2, 48, 48, 1), np.uint8)).shape == (2, 7)


def test_views_averaged_model_is_the_mean_over_the_moved_faces(tiny_run):
    from edge.contract import InputSpec
    from train.data import FaceSet
    from train.ensembles import shifted
    from train.evaluate import predict_keras
    from train.models import load_keras, views_averaged

    model, _ = load_keras(tiny_run / "model.keras")
    images = np.random.default_rng(1).integers(0, 256, size=(6, 48, 48, 1), dtype=np.uint8)
    shifts = ((0, 0), (1, 0), (0, -2), (-1, 1))
    face_set = lambda x: FaceSet(x, np.zeros(len(x), int), np.array(["t"] * len(x)))  # noqa: E731
    expected = np.mean([predict_keras(model, face_set(shifted(images, dx, dy)), InputSpec()) for dx, dy in shifts], 0)
    np.testing.assert_allclose(predict_keras(views_averaged(model, shifts), face_set(images), InputSpec()), expected,
                               atol=1e-6)
    assert not np.allclose(predict_keras(model, face_set(images), InputSpec()), expected, atol=1e-4)  # moves matter
    with_mirrors = np.mean([predict_keras(model, face_set(view), InputSpec()) for dx, dy in shifts
                            for view in (shifted(images, dx, dy), shifted(images, dx, dy)[:, :, ::-1])], 0)
    np.testing.assert_allclose(predict_keras(views_averaged(model, shifts, flip=True), face_set(images), InputSpec()),
                               with_mirrors, atol=1e-6)


def test_shifts_convert_to_int8_and_are_recorded(tiny_run, tiny_kaggle, tmp_path):
    path, = run(ConvertOptions(model=tiny_run / "model.keras", data=tiny_kaggle, out_dir=tmp_path,
                               calib_size=21, max_drop=100.0, flip_average=True, shifts=((0, 0), (0, 1), (0, -1))))
    info = read_info(path)
    assert info.training["shifts"] == [[0, 0], [0, 1], [0, -1]] and info.training["flip_average"]
    assert info.architecture.endswith("_views6")  # 3 places, each with its mirror image
    assert Classifier.from_file(path).probabilities_of_pixels(np.zeros((2, 48, 48, 1), np.uint8)).shape == (2, 7)


@pytest.mark.parametrize("value", ["0:0,0:0", "0:9", "a"])
def test_bad_shifts_are_refused_before_any_work(tiny_run, tiny_kaggle, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_:
        convert_main([str(tiny_run / "model.keras"), "--data", str(tiny_kaggle), "--out-dir", str(tmp_path),
                      f"--shifts={value}"])
    assert exit_.value.code == 2 and "argument --shifts" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_fer_eval_flip_agrees_between_keras_and_tflite(tiny_run, tiny_tflite, tiny_kaggle, tmp_path):
    """Two independent mirror paths: the flip-averaged Keras graph and the edge classifier's mirror invoke."""
    from train.cli import eval_main

    results = {}
    for name, model in (("keras", tiny_run / "model.keras"), ("tflite", tiny_tflite["float32"])):
        out = tmp_path / f"{name}.json"
        assert eval_main([str(model), str(tiny_kaggle), "--flip", "--json", str(out)]) == 0
        results[name] = json.loads(out.read_text())
    assert results["keras"]["flip"] is True
    assert [r["accuracy"] for r in results["keras"]["results"]] == [r["accuracy"] for r in results["tflite"]["results"]]


def test_conversion_runs_on_tensorflow_whatever_backend_trained(tiny_run, tiny_kaggle, tmp_path):
    """KERAS_BACKEND=torch (the faster training backend on a CPU) left set in the shell must not break fer-convert."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "torch"}
    argv = [str(tiny_run / "model.keras"), "--data", str(tiny_kaggle), "--out-dir", str(tmp_path),
            "--max-drop", "100", "--calib-size", "21"]
    done = subprocess.run([sys.executable, "-m", "convert", *argv], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "KERAS_BACKEND=torch ignored" in done.stderr
    assert (tmp_path / "fer_compact_int8.tflite").stat().st_size > 0


def test_output_goes_beside_the_input_model_and_an_existing_file_needs_force(tiny_run, tiny_kaggle, tmp_path,
                                                                              capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(tiny_run / "model.keras", run_dir / "model.keras")
    argv = [str(run_dir / "model.keras"), "--data", str(tiny_kaggle), "--calib-size", "21", "--max-drop", "100"]
    assert convert_main(argv) == 0
    written = run_dir / "fer_compact_int8.tflite"
    before = written.read_bytes()
    assert convert_main(argv) == 2, "an existing file is refused"
    err = capsys.readouterr().err
    assert f"{written}: already exists (--force replaces it" in err and err.count("\n") == 1
    written.write_bytes(b"stale")
    assert convert_main([*argv, "--force"]) == 0 and written.read_bytes()[:8] == before[:8]
    nested = tmp_path / "new" / "folder"
    assert convert_main([*argv, "--out-dir", str(nested)]) == 0 and (nested / "fer_compact_int8.tflite").is_file()


def test_a_conversion_prints_only_what_matters_and_logs_the_rest(tiny_run, tiny_kaggle, tmp_path):
    """Real file descriptors (a subprocess): TensorFlow's C++ logging and the converter's prints go to the log."""
    shutil.copy(tiny_run / "model.keras", tmp_path / "model.keras")
    base = [sys.executable, "-m", "convert", str(tmp_path / "model.keras"), "--data", str(tiny_kaggle),
            "--calib-size", "21", "--max-drop", "100"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0, quiet.stderr
    lines = (quiet.stdout + quiet.stderr).strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("int8: PublicTest") and lines[1].startswith("wrote "), lines
    log = (tmp_path / "fer_compact_convert.log").read_text()
    assert "TensorSpec" in log, "the converter's own output is kept in the log"
    loud = subprocess.run([*base, "--force", "--verbose"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=env)
    assert loud.returncode == 0 and "TensorSpec" in loud.stdout + loud.stderr


@pytest.mark.parametrize("name, content, message", [
    ("m.tflite", None, "a TFLite model; this takes the trained Keras model (model.keras)"),
    ("m.keras", b"not a zip", "not a Keras model (a .keras file is a zip archive"),
    ("missing.keras", None, "no such file"),
])
def test_an_input_that_is_not_a_keras_model_is_named_before_the_outputs(tmp_path, name, content, message, capsys):
    """Even when the output files already exist, the first thing said is what is wrong with the input."""
    model = tmp_path / name
    if name == "m.tflite":
        shutil.copy(ROOT / "models" / "fer_compact_int8.tflite", model)
    elif content is not None:
        model.write_bytes(content)
    (tmp_path / "fer_compact_int8.tflite").write_bytes(b"an existing output")
    assert convert_main([str(model), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"fer-convert: error: {model}: {message}")


def _other_member(tiny_run, path, spec=None, labels=None):
    """An untrained compact model saved with tiny_run's metadata (other weights, so other probabilities),
    or with another input contract or other labels."""
    from dataclasses import replace

    from train.checkpoints import save_model
    from train.models import build, load_keras

    _, info = load_keras(tiny_run / "model.keras")
    info = replace(info, input=spec or info.input, labels=labels or info.labels)
    save_model(build("compact", info.input, len(info.labels), filters=4), path, info)
    return path


def test_several_models_convert_to_one_file_that_averages_them(tiny_run, tiny_kaggle, tmp_path):
    from edge.contract import InputSpec
    from train.data import FaceSet
    from train.evaluate import predict_keras
    from train.models import load_keras

    other = _other_member(tiny_run, tmp_path / "other.keras")
    assert convert_main([str(tiny_run / "model.keras"), str(other), "--data", str(tiny_kaggle), "--out",
                         str(tmp_path / "out"), "--float32", "--name", "pair", "--max-drop", "100"]) == 0
    path = tmp_path / "out" / "pair_float32.tflite"
    info = read_info(path)
    members = info.training["ensemble"]
    assert [m["file"] for m in members] == [f"{tiny_run.name}/model.keras", f"{tmp_path.name}/other.keras"]
    assert members[0]["training"]["arch"] == "compact" and info.architecture == "compact_w4+compact_w4"
    images = np.random.default_rng(0).integers(0, 256, size=(8, 48, 48, 1), dtype=np.uint8)
    faces = FaceSet(images, np.zeros(8, int), np.array(["t"] * 8))
    expected = np.mean([predict_keras(load_keras(m)[0], faces, InputSpec()) for m in (tiny_run / "model.keras", other)],
                       axis=0)
    got = Classifier.from_file(path).probabilities_of_pixels(images)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert np.abs(expected - predict_keras(load_keras(other)[0], faces, InputSpec())).max() > 1e-3


@pytest.mark.parametrize("change, what", [("spec", "input contract"), ("labels", "labels")])
def test_members_with_another_contract_or_labels_are_refused(tiny_run, tiny_kaggle, tmp_path, capsys, change, what):
    from edge.contract import InputSpec

    other = _other_member(tiny_run, tmp_path / "odd.keras", spec=InputSpec(height=40, width=40) if change == "spec"
                          else None, labels=[f"class{i}" for i in range(7)] if change == "labels" else None)
    assert convert_main([str(tiny_run / "model.keras"), str(other), "--data", str(tiny_kaggle), "--out",
                         str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"odd.keras and {tiny_run / 'model.keras'} differ in their {what}: they cannot be averaged" in err
    assert err.count("\n") == 1 and not (tmp_path / "out" / "fer_compact_int8.tflite").exists()


def test_a_keras_model_rebuilt_from_its_float32_file_predicts_the_same(tiny_tflite, tmp_path):
    from edge.model_file import ModelFileError
    from train.from_tflite import main as rebuild_main
    from train.from_tflite import rebuild

    model, info = rebuild(tiny_tflite["float32"])
    images = np.random.default_rng(1).integers(0, 256, size=(6, 48, 48, 1), dtype=np.uint8)
    expected = Classifier.from_file(tiny_tflite["float32"]).probabilities_of_pixels(images)
    got = model.predict(images.astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert info.variant == "keras" and info.training["rebuilt_from"] == tiny_tflite["float32"].name
    with pytest.raises(ModelFileError, match="rebuilding needs a float32 compact or vgg model, this is int8"):
        rebuild(tiny_tflite["int8"])
    assert rebuild_main([str(tiny_tflite["float32"]), str(tmp_path / "rebuilt.keras")]) == 0
    assert read_info(tmp_path / "rebuilt.keras").architecture == info.architecture
