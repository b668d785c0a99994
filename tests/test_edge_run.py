"""The edge runtime end to end: CLI on the shipped model and demo clip, API, shutdown, bad input."""

import json
import os
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.classify import ModelOptions
from edge.cli import main as edge_main
from edge.contract import FER2013_LABELS
from edge.detect import DETECTORS
from edge.pipeline import Recognizer, RecognizerOptions, default_model, first_frame
from edge.results import Box
from edge.runner import RunOptions, run
from edge.sinks import JsonlSink, opencv_has_gui
from edge.sources import FrameSource
from tests.conftest import ROOT, SAMPLES, heavy_modules_after

DEMO = SAMPLES / "demo.mp4"


def test_shipped_model_is_self_describing():
    from edge.model_file import read_info

    info = read_info(default_model())
    assert info is not None and info.variant == "int8" and len(info.labels) == 7
    report = json.loads((ROOT / "models" / "fer_compact_report.json").read_text())
    assert info.training["run"] == Path(report["config"]["out"]).name  # the model and its report are one run
    float_accuracy = {r["split"]: r["accuracy"] for r in report["results"]}["PublicTest"]
    assert abs(info.accuracy["PublicTest"] - float_accuracy) < 0.01  # int8 within a point of the Keras model


@pytest.mark.parametrize("name", ["fer_compact_int8.tflite", "fer_compact_float32.tflite", "fer_accurate_int8.tflite"])
def test_shipped_models_measure_what_their_metadata_and_card_claim(name, tmp_path):
    """fer-eval on the real PublicTest reproduces the accuracy stored in each shipped model."""
    from edge.model_file import read_info
    from tests.conftest import need_shared_data
    from train.cli import eval_main

    model = default_model().with_name(name)
    out = tmp_path / "eval.json"
    assert eval_main([str(model), str(need_shared_data()), "--json", str(out)]) == 0
    result = {r["split"]: r for r in json.loads(out.read_text())["results"]}["PublicTest"]
    assert result["n"] == 3589
    assert result["accuracy"] == pytest.approx(read_info(model).accuracy["PublicTest"], abs=5e-4)
    assert card_accuracy(model.name) == pytest.approx(100 * result["accuracy"], abs=0.005)


def card_accuracy(file_name: str) -> float:
    """The PublicTest accuracy in the model card's accuracy table, on the row of that file."""
    rows = [line.split("|") for line in (ROOT / "models" / "README.md").read_text().splitlines()
            if line.startswith(f"| `{file_name}` |")]
    assert len(rows) == 1, f"the card's accuracy table needs exactly one row for {file_name}"
    return float(rows[0][2].strip().rstrip("%"))


def test_headless_run_on_the_demo_clip(tmp_path, capsys):
    out, video = tmp_path / "faces.jsonl", tmp_path / "annotated.mp4"
    assert edge_main(["--source", str(DEMO), "--headless", "--jsonl", str(out), "--save", str(video)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    labels = set(Recognizer().classifier.labels)
    assert len(records) == 240 and [r["frame"] for r in records] == list(range(240))
    with_face = [r for r in records if r["faces"]]
    assert len(with_face) >= 0.9 * len(records)
    for face in (f for r in with_face for f in r["faces"]):
        assert face["label"] in labels and set(face["probs"]) == labels and len(face["box"]) == 4
    assert video.stat().st_size > 10_000
    summary = capsys.readouterr().err
    assert "240 frames" in summary and "detect" in summary and "infer" in summary


FACES = {"grace_hopper.jpg": Box(160, 130, 215, 215), "astronaut.png": Box(176, 72, 96, 96)}
"""Where the face is in each sample photo (by eye: brows to chin, ear to ear; every detector's box
overlaps these by IoU 0.75 or more)."""


def records_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_demo_clip_boxes_are_where_the_faces_are(tmp_path):
    """The clip shows each photo scaled 1.25x, cropped 81 px (Grace Hopper, frame 0) or 48 px (the
    astronaut, frame 120) from the top (scripts/make_demo_clip.py): boxes must land there, in frame pixels."""
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(DEMO), "--headless", "--jsonl", str(out), "--max-frames", "121"]) == 0
    records = records_of(out)
    for index, photo, top in ((0, "grace_hopper.jpg", 81), (120, "astronaut.png", 48)):
        face = FACES[photo]
        truth = Box(round(face.x * 1.25), round(face.y * 1.25) - top, round(face.w * 1.25), round(face.h * 1.25))
        boxes = [Box(*f["box"]) for f in records[index]["faces"]]
        assert boxes and max(truth.iou(b) for b in boxes) > 0.6, (index, truth, boxes)


@pytest.mark.parametrize("kind", DETECTORS)
def test_boxes_are_in_frame_pixels_on_a_large_frame(kind, tmp_path):
    """A 1280x720 frame is downscaled (Haar) or letterboxed (BlazeFace) before detection: the boxes
    written must be mapped back to where the face was pasted."""
    frame = np.full((720, 1280, 3), 100, np.uint8)
    frame[80:680, 700:1212] = cv2.imread(str(SAMPLES / "grace_hopper.jpg"))
    cv2.imwrite(str(tmp_path / "scene.png"), frame)
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(tmp_path / "scene.png"), "--detector", kind, "--jsonl", str(out)]) == 0
    face = FACES["grace_hopper.jpg"]
    truth = Box(face.x + 700, face.y + 80, face.w, face.h)
    boxes = [Box(*f["box"]) for f in records_of(out)[0]["faces"]]
    assert boxes and max(truth.iou(b) for b in boxes) > 0.6, (truth, boxes)


def test_detect_every_reuses_the_boxes_in_between(tmp_path):
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(DEMO), "--headless", "--jsonl", str(out), "--max-frames", "20",
                      "--detect-every", "10"]) == 0
    boxes = [tuple(f["box"]) for r in records_of(out) for f in r["faces"]]
    assert len(boxes) == 20 and len(set(boxes[:10])) == 1 and len(set(boxes[10:])) == 1
    assert boxes[0] != boxes[10]  # the face grows 6% in 10 frames: the detector ran again


def test_smoothing_flag_reaches_the_tracker(tmp_path):
    """--smoothing 0 keeps tracking (ids) but gives each frame's own probabilities, as --no-smooth does;
    the default smoothing does not."""
    runs = {}
    for name, flags in {"zero": ["--smoothing", "0"], "raw": ["--no-smooth"], "default": []}.items():
        out = tmp_path / f"{name}.jsonl"
        assert edge_main(["--source", str(DEMO), "--headless", "--jsonl", str(out), "--max-frames", "30",
                          "--scan-interval", "0", *flags]) == 0
        runs[name] = [r["faces"][0] for r in records_of(out)]
    probs = {name: np.array([list(f["probs"].values()) for f in faces]) for name, faces in runs.items()}
    np.testing.assert_allclose(probs["zero"], probs["raw"], atol=1e-6)
    assert np.abs(probs["default"] - probs["raw"]).max() > 0.01
    assert {f["id"] for f in runs["zero"]} == {1}


@pytest.mark.parametrize("photo, label", [("grace_hopper.jpg", "neutral"), ("astronaut.png", "happy")])
def test_python_api_on_a_photo(photo, label):
    faces = Recognizer().recognize(first_frame(SAMPLES / photo), still=True)
    assert len(faces) == 1
    face = faces[0]
    assert face.label == label and face.probabilities[label] > 0.5 and FACES[photo].iou(face.box) > 0.75
    assert face.label == max(face.probabilities, key=face.probabilities.get)


def test_no_smoothing_gives_raw_probabilities():
    """Without smoothing each frame's probabilities are the classifier's own for that frame's crop;
    with it, the second photo's are blended with the first's."""
    frames = [first_frame(SAMPLES / name) for name in ("grace_hopper.jpg", "grace_hopper.jpg")]
    frames[1] = cv2.flip(frames[1], 1)  # the same face (same box, so the same track), other pixels
    raw, smoothed = Recognizer(RecognizerOptions(smooth=False)), Recognizer()
    own = [Recognizer(RecognizerOptions(smooth=False)).recognize(f)[0].prediction.vector for f in frames]
    got = [raw.recognize(f)[0] for f in frames]
    np.testing.assert_allclose([f.prediction.vector for f in got], own, atol=1e-6)
    assert [f.id for f in got] == [0, 0]
    smooth = [smoothed.recognize(f)[0] for f in frames]
    assert smooth[1].id == smooth[0].id == 1
    assert np.abs(smooth[1].prediction.vector - own[1]).max() > 1e-3  # blended with frame 1


class EndlessSource(FrameSource):
    """A source that never ends; at `stop_at` it delivers a signal or a Ctrl-C."""

    def __init__(self, stop_at, how):
        super().__init__()
        self.stop_at, self.how, self.closed = stop_at, how, False
        self.frame = first_frame(SAMPLES / "grace_hopper.jpg")

    def frames(self):
        while True:
            if self.stats.frames == self.stop_at:
                if self.how == "SIGTERM":
                    os.kill(os.getpid(), signal.SIGTERM)
                else:
                    raise KeyboardInterrupt
            self.stats.frames += 1
            yield self.frame

    def close(self):
        self.closed = True


@pytest.mark.parametrize("how, stopped_by", [("SIGTERM", "SIGTERM"), ("ctrl-c", "Ctrl-C")])
def test_shutdown_finalizes_outputs(tmp_path, how, stopped_by, tiny_tflite):
    # up to 6 frames are in flight ahead of the pipeline (read, queued, being detected), so a signal at
    # frame 12 comes after the pipeline took some
    source, out = EndlessSource(stop_at=12, how=how), tmp_path / "events.jsonl"
    summary = run(Recognizer(RecognizerOptions(model=ModelOptions(path=tiny_tflite["int8"]))), source,
                  [JsonlSink(str(out))], RunOptions(report_every=0))
    assert summary.stopped_by == stopped_by and source.closed
    lines = out.read_text().splitlines()  # the signal comes from the capture thread, which reads ahead
    assert 1 <= len(lines) == summary.frames <= 12
    assert [json.loads(line)["frame"] for line in lines] == list(range(len(lines)))
    assert not list(tmp_path.glob(".*tmp*"))


def test_stage_timer_memory_is_bounded():
    from edge.timing import StageTimer

    timer = StageTimer(window=100)
    for i in range(1000):
        timer.add("detect", float(i))
    assert len(timer.samples["detect"]) == 100 and timer.summary()["detect"]["p50"] == pytest.approx(949.5)


def test_info_prints_the_metadata(capsys):
    assert edge_main(["info", str(default_model())]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["variant"] == "int8" and info["labels"][3] == "happy" and info["interpreter"]


def test_bench_prints_a_table_and_json(tmp_path, tiny_tflite, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "--models", str(tiny_tflite["int8"]), "--threads", "1", "2", "--runs", "20",
            "--video", str(DEMO), "--max-frames", "30", "--json", str(out)]
    assert edge_main(argv) == 0
    figures = json.loads(out.read_text())
    assert [r["threads"] for r in figures["invoke"]] == [1, 2] and figures["invoke"][0]["p50_ms"] > 0
    assert figures["pipeline"][0]["frames"] == 30 and figures["pipeline"][0]["peak_rss_mb"] > 0
    assert [r["detector"] for r in figures["detectors"]] == ["blazeface", "blazeface-full", "haar"]
    assert all(r["frames"] == 30 and r["faces_per_frame"] >= 0.9 and r["p50_ms"] > 0 for r in figures["detectors"])
    assert "| p50 ms |" in capsys.readouterr().out.replace("| p50 ms | p90", "| p50 ms |")


def test_bench_and_run_with_flip(tmp_path, tiny_tflite, capsys):
    out = tmp_path / "bench.json"
    assert edge_main(["bench", "--models", str(tiny_tflite["int8"]), "--threads", "1", "--runs", "5", "--flip",
                      "--json", str(out)]) == 0
    assert json.loads(out.read_text())["invoke"][0]["flip"] is True and "int8 + flip" in capsys.readouterr().out
    frames = tmp_path / "frames.jsonl"
    assert edge_main(["--model", str(tiny_tflite["int8"]), "--source", str(SAMPLES / "grace_hopper.jpg"),
                      "--headless", "--quiet", "--flip", "--no-smooth", "--jsonl", str(frames)]) == 0
    assert len(json.loads(frames.read_text().splitlines()[0])["faces"]) == 1
    assert Recognizer(RecognizerOptions(model=ModelOptions(path=tiny_tflite["int8"], flip=True))).classifier.flip


@pytest.mark.parametrize("argv, message", [
    (["--model", "/no/such.tflite", "--source", str(DEMO)], "no such model file"),
    (["--model", str(SAMPLES / "grace_hopper.jpg"), "--source", str(DEMO)], "not a TFLite model"),
    (["--source", "/no/such/clip.mp4", "--headless"], "no such file, folder or camera"),
    (["--source", str(DEMO), "--headless", "--jsonl", "/no/such/dir/x.jsonl"], "cannot write"),
    (["--source", str(DEMO), "--headless", "--save", "/no/such/dir/x.mp4"], "cannot write"),
    (["--source", str(DEMO), "--threads", "0"], "threads"),
    (["info", "/no/such.tflite"], "no such model file"),
    (["--source", str(DEMO), "--headless", "--token", "x"], "--token only applies to --serve"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert edge_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.skipif(opencv_has_gui(), reason="this OpenCV can open windows")
def test_a_camera_that_cannot_open_is_our_one_line_without_opencvs_warnings():
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    run_ = subprocess.run([sys.executable, "-m", "edge", "--source", "7", "--headless"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)
    assert run_.returncode == 2 and "WARN" not in run_.stderr, run_.stderr
    assert run_.stderr.strip().splitlines()[-1].startswith("fer-edge: error: cannot open camera 7")


def test_display_with_headless_opencv_says_what_to_install(capsys):
    assert edge_main(["--source", str(SAMPLES / "grace_hopper.jpg"), "--display"]) == 2
    assert "pip install opencv-python" in capsys.readouterr().err


def test_the_edge_runtime_never_imports_tensorflow():
    code = "import edge.cli, edge.pipeline, edge.bench, edge.classify\nedge.pipeline.Recognizer()"
    assert heavy_modules_after(code) == []


def test_an_output_that_cannot_open_leaves_nothing_behind(tmp_path, capsys):
    out = tmp_path / "faces.jsonl"
    argv = ["--source", str(SAMPLES / "grace_hopper.jpg"), "--headless", "--jsonl", str(out),
            "--save", str(tmp_path / "no" / "such" / "out.mp4")]
    assert edge_main(argv) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "the JSONL temp file is removed when a later output fails"


def bare_tflite(tmp_path, input_shape, outputs):
    """A metadata-free .tflite of a tiny Keras model (TensorFlow is the converter here, as in fer-convert)."""
    import keras
    import tensorflow as tf

    inputs = keras.Input(shape=input_shape)
    flat = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    model = keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax")(flat))
    path = tmp_path / f"bare_{outputs}.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def test_a_bare_seven_output_image_model_runs_and_says_which_labels_it_assumed(tmp_path, capsys, caplog):
    model = bare_tflite(tmp_path, (48, 48, 1), 7)
    capsys.readouterr()  # the converter's own output
    assert edge_main(["info", str(model)]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == list(FER2013_LABELS)
    assert "labels angry, disgust, fear, happy, sad, surprise, neutral in that order" in caplog.text


@pytest.mark.parametrize("input_shape, outputs, message", [
    ((10,), 3, "not an image model"),
    ((48, 48, 1), 5, "5 outputs and no fer-edge metadata"),
])
def test_a_bare_model_that_is_not_fer2013_is_refused_in_one_line(tmp_path, capsys, input_shape, outputs, message):
    model = bare_tflite(tmp_path, input_shape, outputs)
    capsys.readouterr()  # the converter's own output
    for argv in (["info", str(model)], ["--model", str(model), "--source", str(DEMO), "--headless"]):
        assert edge_main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_profiles_pick_the_shipped_models(capsys):
    assert ModelOptions().resolved_path == default_model()
    assert ModelOptions(profile="accurate").resolved_path == default_model().with_name("fer_accurate_int8.tflite")
    with pytest.raises(ValueError, match="unknown profile 'best' \\(choose from fast, accurate\\)"):
        ModelOptions(profile="best")
    argv = ["--source", str(SAMPLES / "demo.mp4"), "--headless", "--max-frames", "2"]
    assert edge_main([*argv, "--profile", "accurate"]) == 0
    assert "model fer_accurate_int8.tflite;" in capsys.readouterr().err
    assert edge_main([*argv, "--profile", "accurate", "--model", str(default_model())]) == 2
    assert "give a model file or --profile accurate, not both" in capsys.readouterr().err


def test_the_accurate_model_lists_its_members():
    from edge.model_file import read_info

    info = read_info(default_model().with_name("fer_accurate_int8.tflite"))
    assert info is not None and info.variant == "int8" and info.labels == read_info(default_model()).labels
    members = info.training["ensemble"]
    assert [m["training"]["run"] for m in members] == ["w24_swa01", "swa01_long72"]
    assert [m["architecture"] for m in members] == ["vgg_w24", "compact_w16"]


def test_the_summary_and_the_bench_name_the_model(capsys):
    assert edge_main(["--source", str(SAMPLES / "demo.mp4"), "--headless", "--max-frames", "3"]) == 0
    assert "detector blazeface; model fer_compact_int8.tflite;" in capsys.readouterr().err
    assert edge_main(["bench", "--profiles", "fast", "--threads", "1", "--warmup", "1", "--runs", "3"]) == 0
    table = capsys.readouterr().out
    assert "| fer_compact_int8.tflite | int8 |" in table and "float32" not in table
    assert edge_main(["bench", "--profiles", "fast", "--models", str(default_model())]) == 2


def test_fer_eval_without_a_model_scores_the_profiles_shipped_model(tiny_kaggle, tmp_path, capsys):
    from train.cli import eval_main

    out = tmp_path / "eval.json"
    assert eval_main([str(tiny_kaggle), "--profile", "fast", "--json", str(out)]) == 0
    assert f"model: {default_model()} (the fast profile)" in capsys.readouterr().out
    assert json.loads(out.read_text())["model"] == str(default_model())


def test_opencv_is_told_to_log_errors_only():
    import cv2

    from edge.cli import quiet_opencv

    opencv_logging = cv2.utils.logging
    before = opencv_logging.getLogLevel()
    opencv_logging.setLogLevel(opencv_logging.LOG_LEVEL_WARNING)
    try:
        quiet_opencv()
        assert opencv_logging.getLogLevel() == opencv_logging.LOG_LEVEL_ERROR
    finally:
        opencv_logging.setLogLevel(before)
